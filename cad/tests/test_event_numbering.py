"""Events numbered at commit on PostgreSQL (cad_event_number, decision 0025).

The counter row used to be locked from an event's write to its transaction's commit, so every
writer queued behind the slowest one holding it. Now a transaction holds nothing while it
works: its events are numbered as it commits, gapless and in commit order, with the same
per-BCU `prev` links, and published from the numbers read back.
"""

import threading

import pytest
from django.db import IntegrityError, connection, transaction

from cad.live import events
from cad.models import Event, EventCounter

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def published(postgres, geography, monkeypatch):
    sent: list[tuple[dict, dict]] = []
    monkeypatch.setattr(events, "publish", lambda m, prev, coalesce="": sent.append((m, prev)))
    monkeypatch.setattr(
        events, "publish_many", lambda batch: sent.extend((m, prev) for m, prev, _ in batch)
    )
    return sent


def test_a_transaction_at_work_holds_no_one_up_and_commit_order_decides_the_numbers(published):
    first = events.latest_seq()
    written, release, done = threading.Event(), threading.Event(), threading.Event()
    errors: list[Exception] = []
    slow: list[Event] = []

    def slow_writer():
        try:
            with transaction.atomic():
                slow.append(events.event_emit(type="t.slow", data={"n": 1}, bcus=["CN"]))
                written.set()
                release.wait(10)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            done.set()
            connection.close()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert written.wait(10)
    # Written after the slow one but committed first. With the counter locked from the write
    # (the old way), this would wait for the slow transaction: the timeout turns that into an
    # error instead of a hang.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '3s'")
        quick = events.event_emit(type="t.quick", data={"n": 2}, bcus=["CN", "AS"])
        batch = events.events_emit(
            [
                events.EventSpec("t.fix", {"n": 3}, ["AS"], "unit:X"),
                events.EventSpec("t.fix", {}, []),
            ]
        )
    assert not done.is_set()
    release.set()
    thread.join(10)
    assert errors == []

    assert (quick.seq, batch[0].seq, batch[1].seq, slow[0].seq) == (
        first + 1, first + 2, first + 3, first + 4,
    )  # fmt: skip
    assert [m["seq"] for m, _ in published] == [first + 1, first + 2, first + 3, first + 4]
    assert [m["type"] for m, _ in published] == ["t.quick", "t.fix", "t.fix", "t.slow"]
    cn, as_ = events.bcu_group("CN"), events.bcu_group("AS")
    prevs = [prev for _, prev in published]
    assert prevs[0] == {events.ALL_GROUP: first, cn: 0, as_: 0}
    assert prevs[1] == {events.ALL_GROUP: first + 1, as_: first + 1}
    assert prevs[2] == {events.ALL_GROUP: first + 2}
    assert prevs[3] == {events.ALL_GROUP: first + 3, cn: first + 1}
    assert events.latest_seq() == first + 4
    assert (events.latest_seq(bcu="CN"), events.latest_seq(bcu="AS")) == (first + 4, first + 2)
    assert list(Event.objects.filter(seq__gt=first).values_list("seq", "type")) == [
        (first + 1, "t.quick"), (first + 2, "t.fix"), (first + 3, "t.fix"), (first + 4, "t.slow"),
    ]  # fmt: skip


def test_a_rolled_back_transaction_takes_no_number_and_publishes_nothing(published):
    first = events.latest_seq()
    with pytest.raises(RuntimeError), transaction.atomic():
        events.event_emit(type="t.gone", data={}, bcus=["CN"])
        raise RuntimeError("the change fails")
    with transaction.atomic():
        try:
            with transaction.atomic():
                events.event_emit(type="t.gone", data={}, bcus=["CN"])
                raise RuntimeError("a savepoint rolls back")
        except RuntimeError:
            pass
        kept = events.event_emit(type="t.kept", data={}, bcus=["CN"])
    assert kept.seq == first + 1
    assert [(m["seq"], m["type"]) for m, _ in published] == [(first + 1, "t.kept")]
    assert not Event.objects.filter(type="t.gone").exists()
    assert not Event.objects.filter(seq__isnull=True).exists()


def test_many_writers_at_once_get_every_number_once(published):
    first = events.latest_seq()
    errors: list[Exception] = []

    def writer(n: int):
        try:
            for i in range(10):
                with transaction.atomic():
                    events.event_emit(
                        type="t.w", data={"w": n, "i": i}, bcus=["CN" if n % 2 else "AS"]
                    )
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    seqs = list(Event.objects.filter(seq__gt=first).order_by("seq").values_list("seq", "prev"))
    assert [seq for seq, _ in seqs] == list(range(first + 1, first + 61))
    # Each BCU's chain of `prev` links walks back through every event of that BCU, none skipped.
    for code in ("CN", "AS"):
        group = events.bcu_group(code)
        chain = [(seq, prev[group]) for seq, prev in seqs if group in prev]
        assert len(chain) == 30
        assert all(
            before == earlier
            for (_, before), (earlier, _) in zip(chain[1:], chain[:-1], strict=True)
        )


def test_only_the_numbering_may_change_an_event(published):
    event = events.event_emit(type="t.one", data={"a": 1}, bcus=["CN"])
    counter = EventCounter.objects.get(id=1).last_seq
    assert event.seq == counter
    for statement in (
        "UPDATE cad_event SET seq = seq + 1000 WHERE id = %s",
        "UPDATE cad_event SET data = '{}' WHERE id = %s",
    ):
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [event.pk])
    assert Event.objects.get(pk=event.pk).data == {"a": 1}
