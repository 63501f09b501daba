"""`cad_user <name> --role officer --collar N` links the account to that roster officer."""

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from cad.accounts.roles import user_roles
from cad.models import AuditEvent
from duties.models import Officer
from duties.tests.conftest import make_officer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def password(monkeypatch):
    monkeypatch.setenv("CAD_USER_PASSWORD", "first-Pass-123")


def test_collar_links_the_account_and_is_audited(geography):
    officer = make_officer(geography["CN"])
    out = StringIO()
    call_command("cad_user", "pc1", "--role", "officer", "--collar", officer.collar_number,
                 stdout=out)  # fmt: skip
    user = User.objects.get(username="pc1")
    assert user_roles(user) == {"officer"}
    assert Officer.objects.get(pk=officer.pk).user == user
    assert f"linked to {officer}" in out.getvalue()
    assert AuditEvent.objects.filter(object_type="duties.officer", object_id=str(officer.pk),
                                     source="cli").exists()  # fmt: skip


def test_relinking_moves_the_account_to_the_new_officer(geography):
    first, second = make_officer(geography["CN"]), make_officer(geography["CN"], last="Two")
    call_command("cad_user", "pc1", "--role", "officer", "--collar", first.collar_number,
                 stdout=StringIO())  # fmt: skip
    call_command("cad_user", "pc1", "--role", "officer", "--collar", second.collar_number,
                 "--no-password", stdout=StringIO())  # fmt: skip
    assert Officer.objects.get(pk=first.pk).user is None
    assert Officer.objects.get(pk=second.pk).user.username == "pc1"


def test_unknown_collar_creates_nothing(geography):
    with pytest.raises(CommandError, match="no officer with collar number"):
        call_command("cad_user", "pc1", "--role", "officer", "--collar", "NOPE",
                     stdout=StringIO())  # fmt: skip
    assert not User.objects.filter(username="pc1").exists()


def test_collar_needs_the_officer_role(geography):
    officer = make_officer(geography["CN"])
    with pytest.raises(CommandError, match="--role officer"):
        call_command("cad_user", "d1", "--role", "despatcher", "--collar", officer.collar_number,
                     stdout=StringIO())  # fmt: skip
    assert Officer.objects.get(pk=officer.pk).user is None
