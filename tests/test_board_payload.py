"""The board payload built from a just-created incident is the one the database gives back."""

from incidents.events import incident_board_payload
from incidents.models import Incident
from resources.tests.factories_board import new_incident


def test_fresh_payload_matches_the_stored_row(make_user, geography):
    incident = new_incident(make_user("call_handler"), where="lambeth", summary="fight")
    built = incident_board_payload(incident, fresh=True)
    stored = incident_board_payload(Incident.objects.get(pk=incident.pk))
    assert built == stored
    assert stored["location"]["bcu"] == "AS" and stored["type"] == "ASB1"
