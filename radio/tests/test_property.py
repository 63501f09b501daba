"""Property: any permutation and duplication of a unit's message stream ends in the state its
newest message implies.

Hypothesis generates one unit's stream (status codes, some carrying a GPS fix, bare fixes,
messaging codes 12-16, code 0, texts), each message with its own radio time. The stream is then
delivered as the gateway might: shuffled, with repeats, split into batches, each batch stored
through `radio_messages_receive` and its messages applied in the order they came (a repeat's
apply finds nothing to claim, as a redelivered task would). The result is checked against a
reference model written here, not derived from the code under test: the newest status-setting
message fixes status, `deployable` and `status_at`; the newest message with a fix fixes the
position; any code 0 leaves the emergency raised; each messaging code and text on a job is
logged on the incident exactly once.

Honest streams: the CAD refuses some transitions (resources/services.py), and a refused message
is ignored, so "the newest message implies" is only well defined when every status in the
stream may follow every other. Two worlds have that property:
- off a job: available, unavailable (deployable or not) and off duty all reach each other;
- on a job: en route, at scene and unavailable reach each other without leaving the job
  (available would clear the unit from it, after which en route is refused).

Each example runs inside a savepoint that is rolled back, so examples do not see each other's
unit, messages or log entries (function-scoped fixtures hold only the users and geography).
"""

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from incidents.models import IncidentLogEntry
from radio import services
from radio.models import RadioMessage
from radio.tests.conftest import iso
from resources.despatch import assignment_create
from resources.models import Unit, UnitStatus
from tests.factories import make_incident, make_unit

S = UnitStatus
# The national codes (domain.md), restated here so the model does not read the table under test.
STATUS_OF = {
    1: (S.AVAILABLE, False), 2: (S.AVAILABLE, False), 3: (S.AVAILABLE, False),
    4: (S.UNAVAILABLE, False), 5: (S.EN_ROUTE, False), 6: (S.AT_SCENE, False),
    7: (S.UNAVAILABLE, True), 8: (S.UNAVAILABLE, False), 9: (S.UNAVAILABLE, False),
    10: (S.UNAVAILABLE, False), 11: (S.OFF_DUTY, False),
}  # fmt: skip
MESSAGING = {12: "Request to speak", 13: "Urgent request to speak", 14: "Message received",
             15: "Message acknowledged", 16: "Message for control"}  # fmt: skip
OFF_JOB_CODES = [1, 2, 3, 4, 7, 8, 9, 10, 11]
ON_JOB_CODES = [4, 5, 6, 7, 8, 9, 10]
START_AGO = timedelta(hours=2)  # the unit's last status and fix; every message is newer

