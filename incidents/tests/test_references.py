"""CAD references: a per-day sequence on London time, never shared by two incidents."""

import threading
from datetime import UTC, date, datetime

import pytest
from django.db import connection

from cad.models import AuditEvent, Event
from incidents.models import Incident
from incidents.services import reference_format
from tests.factories import make_incident, make_incident_type


def test_format_pads_to_four_digits_and_grows_past_9999():
    assert reference_format(date(2026, 11, 22), 17) == "CAD 0017/22Nov26"
    assert reference_format(date(2027, 1, 3), 12345) == "CAD 12345/03Jan27"


@pytest.mark.django_db
def test_sequence_restarts_at_london_midnight_not_utc(make_user, geography):
    handler = make_user("call_handler")
    # 1 July 2026 is BST (UTC+1): London midnight is 23:00 UTC.
    before = make_incident(handler, at=datetime(2026, 7, 1, 22, 58, tzinfo=UTC))
    again = make_incident(handler, at=datetime(2026, 7, 1, 22, 59, tzinfo=UTC))
    after = make_incident(handler, at=datetime(2026, 7, 1, 23, 1, tzinfo=UTC))
    assert before.reference == "CAD 0001/01Jul26"
    assert again.reference == "CAD 0002/01Jul26"
    assert after.reference == "CAD 0001/02Jul26"
    assert after.reference_date == date(2026, 7, 2)
    # In winter London is on UTC: 23:30 UTC is still the same London day.
    winter = make_incident(handler, at=datetime(2026, 12, 1, 23, 30, tzinfo=UTC))
    assert winter.reference == "CAD 0001/01Dec26"


@pytest.mark.django_db
def test_rolled_back_creation_gives_its_number_back(make_user, geography):
    from django.core.exceptions import ValidationError

    from incidents.services import incident_create

    handler = make_user("call_handler")
    make_incident_type("ASB1")
    at = datetime(2026, 11, 22, 12, tzinfo=UTC)
    make_incident(handler, at=at)
    with pytest.raises(ValidationError):
        incident_create(by=handler, type_code="ASB1", lat=0.0, lon=0.0, at=at)
    assert make_incident(handler, at=at).reference == "CAD 0002/22Nov26"


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_creations_get_twenty_different_references(
    postgres, make_user, geography
):
    handler = make_user("call_handler")
    make_incident_type("ASB1")
    at = datetime(2026, 11, 22, 9, tzinfo=UTC)
    barrier = threading.Barrier(20)
    errors: list[BaseException] = []

    def create():
        try:
            barrier.wait()
            make_incident(handler, at=at)
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    refs = list(Incident.objects.values_list("reference", flat=True))
    assert len(refs) == 20 and len(set(refs)) == 20
    numbers = sorted(Incident.objects.values_list("reference_number", flat=True))
    assert numbers == list(range(1, 21))


@pytest.mark.django_db(transaction=True)
def test_the_days_number_is_not_held_while_the_creation_is_written(
    postgres, make_user, geography, monkeypatch
):
    """The day's sequence row is locked from the number's taking to commit, and every
    creation queues on it: it is taken after the rows are written, so another creation can
    take its number while this one is still writing its call, log and figures."""
    from incidents import services

    handler = make_user("call_handler")
    at = datetime(2026, 11, 22, 9, tzinfo=UTC)
    make_incident(handler, at=at)  # the day's row exists
    seen: list[str] = []
    writing = services._response_start

    def response_start_then_look(incident, **kwargs):
        writing(incident, **kwargs)
        result: list[str] = []

        def other_creation_takes_a_number():
            try:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT last_number FROM incidents_dailysequence WHERE date = %s "
                        "FOR UPDATE NOWAIT",
                        [date(2026, 11, 22)],
                    )
                result.append("free")
            except Exception as exc:  # noqa: BLE001  (LockNotAvailable on the old order)
                result.append(type(exc).__name__)
            finally:
                connection.close()

        thread = threading.Thread(target=other_creation_takes_a_number)
        thread.start()
        thread.join(10)
        seen.extend(result)

    monkeypatch.setattr(services, "_response_start", response_start_then_look)
    incident = make_incident(handler, at=at)
    assert seen == ["free"]
    assert incident.reference == "CAD 0002/22Nov26"
    stored = Incident.objects.get(pk=incident.pk)
    assert (stored.reference, stored.reference_number) == ("CAD 0002/22Nov26", 2)
    trail = AuditEvent.objects.get(object_id=str(incident.pk), action="create")
    assert trail.object_repr == "CAD 0002/22Nov26"  # never the placeholder
    assert Event.objects.get(type="incident.created", data__id=incident.pk).data["reference"] == (
        "CAD 0002/22Nov26"
    )
