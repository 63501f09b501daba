"""Roles, scope and user provisioning (`manage.py cad_user`)."""

import io

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command

from cad.accounts.roles import ROLE_PERMISSIONS, ROLES, user_bcu_code
from cad.models import AuditEvent


@pytest.mark.django_db
def test_every_role_exists_with_its_permissions():
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLES)
    for role, grants in ROLE_PERMISSIONS.items():
        held = set(
            Group.objects.get(name=role).permissions.values_list(
                "content_type__app_label", "codename"
            )
        )
        wanted = {(app, f"{a}_{model}") for app, model, actions in grants for a in actions}
        assert held == wanted, role


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "perm", "allowed"),
    [
        ("call_handler", "incidents.add_incident", True),
        ("call_handler", "incidents.change_incident", False),
        ("call_handler", "incidents.change_incidenttype", False),
        ("despatcher", "resources.add_assignment", True),
        ("despatcher", "duties.change_shift", False),
        ("supervisor", "duties.add_shiftassignment", True),
        ("admin", "incidents.change_incidenttype", True),
        ("admin", "resources.add_unit", True),
        ("radio_gateway", "radio.add_radiomessage", True),
        ("radio_gateway", "incidents.view_incident", False),
    ],
)
def test_role_permissions(make_user, role, perm, allowed):
    user = make_user(role)
    assert user.has_perm(perm) is allowed


@pytest.mark.django_db
def test_reference_data_admin_is_for_admins_only(client, make_user):
    for role in ("call_handler", "despatcher", "supervisor"):
        client.force_login(make_user(role))
        response = client.get("/admin/incidents/incidenttype/")
        assert response.status_code == 302 and "/admin/login/" in response["Location"], role
    client.force_login(make_user("admin"))
    assert client.get("/admin/incidents/incidenttype/").status_code == 200
    assert client.get("/admin/incidents/incidenttype/add/").status_code == 200


@pytest.mark.django_db
def test_admin_change_is_audited(client, make_user):
    admin = make_user("admin")
    client.force_login(admin)
    response = client.post(
        "/admin/resources/skill/add/", {"code": "TASER", "name": "Taser trained"}
    )
    assert response.status_code == 302
    row = AuditEvent.objects.get(object_type="resources.skill")
    assert (row.user, row.action, row.changes["code"][1]) == (admin, "create", "TASER")


@pytest.mark.django_db
def test_cad_user_creates_then_updates(geography, monkeypatch):
    monkeypatch.setenv("CAD_USER_PASSWORD", "first-Pass-123")
    out = io.StringIO()
    call_command("cad_user", "alice", "--role", "despatcher", "--bcu", "cn", stdout=out)
    alice = User.objects.get(username="alice")
    assert "created alice" in out.getvalue()
    assert list(alice.groups.values_list("name", flat=True)) == ["despatcher"]
    assert user_bcu_code(alice) == "CN"
    assert alice.check_password("first-Pass-123") and not alice.is_staff

    monkeypatch.setenv("CAD_USER_PASSWORD", "second-Pass-456")
    call_command("cad_user", "alice", "--role", "admin", stdout=out)
    alice = User.objects.get(username="alice")
    assert list(alice.groups.values_list("name", flat=True)) == ["admin"]
    assert user_bcu_code(alice) is None
    assert alice.check_password("second-Pass-456") and alice.is_staff
    assert User.objects.filter(username="alice").count() == 1
    actions = list(
        AuditEvent.objects.filter(object_type="auth.user", object_id=str(alice.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["create", "update"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bob", "--role", "despatcher", "--bcu", "ZZ"], "unknown BCU"),
        (["bob", "--role", "despatcher"], "CAD_USER_PASSWORD"),
    ],
)
def test_cad_user_refuses_bad_input(geography, monkeypatch, args, message):
    monkeypatch.setattr("sys.stdin", io.StringIO())  # no terminal to prompt on
    if "ZZ" in args:
        monkeypatch.setenv("CAD_USER_PASSWORD", "x-Pass-12345")
    else:
        monkeypatch.delenv("CAD_USER_PASSWORD", raising=False)
    with pytest.raises(CommandError, match=message):
        call_command("cad_user", *args)
    assert not User.objects.filter(username="bob").exists()