EXAMPLES = settings(
    max_examples=int(os.environ.get("RADIO_PROPERTY_EXAMPLES", "30")),
    deadline=None,
    database=None,  # no .hypothesis/ in the checkout; a failure prints its example to replay
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Sent:
    n: int  # position in the stream; also makes ids and texts unique
    kind: str
    ago: int  # seconds before the example's base time; distinct within a stream
    code: int | None = None
    fix: tuple[float, float] | None = None
    text: str = ""

    def body(self, base) -> dict:
        body: dict[str, Any] = {"id": f"prop-{self.n}", "issi": "", "kind": self.kind,
                "sent_at": iso(base - timedelta(seconds=self.ago))}  # fmt: skip
        if self.code is not None:
            body["code"] = self.code
        if self.fix is not None:
            body["lat"], body["lon"] = self.fix
        if self.text:
            body["text"] = self.text
        return body


fixes = st.tuples(
    st.floats(51.40, 51.60).map(lambda x: round(x, 5)),
    st.floats(-0.30, 0.05).map(lambda x: round(x, 5)),
)


def one_message(status_codes: list[int]):
    return st.one_of(
        st.tuples(st.just("status"), st.sampled_from(status_codes), st.none() | fixes),
        st.tuples(st.just("status"), st.sampled_from([0, *MESSAGING]), st.none()),
        st.tuples(st.just("position"), st.none(), fixes),
        st.tuples(st.just("text"), st.none(), st.none()),
    )


@st.composite
def deliveries(draw, status_codes: list[int]):
    """(stream, delivery): the stream with distinct times, then its delivery as batches."""
    parts = draw(st.lists(one_message(status_codes), min_size=1, max_size=8))
    agos = draw(st.lists(st.integers(1, 3600), min_size=len(parts), max_size=len(parts),
                         unique=True))  # fmt: skip
    stream = [
        Sent(n=n, kind=kind, ago=ago, code=code, fix=fix,
             text=f"text {n}" if kind == "text" else "")
        for n, ((kind, code, fix), ago) in enumerate(zip(parts, agos, strict=True))
    ]  # fmt: skip
    order = draw(st.permutations(stream))
    repeats = draw(st.lists(st.sampled_from(stream), max_size=4))
    delivery = list(order)
    for repeat in repeats:  # a repeat lands anywhere, before or after its first copy
        delivery.insert(draw(st.integers(0, len(delivery))), repeat)
    cuts = sorted(draw(st.sets(st.integers(1, len(delivery) - 1), max_size=3))
                  if len(delivery) > 1 else [])  # fmt: skip
    bounds = [0, *cuts, len(delivery)]
    return stream, [delivery[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def deliver(batches: list[list[Sent]], *, unit: Unit, gateway, base) -> None:
    for batch in batches:
        bodies = [{**m.body(base), "issi": unit.issi} for m in batch]
        services.radio_messages_receive(messages=bodies, by=gateway)
        for m in batch:  # each delivery (a repeat too) runs an apply, as its task would
            stored = RadioMessage.objects.get(gateway_id=f"prop-{m.n}")
            services.radio_message_apply(message_id=stored.pk)


def expected(stream: list[Sent], *, status, status_at, position, base) -> dict:
    """The reference model: newest status-setting message, newest fix, any code 0."""
    at = {m.n: base - timedelta(seconds=m.ago) for m in stream}
    setting = [m for m in stream if m.code in STATUS_OF]
    if setting:
        newest = max(setting, key=lambda m: at[m.n])
        # `setting` holds only messages whose code is in STATUS_OF.
        status, status_at = STATUS_OF[newest.code], at[newest.n]  # type: ignore[index]
    with_fix = [m for m in stream if m.fix is not None]
    if with_fix:
        newest = max(with_fix, key=lambda m: at[m.n])
        position = (*newest.fix, at[newest.n])  # type: ignore[misc]  # with_fix: fix is set
    return {
        "status": status,
        "status_at": status_at,
        "position": position,
        "emergency": any(m.code == 0 for m in stream),
        "emergency_at": {at[m.n] for m in stream if m.code == 0},
    }


def start_unit(geography) -> tuple[Unit, object]:
    unit = make_unit(geography["kentish"])
    long_ago = timezone.now() - START_AGO
    Unit.objects.filter(pk=unit.pk).update(status_at=long_ago, position_at=long_ago)
    unit.refresh_from_db()
    return unit, long_ago


def check(unit: Unit, stream: list[Sent], want: dict) -> None:
    unit.refresh_from_db()
    assert (unit.status, unit.deployable) == want["status"]
    assert unit.status_at == want["status_at"]
    assert (unit.lat, unit.lon, unit.position_at) == want["position"]
    assert unit.emergency == want["emergency"]
    if want["emergency"]:
        # Which code 0 stamps the time depends on arrival order (the first one applied raises
        # it; later ones find it active); it is always one of the stream's code 0s.
        assert unit.emergency_at in want["emergency_at"]
    stored = RadioMessage.objects.filter(direction="in", issi=unit.issi)
    assert stored.count() == len(stream)  # every repeat dropped
    assert not stored.filter(state=RadioMessage.State.RECEIVED).exists()  # each one dealt with


# Found by this test: code 7 after code 8 changed `deployable` without stamping the time, so an
# older code 4 applied afterwards undid it (fixed in unit_set_status).
_DEPLOYABLE_CASE = [
    Sent(n=0, kind="status", ago=100, code=8),
    Sent(n=1, kind="status", ago=50, code=7),
    Sent(n=2, kind="status", ago=75, code=4),
]


class Rollback(Exception):
    pass


def in_savepoint(body) -> None:
    try:
        with transaction.atomic():
            body()
            raise Rollback
    except Rollback:
        pass


def test_off_a_job_any_order_and_repeats_end_at_the_newest(geography, cast):
    gateway = cast.gateway

    @EXAMPLES
    @given(deliveries(OFF_JOB_CODES))
    @example((_DEPLOYABLE_CASE, [_DEPLOYABLE_CASE]))
    def run(case):
        stream, batches = case

        def body():
            unit, long_ago = start_unit(geography)
            base = timezone.now().replace(microsecond=0)
            want = expected(
                stream, status=(S.AVAILABLE, False), status_at=long_ago,
                position=(unit.lat, unit.lon, long_ago), base=base,
            )  # fmt: skip
            deliver(batches, unit=unit, gateway=gateway, base=base)
            check(unit, stream, want)

        in_savepoint(body)

    run()


def test_on_a_job_any_order_and_repeats_end_at_the_newest_and_log_once(geography, cast):
    gateway = cast.gateway
    desk = cast.despatcher_all

    @EXAMPLES
    @given(deliveries(ON_JOB_CODES))
    @example((_DEPLOYABLE_CASE, [_DEPLOYABLE_CASE]))
    def run(case):
        stream, batches = case

        def body():
            unit, long_ago = start_unit(geography)
            incident = make_incident(desk, grade="I", summary="fight outside pub")
            assignment_create(incident=incident, unit=unit, by=desk, source="test",
                              at=long_ago + timedelta(minutes=1))  # fmt: skip
            unit.refresh_from_db()
            base = timezone.now().replace(microsecond=0)
            want = expected(
                stream, status=(S.ASSIGNED, False), status_at=unit.status_at,
                position=(unit.lat, unit.lon, long_ago), base=base,
            )  # fmt: skip
            deliver(batches, unit=unit, gateway=gateway, base=base)
            check(unit, stream, want)
            log = list(IncidentLogEntry.objects.filter(incident=incident).values_list("text"))
            texts = [t for (t,) in log]
            for m in stream:
                if m.kind == "text":
                    line = f"Radio text from {unit.callsign}: {m.text}"
                    assert texts.count(line) == 1, line
            for code, description in MESSAGING.items():
                sent = sum(1 for m in stream if m.code == code)
                line = f"Radio from {unit.callsign}: {description}"
                assert texts.count(line) == sent, line
            raised = sum(1 for t in texts if t.startswith(f"EMERGENCY raised by {unit.callsign}"))
            assert raised == (1 if want["emergency"] else 0)

        in_savepoint(body)

    run()
