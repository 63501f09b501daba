"""The demand simulator writes into the training database only (docs/simulation.md): run as
a training process beside a live test database on the same PostgreSQL, the day lands in the
training database and the live one is left exactly as it was."""

import json

import pytest

from cad.models import Event
from duties.models import SimulationRun
from incidents.models import Incident
from resources.models import Unit, UnitStatusChange
from tests.factories import make_geography, make_unit
from tests.test_training import _manage, training_database  # noqa: F401  (a fixture)

pytestmark = [pytest.mark.django_db(transaction=True)]

LFB_ROWS = (
    "IncidentNumber,DateOfCall,TimeOfCall,IncidentGroup,StopCodeDescription,"
    "SpecialServiceType,Easting_m,Northing_m,Easting_rounded,Northing_rounded\n"
    "1,2023-06-01,09:00:00,Fire,Primary Fire,,,,529000,184500\n"
    "2,2023-06-01,09:20:00,Fire,Primary Fire,,,,529500,184000\n"
    "3,2023-06-01,13:45:00,Fire,Secondary Fire,,,,528500,184800\n"
)
TYPES = (
    "import django; django.setup(); "
    "from tests.factories import make_incident_type, make_closing_code; "
    "make_incident_type('DAMAGE', default_grade='I'); make_closing_code('NFA')"
)
COUNT = (
    "import django, json; django.setup(); "
    "from incidents.models import Incident; from duties.models import SimulationRun; "
    "print(json.dumps([Incident.objects.count(), "
    "list(SimulationRun.objects.values_list('calls', 'despatched'))]))"
)


def test_a_simulated_day_lands_in_the_training_database_only(training_database, tmp_path):  # noqa: F811
    env = training_database["env"]
    # The live database has a world of its own, with a unit the run must not touch.
    geo = make_geography()
    make_unit(geo["kentish"], callsign="LIVE1")
    live_units = list(Unit.objects.order_by("pk").values())
    live_events = Event.objects.count()
    (tmp_path / "lfb_incidents_2023_sample10k.csv").write_text(LFB_ROWS)
    _manage(env, "-c", TYPES)

    out = _manage(env, "manage.py", "simulate_demand", "--source", "lfb", "--day", "2023-06-01",
                  "--data", str(tmp_path), "--by", "desk")  # fmt: skip

    assert "lfb 2023-06-01: 3 calls, seed 1" in out and "I incidents" in out
    made, runs = json.loads(_manage(env, "-c", COUNT).strip().splitlines()[-1])
    assert made == 3 and runs == [[3, 3]]
    assert not Incident.objects.exists() and not SimulationRun.objects.exists()
    assert list(Unit.objects.order_by("pk").values()) == live_units
    assert not UnitStatusChange.objects.exists()
    assert Event.objects.count() == live_events
