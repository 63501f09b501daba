"""Events are a contract (docs/events.md): every type is a named constant in its app's
`events.py`, built and emitted only there, and listed in docs/events.md with its payload.

- the constants and the page agree, both ways;
- `event_emit`, `events_emit`, `event_notify` and `EventSpec` are called only in an app's
  `events.py` (and the plumbing itself, cad/live/events.py), always with a type constant of
  that module, never a string literal;
- no other module writes a type's string;
- a run through every emitter emits exactly the documented types, each with the documented
  payload fields.
"""

import ast
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from cad.live import events as live_events
from incidents.models import ClosingCode
from incidents.operations.services import (
    major_incident_declare,
    major_incident_stand_down,
    operation_create,
)
from incidents.public.services import (
    ReportInput,
    online_report_create,
    online_report_triage,
    online_reports_alert_overdue,
)
from incidents.services import incident_close, incident_regrade, incident_reopen
from incidents.tests.test_major_incident import METHANE
from radio import services as radio_services
from radio.models import RadioMessage
from resources.despatch import assignment_create
from resources.partners import services as partner_services
from resources.partners.models import PartnerAgency
from resources.recommend.services import recommendation_refresh
from resources.services import unit_raise_emergency, unit_set_position
from tests.factories import make_incident, make_unit
from tests.test_architecture import APPS, ROOT, rel, source_files

DOC = ROOT / "docs" / "events.md"
EMITTERS = {"event_emit", "events_emit", "event_notify", "EventSpec"}
PLUMBING = "cad/live/events.py"
TYPE_SHAPE = re.compile(r"^[a-z]+(\.[a-z_]+)+$")


def event_modules() -> list[Path]:
    return [ROOT / app / "events.py" for app in APPS if (ROOT / app / "events.py").exists()]


def type_constants(path: Path) -> dict[str, str]:
    """{NAME: "type"} of a module's upper-case string constants shaped like an event type."""
    constants = {}
    for node in ast.parse(path.read_text()).body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id.isupper()
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
            and TYPE_SHAPE.match(node.value.value)
        ):
            constants[node.targets[0].id] = node.value.value
    return constants


def code_types() -> dict[str, str]:
    """{type: "app.NAME"} over every app's events.py."""
    found: dict[str, str] = {}
    for path in event_modules():
        for name, value in type_constants(path).items():
            assert value not in found, f"{value} is defined twice: {found[value]} and {name}"
            found[value] = f"{path.parent.name}.{name}"
    return found


def documented() -> dict[str, set[str]]:
    """{type: payload fields} from docs/events.md's tables."""
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not re.fullmatch(r"`[a-z_.]+`", cells[0]):
            continue
        rows[cells[0].strip("`")] = cells[1]
    fields = {}
    for type_, cell in rows.items():
        same = re.fullmatch(r"as `([a-z_.]+)`", cell)
        cell = rows[same.group(1)] if same else cell
        fields[type_] = set(re.findall(r"`([a-z_]+)`", cell))
    return fields


def test_every_type_in_the_code_is_documented_and_every_documented_type_exists():
    in_code, in_doc = set(code_types()), set(documented())
    assert in_code - in_doc == set(), "emitted but not in docs/events.md"
    assert in_doc - in_code == set(), "in docs/events.md but no constant in any events.py"
    assert {"incident.created", "unit.updated", "assignment.created"} <= in_code


def emitter_calls(tree: ast.AST) -> list[ast.Call]:
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in EMITTERS:
                calls.append(node)
    return calls


def type_argument(call: ast.Call) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == "type":
            return keyword.value
    return call.args[0] if call.args else None


def test_types_and_payloads_are_built_only_in_events_modules():
    outside = []
    for path in source_files():
        name = rel(path)
        if name == PLUMBING or path.name == "events.py":
            continue
        outside += [f"{name}:{c.lineno}" for c in emitter_calls(ast.parse(path.read_text()))]
    assert outside == [], "emit through the app's events.py:\n" + "\n".join(outside)


