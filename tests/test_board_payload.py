"""The board payload built from a just-created incident is the one the database gives back."""

from incidents.events import incident_board_payload
from incidents.models import Incident
from tests.factories import make_incident


def test_fresh_payload_matches_the_stored_row(make_user, geography):
    incident = make_incident(make_user("call_handler"), where="lambeth", summary="fight", grade="I")
    built = incident_board_payload(incident, fresh=True)
    stored = incident_board_payload(Incident.objects.get(pk=incident.pk))
    assert built == stored
    assert stored["location"]["bcu"] == "AS" and stored["type"] == "ASB1"
