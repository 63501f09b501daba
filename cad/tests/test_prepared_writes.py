"""The create path's rows written by prepared INSERTs and its reference rows read by prepared
SELECTs (cad/prepared.py, `PreparedInsert` and `PreparedRows`): the same rows and the same
instances as Django's save and `raw()` give, and Django's own save wherever it would do more
than one plain INSERT."""

from datetime import UTC, datetime

from django.db import connection
from django.db.models import Model, signals
from django.db.models.functions import Now

from cad.models import BCU, AuditEvent, Borough, Event
from cad.prepared import PreparedInsert, PreparedRows
from incidents.models import IncidentLogEntry, IncidentResponse, IncidentType
from incidents.operations.models import Operation
from tests.factories import make_incident

AT = datetime(2026, 3, 4, 5, 6, 7, 890_000, tzinfo=UTC)


def _stored(model: type[Model], pk: int) -> dict:
    """The row as the database holds it, every column but the key."""
    row = model._default_manager.filter(pk=pk).values().get()
    row.pop(model._meta.pk.attname)
    return row


def _audit(user) -> AuditEvent:
    changes = {"grade": ["S", "I"], "caller_details": True, "note": "it's 100%"}
    return AuditEvent(
        user=user, username=user.username, action="update", object_type="x.y", object_id="7",
        object_repr="CAD 1", changes=changes, source="api",
    )  # fmt: skip


def test_an_insert_stores_what_save_stores(postgres, make_user):
    user = make_user("call_handler")
    saved, inserted = _audit(user), _audit(user)
    saved.save()
    PreparedInsert(AuditEvent).insert(inserted)

    assert inserted.pk is not None and inserted.pk != saved.pk
    assert not inserted._state.adding and inserted._state.db == "default"
    mine, django = _stored(AuditEvent, inserted.pk), _stored(AuditEvent, saved.pk)
    # auto_now_add: each took its own time, and the instance holds the one stored
    assert mine.pop("at") == inserted.at and django.pop("at") == saved.at
    assert mine == django
    assert mine["changes"] == {"grade": ["S", "I"], "caller_details": True, "note": "it's 100%"}


def test_a_json_column(postgres):
    event = Event(type="test.event", bcu="CN", data={"id": 3, "text": "a \\ b", "none": None})
    PreparedInsert(Event).insert(event)
    stored = Event.objects.get(pk=event.pk)
    assert (stored.type, stored.bcu) == ("test.event", "CN")
    assert stored.data == {"id": 3, "text": "a \\ b", "none": None}


def test_many_inserts_through_one_statement_each_get_their_own_key(postgres, make_user):
    user = make_user("call_handler")
    incident = make_incident(user)
    inserter = PreparedInsert(IncidentLogEntry)
    entries = [IncidentLogEntry(incident=incident, by=user, kind="note", text=f"entry {n}")
               for n in range(3)]  # fmt: skip
    for entry in entries:
        inserter.insert(entry)
    assert len({e.pk for e in entries}) == 3
    assert [IncidentLogEntry.objects.get(pk=e.pk).text for e in entries] == [
        "entry 0", "entry 1", "entry 2"
    ]  # fmt: skip


def test_a_key_given_by_the_caller_is_stored_as_given(postgres, make_user):
    user = make_user("call_handler")
    incident = make_incident(user)
    IncidentResponse.objects.filter(incident=incident).delete()  # the service made one
    row = IncidentResponse(incident=incident, bcu=incident.bcu, grade="I", received_at=AT,
                           day=AT.date(), hour_of_week=5, target_at=AT)  # fmt: skip
    PreparedInsert(IncidentResponse).insert(row)
    assert row.pk == incident.pk and not row._state.adding
    stored = IncidentResponse.objects.get(pk=incident.pk)
    assert (stored.grade, stored.received_at, stored.hour_of_week) == ("I", AT, 5)


def test_a_key_drawn_ahead_is_the_sequence_s_next_and_the_row_is_stored_under_it(
    postgres, make_user
):
    user = make_user("call_handler")
    inserter = PreparedInsert(AuditEvent, key_given=True)
    drawn = [inserter.key_next() for _ in range(2)]
    before = _audit(user)
    before.save()  # the sequence the database itself numbers from
    assert drawn[0] < drawn[1] < before.pk
    assert PreparedInsert(AuditEvent).key_next() is None  # an inserter that numbers its rows

    row = _audit(user)
    row.pk = drawn[1]
    inserter.insert(row)

    assert not row._state.adding and row._state.db == "default"
    mine, django = _stored(AuditEvent, drawn[1]), _stored(AuditEvent, before.pk)
    assert mine.pop("at") == row.at and django.pop("at") == before.at
    assert mine == django


def test_without_a_sequence_to_draw_from_there_is_no_key_ahead(make_user):
    # SQLite (make test without DATABASE_URL) hands out no key before its row: the caller
    # inserts first. On PostgreSQL a key comes from the sequence.
    key = PreparedInsert(AuditEvent, key_given=True).key_next()
    assert (key is None) == (connection.vendor != "postgresql")


