"""PostgreSQL restarted under a steady load of incident creates (issue 23).

While the database is away each create answers 503 with Retry-After (cad/api/errors.py), and
nothing is half-saved: every acknowledged create is there whole (its call and its event), and no
unacknowledged one is there at all. When it is back creates succeed again from the same daphne
process, which was never restarted (daphne opens a connection per request: CONN_MAX_AGE 0).
"""

import time

import pytest

from tests.faults.stack import Load, report, saved_summaries

pytestmark = [pytest.mark.faults]

DOWN_S = 3


def test_postgres_restarted_answers_503_saves_nothing_half_and_recovers_in_place(
    fault_postgres, fault_redis, make_stack
):
    pg, token = fault_postgres
    stack = make_stack(database_url=pg.url, redis_url=fault_redis.url)
    daphne_pid = stack.daphne.pid
    load = Load(stack.base, token)
    for n in range(5):
        assert load.create(f"warm-{load.run_id}-{n}")[0] == 201
    load.start()
    time.sleep(3)

    load.phase = "restart"
    began = time.monotonic()
    pg.stop()  # immediate: sessions cut, transactions in flight rolled back
    time.sleep(DOWN_S)
    pg.start()
    load.phase = "after"
    time.sleep(6)
    load.stop()

    failing = [a for a in load.answers if a.at >= began and a.status != 201]
    back = [a for a in load.answers if a.at >= began and a.status == 201
            and (not failing or a.at > failing[-1].at)]  # fmt: skip
    recovered_at = back[0].at + back[0].ms / 1000 if back else None
    saved = saved_summaries(pg, load.run_id)
    # Whole or nothing: each saved create has its call and its `incident.created` event.
    whole = pg.query(
        "SELECT count(*) FROM incidents_incident i WHERE i.summary LIKE %s "
        "AND EXISTS (SELECT 1 FROM incidents_call c WHERE c.incident_id = i.id) "
        "AND EXISTS (SELECT 1 FROM cad_event e WHERE e.type = 'incident.created' "
        "            AND (e.data->>'id')::bigint = i.id)",
        (f"fault-{load.run_id}-%",),
    )[0][0]  # fmt: skip
    figures = report(
        "postgres-restarted", load, saved, fault_phase="after",
        recovery_s=None if recovered_at is None else recovered_at - (began + DOWN_S),
        extra={"down_s": DOWN_S, "saved_whole": whole,
               "answers_while_down": {str(s): sum(a.status == s for a in failing)
                                      for s in sorted({a.status for a in failing})}},
    )  # fmt: skip

    assert failing, "no create met the restart: the fault was not exercised"
    assert {a.status for a in failing} == {503}, "while the database was away: 503 and only 503"
    assert figures["acknowledged_not_saved"] == 0 and figures["saved_not_acknowledged"] == 0
    assert whole == len(saved)
    assert recovered_at is not None and stack.daphne.poll() is None
    assert stack.daphne.pid == daphne_pid
    assert all(a.status == 201 for a in load.answers if a.at > recovered_at)
