"""The same small world in a live or a training database (tests/test_training.py).

Run in-process for the live database, and in a subprocess with TRAINING=1 for the training
one (that process's settings point it at the training database): a despatcher with an API token
and a signed-in session, a unit and the incident type the test takes calls for.
"""

from django.conf import settings
from django.test import Client
from knox.models import AuthToken

from cad.accounts.roles import apply_role_permissions
from cad.accounts.services import user_provision
from cad.models import EventCounter
from tests.factories import make_geography, make_incident_type, make_unit


def build() -> dict:
    apply_role_permissions()
    EventCounter.objects.get_or_create(id=1)
    geography = make_geography()
    make_incident_type("ASB1")
    make_unit(geography["kentish"], callsign="CN01")
    desk, _ = user_provision(username="desk", role="despatcher", bcu_code=None,
                             password="a-Strong-pass-42", source="test")  # fmt: skip
    _, token = AuthToken.objects.create(user=desk)
    client = Client()
    client.force_login(desk)
    return {"token": token, "session": client.cookies[settings.SESSION_COOKIE_NAME].value}