def test_a_model_with_save_receivers_is_saved_by_django(postgres, make_user):
    user = make_user("call_handler")
    heard = []

    def receiver(sender, instance, created, **kwargs):
        heard.append((instance.pk, created))

    signals.post_save.connect(receiver, sender=AuditEvent, dispatch_uid="prepared-test")
    try:
        row = _audit(user)
        PreparedInsert(AuditEvent).insert(row)
    finally:
        signals.post_save.disconnect(receiver, sender=AuditEvent, dispatch_uid="prepared-test")
    assert heard == [(row.pk, True)]


def test_a_value_that_is_an_expression_is_saved_by_django(postgres, make_user):
    user = make_user("call_handler")
    inserter = PreparedInsert(AuditEvent)
    inserter.insert(_audit(user))  # the statement is compiled
    row = _audit(user)
    row.object_repr = Now()  # an expression: Django writes it into the SQL itself
    inserter.insert(row)
    stored = AuditEvent.objects.get(pk=row.pk)
    assert stored.object_repr.startswith(str(datetime.now(UTC).year))


def test_a_model_with_its_own_save_is_left_to_it(postgres, monkeypatch):
    plain = AuditEvent.save

    def save(self, *args, **kwargs):  # does more than insert, and is not marked plain
        self.source = "own save"
        plain(self, *args, **kwargs)

    monkeypatch.setattr(AuditEvent, "save", save)
    row = AuditEvent(action="update", object_type="x.y", source="api")
    PreparedInsert(AuditEvent).insert(row)
    assert AuditEvent.objects.get(pk=row.pk).source == "own save"


def test_rows_are_the_instances_raw_gives(postgres, make_user, geography):
    user = make_user("call_handler")
    polygon = {"type": "Polygon", "coordinates": [[[-0.2, 51.4], [0.1, 51.4], [0.1, 51.6],
                                                   [-0.2, 51.4]]]}  # fmt: skip
    Operation.objects.create(
        name="March", starts_at=AT, ends_at=AT.replace(hour=9), bcu=geography["CN"], lat=51.5,
        lon=-0.1, polygon=polygon, min_lat=51.4, max_lat=51.6, min_lon=-0.2, max_lon=0.1,
        created_by=user,
    )  # fmt: skip
    reads = PreparedRows(Operation, "min_lat <= %s AND max_lat >= %s")
    mine = reads.instances([51.5, 51.5])
    raw = list(Operation.objects.raw(reads.sql, [51.5, 51.5]))
    assert len(mine) == 1 and mine[0].polygon == polygon  # the JSON column decoded
    fields = [f.attname for f in Operation._meta.concrete_fields]
    assert [getattr(mine[0], f) for f in fields] == [getattr(raw[0], f) for f in fields]
    assert not mine[0]._state.adding and mine[0]._state.db == "default"
    assert reads.instances([52.0, 52.0]) == []


def test_rows_read_from_a_join_carry_its_extra_columns_as_raw_gives_them(postgres, geography):
    # bcu_at's read (cad/geo/geometry.py): each borough's BCU, with the borough's own columns.
    reads = PreparedRows(
        BCU,
        "b.name IN (%s, %s) ORDER BY b.name",
        source=f"{Borough._meta.db_table} b JOIN {BCU._meta.db_table} c ON c.id = b.bcu_id",
        alias="c",
        extra={"borough_id": "b.id", "borough_name": "b.name", "nothing": "NULL"},
    )
    boroughs = list(Borough.objects.filter(bcu__isnull=False).order_by("name")[:2])
    names = [b.name for b in boroughs]
    mine = reads.instances(names)
    raw = list(BCU.objects.raw(reads.sql, names))
    assert [(b.borough_id, b.borough_name) for b in mine] == [(b.id, b.name) for b in boroughs]
    assert [b.nothing for b in mine] == [None, None]
    columns = [f.attname for f in BCU._meta.concrete_fields] + ["borough_id", "borough_name"]
    assert [[getattr(b, c) for c in columns] for b in mine] == [
        [getattr(b, c) for c in columns] for b in raw
    ]
    assert mine[0].pk == boroughs[0].bcu_id and not mine[0]._state.adding


def test_a_percent_sign_in_a_value_is_a_value(postgres):
    IncidentType.objects.create(code="P%1", name="Percent", category="crime", default_grade="S")
    IncidentType.objects.create(code="PX1", name="Other", category="crime", default_grade="S")
    found = PreparedRows(IncidentType, '"code" = %s').instances(["P%1"])
    assert [t.code for t in found] == ["P%1"]


def test_an_insert_and_a_read_on_either_database(make_user):
    # On SQLite (make test without DATABASE_URL) both are Django's own save and raw().
    user = make_user("call_handler")
    row = _audit(user)
    PreparedInsert(AuditEvent).insert(row)
    assert AuditEvent.objects.get(pk=row.pk).changes["note"] == "it's 100%"
    found = PreparedRows(AuditEvent, '"id" = %s').instances([row.pk])
    assert [(r.pk, r.at) for r in found] == [(row.pk, row.at)]
