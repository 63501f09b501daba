"""Scripted training scenarios (radio/training.py): checked files, timed steps, real services,
and never on a live instance."""

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from incidents.models import Call, Incident
from radio.models import RadioMessage
from radio.training import ScenarioError, scenario_load, scenario_run, seconds_of
from resources.models import Unit
from tests.factories import make_incident_type, make_unit

SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "training" / "camden-saturday-night.yaml"
pytestmark = pytest.mark.django_db


@pytest.fixture
def trainer_world(geography, cast):
    make_incident_type("VIOL", default_grade="I")
    make_incident_type("ASB1")
    make_unit(geography["kentish"], callsign="CN01")
    return cast.supervisor_all


class FakeClock:
    """Time that moves only when the runner sleeps: the waits it asked for, in order."""

    def __init__(self):
        self.now, self.waits = 100.0, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(round(seconds, 3))
        self.now += seconds


@override_settings(TRAINING=True)
def test_the_sample_scenario_plays_in_time_through_the_services(trainer_world):
    clock = FakeClock()
    made = scenario_run(scenario_load(SAMPLE), by=trainer_world, speed=2, sleep=clock.sleep,
                        clock=clock)  # fmt: skip
    # 0, 1:30, 3:00, 4:00 at twice real speed: waits of 45, 45 and 30 seconds.
    assert clock.waits == [45.0, 45.0, 30.0]
    fight = Incident.objects.get(pk=made["fight"].pk)
    assert fight.grade == "I" and fight.summary.startswith("Two men fighting")
    assert Call.objects.filter(incident=fight).count() == 2  # the first call and the witness
    assert Incident.objects.count() == 2
    text = RadioMessage.objects.get(direction="in", kind="text")
    # Stored as from CN01's radio; applying it is the radio pipeline's, after commit.
    assert text.issi == Unit.objects.get(callsign="CN01").issi and "Camden Lock" in text.text
    assert text.by == trainer_world


def test_a_live_instance_refuses_to_run_a_scenario(trainer_world):
    with pytest.raises(ScenarioError, match="training instance"):
        scenario_run(scenario_load(SAMPLE), by=trainer_world, sleep=lambda s: None)
    assert not Incident.objects.exists()
    with pytest.raises(CommandError, match="training instance"):
        call_command("training_scenario", str(SAMPLE), "--by", trainer_world.username)


def test_a_bad_file_names_each_fault(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "steps": [{"at": "soon", "incident": {"key": "a"}},'
                   ' {"at": 5, "call": {"incident": "nope", "caller": {"name": "A",'
                   ' "phone": "1"}}}]}')  # fmt: skip
    with pytest.raises(ScenarioError) as caught:
        scenario_load(bad)
    text = "\n".join(caught.value.problems)
    assert "steps/0/at" in text and "steps/0/incident" in text and "'type' is a required" in text
    good_steps = tmp_path / "calls.json"
    good_steps.write_text('{"name": "x", "steps": [{"at": 5, "call": {"incident": "nope",'
                          ' "caller": {"name": "A", "phone": "1"}}}]}')  # fmt: skip
    with pytest.raises(ScenarioError, match="steps/0/call/incident: no earlier incident"):
        scenario_load(good_steps)
    (tmp_path / "broken.yaml").write_text("name: [unclosed")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        scenario_load(tmp_path / "broken.yaml")


@override_settings(TRAINING=True)
def test_a_step_the_services_refuse_stops_the_run_with_its_reason(trainer_world, tmp_path):
    scenario = tmp_path / "unknown-type.yaml"
    scenario.write_text(
        "name: x\nsteps:\n  - at: 0\n    incident: {key: a, type: NOPE, lat: 51.54, lon: -0.14,"
        " address: here, summary: s, caller: {name: A, phone: '1'}}\n"
    )
    with pytest.raises(ScenarioError, match="steps/0"):
        scenario_run(scenario_load(scenario), by=trainer_world, sleep=lambda s: None)
    assert not Incident.objects.exists()


def test_moments_read_as_seconds():
    assert seconds_of(90) == seconds_of("1:30") == seconds_of("00:01:30") == 90.0


def test_the_command_checks_a_file(capsys):
    call_command("training_scenario", str(SAMPLE), "--check")
    assert "Camden, Saturday night: 4 steps, valid" in capsys.readouterr().out