def test_events_modules_emit_their_own_constants_not_literals():
    wrong = []
    for path in event_modules():
        constants = type_constants(path)
        for call in emitter_calls(ast.parse(path.read_text())):
            if getattr(call.func, "id", "") == "events_emit":
                continue  # takes EventSpecs, checked themselves
            arg = type_argument(call)
            if not (isinstance(arg, ast.Name) and arg.id in constants):
                wrong.append(f"{rel(path)}:{call.lineno} {ast.unparse(arg) if arg else '?'}")
    assert wrong == [], "pass a type constant of the module:\n" + "\n".join(wrong)


def test_no_other_module_writes_a_type_string():
    types = set(code_types())
    found = []
    for path in source_files():
        if path.name == "events.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in types:
                found.append(f"{rel(path)}:{node.lineno} {node.value!r}")
    assert found == [], "use the constant from the emitting app's events.py:\n" + "\n".join(found)


def test_the_static_checks_catch_a_literal_type():
    tree = ast.parse(
        'event_emit(type="incident.updated", data={}, bcus=[])\nEventSpec(KIND, {}, [])'
    )
    calls = emitter_calls(tree)
    assert [type(type_argument(c)).__name__ for c in calls] == ["Constant", "Name"]


# --- every emitter, run once ----------------------------------------------------------------


@pytest.fixture
def emitted(monkeypatch):
    """Every event and reaction event, as (type, data), in order: both pass through the
    after-commit reaction hook, which sees the type and the payload."""
    seen: list[tuple[str, dict]] = []
    real = live_events._react_after_commit

    def record(type_, data):
        seen.append((type_, data))
        real(type_, data)

    monkeypatch.setattr(live_events, "_react_after_commit", record)
    return seen


def test_every_emitter_sends_a_documented_type_with_the_documented_fields(
    emitted, geography, make_user, settings
):
    settings.RADIO_DELIVERY_ALERT_SECONDS = 60
    desk = make_user("despatcher", username="dora")
    ClosingCode.objects.create(code="NFA", name="No further action")
    unit = make_unit(geography["kentish"], callsign="CN01")
    incident = make_incident(desk, grade="I", summary="fight outside pub")
    assignment = assignment_create(incident=incident, unit=unit, by=desk, source="test")
    unit_set_position(unit=unit, lat=51.546, lon=-0.161, source="test")
    incident_regrade(incident=incident, by=desk, grade="S", reason="calmer", source="test")
    unit_raise_emergency(unit=unit, source="test", by=desk)
    message = radio_services.despatch_message_queue(assignment=assignment, by=desk)
    RadioMessage.objects.filter(pk=message.pk).update(
        received_at=timezone.now() - timedelta(seconds=61)
    )
    assert radio_services.radio_message_alert(message_id=message.pk)
    partner = PartnerAgency.objects.create(code="LFB", name="Fire", kind="fire",
                                           agency_id="lfb.example")  # fmt: skip
    share = partner_services.incident_share(incident=incident, partner=partner, by=desk)
    assert partner_services.partner_delivery_alert(delivery_id=share.deliveries.get().pk)
    other = make_incident(desk, grade="I", summary="fight outside pub")
    assert recommendation_refresh(incident_id=other.pk, trigger="test", force_event=True)
    incident_close(incident=incident, by=desk, closing_code="NFA")
    incident_reopen(incident=incident, by=desk, reason="more to do")
    operation_create(by=desk, name="Match", starts_at=timezone.now(), bcu_code="CN",
                     ends_at=timezone.now() + timedelta(hours=2), lat=51.5, lon=-0.1)  # fmt: skip
    major = major_incident_declare(incident=other, by=desk, methane=METHANE, source="test")
    major_incident_stand_down(major=major, by=desk, reason="cleared", source="test")
    # The public's side (issue 15): a report, its overdue alert, its triage.
    report, _ = online_report_create(data=ReportInput(
        category="seen_heard", description="a van every night", lat=51.546, lon=-0.161,
        reporter_name="Pat"))  # fmt: skip
    assert online_reports_alert_overdue(now=timezone.now() + timedelta(days=1)) == 1
    online_report_triage(report=report, by=desk, decision="close", reason="no crime")

    fields = documented()
    assert {t for t, _ in emitted} == set(fields), "run every documented type once"
    for type_, data in emitted:
        assert set(data) == fields[type_], type_
