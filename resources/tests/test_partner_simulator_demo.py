"""The partner simulator as the demo runs it (issue 18): `seed_demo`'s partner agencies point at
a real `manage.py partner_simulator` process, which signs in with the demo account's password
like another CAD would. Sharing an incident gets the document acknowledged (the delivery shows
it) and, shortly after, the simulated service's own note arrives in the incident log.

A real process and a real server (pytest-django's live_server), so what `make run` wires up —
the command line, the sign-in at /api/v1/auth/token/, the HTTP both ways — is what is tested.
"""

import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path

import pytest
from django.utils import timezone

from cad.accounts.roles import PARTNER_AGENCY
from cad.accounts.services import user_provision
from cad.management.commands.seed_demo import DEMO_PARTNERS, Seed, seed_partners
from incidents.models import IncidentLogEntry
from resources.partners import tasks
from resources.partners.models import PartnerAgency, PartnerDelivery
from tests.factories import make_incident, make_incident_type

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "partner-Demo-pass-18"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(predicate, *, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.1)
    pytest.fail(f"timed out after {seconds} s waiting for {what}")


@pytest.fixture
def one_connection_at_a_time(live_server, monkeypatch):
    """A lock held by each request the live server handles and by the test's own use of the
    database, so that only one of them uses it at a time.

    On SQLite's in-memory test database the live server's threads share this thread's one
    connection (Django passes it to them). SQLite refuses to open or release a savepoint while
    a write statement is still active on the connection ("cannot release savepoint - SQL
    statements in progress"), such as another thread's INSERT … RETURNING between its execute
    and its fetch, and the request that met it answered 503. PostgreSQL gives each thread its
    own connection, so there nothing is serialized. (The simulator answers a delivery without
    calling back, so a request holding the lock never waits for another.)
    """
    if not live_server.thread.connections_override:
        return nullcontext()
    lock = threading.Lock()
    httpd = live_server.thread.httpd
    serve = httpd.process_request_thread

    def serve_holding_the_lock(request, client_address):
        with lock:
            serve(request, client_address)

    # ThreadingMixIn looks the method up on the server for each request it starts.
    monkeypatch.setattr(httpd, "process_request_thread", serve_holding_the_lock)
    return lock


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


@pytest.fixture
def simulator(transactional_db, live_server, monkeypatch):
    """The demo's partners (seed_demo's part), and a simulator process playing LAS."""
    port = _free_port()
    monkeypatch.setenv("PARTNER_SIM_PORT", str(port))
    for username in ("las_cad", "lfb_cad"):
        user_provision(username=username, role=PARTNER_AGENCY, bcu_code=None, password=PASSWORD,
                       source="test")  # fmt: skip
    seed_partners(Seed(now=timezone.now()))
    process = subprocess.Popen(  # noqa: S603 (our own command)
        [sys.executable, "manage.py", "partner_simulator", "--port", str(port),
         "--agency", "las.sim.example", "--name", "LAS (simulated)", "--kind", "ems",
         "--username", "las_cad", "--beacon", live_server.url, "--reply-delay", "0.5"],
        cwd=ROOT, env={**os.environ, "PARTNER_SIMULATOR_PASSWORD": PASSWORD},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_for(lambda: _listening(port) or process.poll() is not None, seconds=30,
                  what="the simulator to listen")  # fmt: skip
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_seed_demo_points_its_partners_at_the_simulators_once(simulator):
    rows = {p.code: p for p in PartnerAgency.objects.all()}
    assert set(rows) == {code for code, *_ in DEMO_PARTNERS}
    assert rows["LAS"].endpoint == f"http://127.0.0.1:{simulator}/"
    assert rows["LFB"].endpoint == f"http://127.0.0.1:{simulator + 1}/"
    assert (rows["LAS"].user.username, rows["LFB"].user.username) == ("las_cad", "lfb_cad")
    assert rows["LAS"].may_receive_personal and not rows["LFB"].may_receive_personal
    # Idempotent, and an admin's change to a partner is kept.
    PartnerAgency.objects.filter(code="LFB").update(endpoint="https://lfb.example/eido")
    again = Seed(now=timezone.now())
    seed_partners(again)
    assert PartnerAgency.objects.count() == 2 and not again.created
    assert PartnerAgency.objects.get(code="LFB").endpoint == "https://lfb.example/eido"


def test_sharing_with_the_simulated_ambulance_service_is_acknowledged_and_answered(
    simulator, one_connection_at_a_time, cast, client, monkeypatch
):
    using_the_database = one_connection_at_a_time
    # No Celery worker here: the sending task runs where it is queued, as with no REDIS_URL.
    send = tasks.send_partner_delivery
    monkeypatch.setattr(send, "delay", lambda delivery_id: send.apply(args=(delivery_id,)))
    make_incident_type("THEFT", default_grade="S")
    incident = make_incident(cast.handler, where="camden", type_code="THEFT", grade="I",
                             summary="Cyclist knocked off, leg injury")  # fmt: skip
    client.force_login(cast.despatcher_cn)
    with using_the_database:  # the simulator's answer may come in while this request still runs
        answer = client.post(f"/api/v1/incidents/{incident.pk}/partners/", {"partner": "LAS"},
                             content_type="application/json")  # fmt: skip
    assert answer.status_code == 201, answer.content

    with using_the_database:
        first = PartnerDelivery.objects.filter(share__incident=incident).order_by("id").first()
    acknowledged = (PartnerDelivery.State.ACKNOWLEDGED, "SIM-1")
    assert (first.state, first.ack) == acknowledged, first.last_error

    def answered():
        with using_the_database:
            return IncidentLogEntry.objects.filter(
                incident=incident, by__username="las_cad",
                text="London Ambulance Service (simulated): Resource assigned, attending.",
            ).first()  # fmt: skip

    entry = _wait_for(answered, seconds=20, what="the simulated service's note in the log")
    assert entry.by.username == "las_cad"
    # The partner's note is itself a change to the incident, so the latest document goes back
    # to it; the simulator acknowledges that too, and answers an incident only once.
    time.sleep(1.5)  # longer than --reply-delay: a second answer would have arrived by now
    with using_the_database:
        notes = IncidentLogEntry.objects.filter(incident=incident, by__username="las_cad")
        assert notes.count() == 1
    deliveries = PartnerDelivery.objects.filter(share__incident=incident)

    def settled():
        # The note's own delivery may still be on its way on a slow machine.
        with using_the_database:
            states = list(deliveries.values_list("state", "ack"))
        done = all(state != PartnerDelivery.State.QUEUED for state, _ in states)
        return states if done else None

    states = _wait_for(settled, seconds=20, what="the note's delivery to be answered")
    assert len(states) >= 2 and all(s == PartnerDelivery.State.ACKNOWLEDGED for s, _ in states)
    assert len({ack for _, ack in states}) == len(states)  # each its own acknowledgement
    # The detail shows the latest delivery, which the simulator has acknowledged by now. (Read
    # any sooner, it could be the note's delivery still queued: the reply comes in 0.5 s.)
    with using_the_database:
        detail = client.get(f"/api/v1/incidents/{incident.pk}/").json()
    las = next(p for p in detail["partners"] if p["partner"] == "LAS")
    assert las["delivery"]["state"] == PartnerDelivery.State.ACKNOWLEDGED
