"""Querysets compiled to SQL once, then run with new values: the recommendation's hot queries.

Profiling bench/recommend.py (decision 0021) showed Django building and compiling the candidate
query cost as much as PostgreSQL running it (0.8 + 0.5 ms against 1.4 ms, with 5,000 units).
The query's shape never changes, only its values (the box, the time, the operation), so it is
built once per shape with stand-in values, and the stand-ins in the compiled parameters are
replaced by the real ones on each run. The SQL is Django's own, character for character.

PostgreSQL only: psycopg2 hands back the Python types Django would (aware datetimes, floats,
booleans). Other databases (the embedded SQLite default) need Django's converters, so there the
queryset simply runs as usual.
"""

import threading
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from typing import Any

from django.db import connections, router
from django.db.models import Model, QuerySet


def _stand_in(i: int, value: Any) -> Any:
    """A value of the same type no real query would use, recognisable among the parameters."""
    if isinstance(value, bool):
        raise TypeError("booleans cannot be told apart: give the shape instead")
    if isinstance(value, int):
        return 1_900_000_001 + i
    if isinstance(value, float):
        return 9.87654321e11 + i
    if isinstance(value, datetime):
        return datetime(1901, 2, 3, 4, 5, 6, 100_000 + i, tzinfo=UTC)
    if isinstance(value, str):
        return f"\x1fstand-in {i}\x1f"
    raise TypeError(f"cannot stand in for {type(value).__name__}")


class PreparedValues:
    """`build(**values)` returns a values_list queryset; `rows(shape, **values)` runs it.

    `shape` names everything that changes the SQL other than the values (which filters apply);
    each shape is compiled once per process and database alias.
    """

    def __init__(self, model: type[Model], build: Callable[..., QuerySet]):
        self.model = model
        self.build = build
        self._compiled: dict[Hashable, tuple[str, list[tuple[str | None, Any]]]] = {}
        self._lock = threading.Lock()

    def rows(self, shape: Hashable, **values: Any) -> list[tuple]:
        alias = router.db_for_read(self.model)
        connection = connections[alias]
        if connection.vendor != "postgresql":
            return list(self.build(**values))
        key = (alias, shape, tuple(sorted(values)))
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compile(values)
            with self._lock:
                self._compiled[key] = compiled
        sql, slots = compiled
        params = [values[name] if name is not None else constant for name, constant in slots]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def _compile(self, values: dict[str, Any]) -> tuple[str, list[tuple[str | None, Any]]]:
        stand_ins = {name: _stand_in(i, value) for i, (name, value) in enumerate(values.items())}
        sql, params = self.build(**stand_ins).query.sql_with_params()
        by_value = {v: name for name, v in stand_ins.items()}
        slots: list[tuple[str | None, Any]] = []
        for p in params:
            name = by_value.get(p) if isinstance(p, int | float | str | datetime) else None
            slots.append((name, None) if name is not None else (None, p))
        return sql, slots
