"""Querysets compiled to SQL once, then run with new values: the hot paths' fixed queries.

Profiling bench/recommend.py (decision 0021) showed Django building and compiling the candidate
query cost as much as PostgreSQL running it (0.8 + 0.5 ms against 1.4 ms, with 5,000 units).
The query's shape never changes, only its values (the box, the time, the operation), so it is
built once per shape with stand-in values, and the stand-ins in the compiled parameters are
replaced by the real ones on each run. The SQL is Django's own, character for character. The
incident detail that the assign, the close and a desk opening an incident answer with is read
the same way (decision 0036): nine fixed queries, a quarter of an assign's CPU when compiled
afresh each time.

PostgreSQL only. psycopg2 hands back most of the Python types Django would (aware datetimes,
floats, booleans); the fields that convert what the database returns (a JSON column, which
Django reads as text) get Django's own converters, found when the shape is compiled. Other
databases (the embedded SQLite default) need converters for nearly everything, so there the
queryset simply runs as usual.

On PostgreSQL each compiled query is also prepared on the server, once per connection (PREPARE,
then EXECUTE with the values): PostgreSQL planned the candidate query afresh on every run, 0.8 ms
of its 1.8 ms (decision 0028). A prepared statement belongs to its session and outlives a
rolled-back transaction, so the statements a connection holds are remembered against that
connection, and a new connection (after a restart, or another from daphne's pool) prepares its
own. `DB_SERVER_PREPARE=0` turns this off, as PgBouncer's transaction pooling needs.

A prepared statement's plan is fixed at about its sixth run on a connection, for the tables as
they were then, and made again only when a table's statistics change (ANALYZE, normally
autovacuum's). On a young database growing fast that can be a sequential scan chosen while a
table was a page or two. Every process closes a connection that has outlived `DB_CONN_MAX_AGE`
(60 s by default), and its successor prepares against the tables as they are. The benchmarks,
which start from empty tables on a server without autovacuum, pay for this (docs/benchmarks.md,
stop 43).

A migration that changes the type of a column a prepared statement returns makes PostgreSQL
refuse that statement on every connection that holds it ("cached plan must not change result
type"). The statement is then given a new name, so that every connection of this process
prepares it afresh at its next use, and run again at once where no transaction was open; inside
a transaction, which the refusal has aborted, the caller gets an OperationalError (the API's 503,
nothing saved, try again; a radio task's retry), once per process and statement instead of on
every use until a restart.
"""

import itertools
import re
import threading
import weakref
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db import connections, router
from django.db.models import Model, QuerySet, signals
from django.db.models.sql import InsertQuery
from django.db.utils import NotSupportedError, OperationalError
from psycopg2 import sql as pg_sql

# Django's compiled SQL marks each parameter %s and a literal percent sign %%.
_PLACEHOLDER = re.compile(r"%[s%]")
_names = itertools.count(1)
# PostgreSQL's words when a prepared statement's result columns changed type under it.
_PLAN_OUTDATED = "cached plan must not change result type"


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
        self._compiled: dict[Hashable, _Compiled] = {}
        self._lock = threading.Lock()

    def rows(self, shape: Hashable, **values: Any) -> list[tuple]:
        alias = router.db_for_read(self.model)
        connection = connections[alias]
        if connection.vendor != "postgresql":
            return list(self.build(**values))
        key = (alias, shape, tuple(sorted(values)))
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compile(alias, values)
            with self._lock:
                compiled = self._compiled.setdefault(key, compiled)
        params = [values[name] if name is not None else constant
                  for name, constant in compiled.slots]  # fmt: skip
        with connection.cursor() as cursor:
            if not settings.DB_SERVER_PREPARE:
                cursor.execute(compiled.sql, params)
                rows = cursor.fetchall()
            else:
                rows = _execute_prepared(connection, cursor, compiled, params)
        if compiled.width is not None:  # columns Django added for its ORDER BY, not asked for
            rows = [row[: compiled.width] for row in rows]
        return compiled.convert(rows, connection) if compiled.converters else rows

    def _compile(self, alias: str, values: dict[str, Any]) -> "_Compiled":
        stand_ins = {name: _stand_in(i, value) for i, (name, value) in enumerate(values.items())}
        compiler = self.build(**stand_ins).query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        # The converters Django's own iterator would apply to these columns (as results_iter).
        columns = [col for col, _, _ in compiler.select[: compiler.col_count]]
        converters = compiler.get_converters(columns)
        by_value = {v: name for name, v in stand_ins.items()}
        slots: list[tuple[str | None, Any]] = []
        for p in params:
            name = by_value.get(p) if isinstance(p, int | float | str | datetime) else None
            slots.append((name, None) if name is not None else (None, p))
        width = compiler.col_count if compiler.has_extra_select else None
        return _Compiled(sql, slots, sorted(converters.items()), width)


class _Compiled:
    """One query shape: Django's SQL, where each parameter comes from, how to convert what
    comes back, and the server-side statement that runs it."""

    def __init__(
        self,
        sql: str,
        slots: list[tuple[str | None, Any]],
        converters: list[tuple[int, tuple[list[Callable], Any]]],
        width: int | None,
    ):
        self.sql = sql
        self.slots = slots
        self.converters = converters
        self.width = width
        self.statement = _Statement(sql, len(slots))
        self._replace_lock = threading.Lock()

    def replace(self, outdated: "_Statement") -> None:
        """Give the query a new statement name, unless another thread already has."""
        with self._replace_lock:
            if self.statement is outdated:
                self.statement = _Statement(self.sql, len(self.slots))

    def convert(self, rows: list[tuple], connection: Any) -> list[tuple]:
        """Rows as Django's iterator would give them (a JSON column's text decoded)."""
        return _converted(rows, self.converters, connection)


def _converted(rows: list[tuple], converters: list, connection: Any) -> list[tuple]:
    """Each row with every converted column through its field's converters, as Django's own
    iterator applies them: `converters` is [(position, (functions, expression))]."""
    converted = []
    for row in rows:
        values = list(row)
        for position, (functions, expression) in converters:
            value = values[position]
            for function in functions:
                value = function(value, expression, connection)
            values[position] = value
        converted.append(tuple(values))
    return converted


class _Statement:
    """A compiled query as a named server-side statement: PREPARE text with $1, $2, …, and
    EXECUTE text with %s."""

    def __init__(self, sql: str, count: int):
        self.name = f"beacon_prepared_{next(_names)}"
        numbers = itertools.count(1)
        body = _PLACEHOLDER.sub(lambda m: "%" if m[0] == "%%" else f"${next(numbers)}", sql)
        self._prepare = pg_sql.SQL("PREPARE {} AS {}").format(
            pg_sql.Identifier(self.name), pg_sql.SQL(body)
        )
        values = pg_sql.SQL(", ").join([pg_sql.Placeholder()] * count)
        self._execute = pg_sql.SQL("EXECUTE {} ({})" if count else "EXECUTE {}").format(
            pg_sql.Identifier(self.name), values
        )
        self._texts: tuple[str, str] | None = None

    def texts(self, raw_connection: Any) -> tuple[str, str]:
        """The PREPARE and EXECUTE texts as plain strings (rendered once, by the driver), so
        that whatever wraps cursor.execute (Django's query log, tracing) sees text as usual."""
        if self._texts is None:
            self._texts = (self._prepare.as_string(raw_connection),
                           self._execute.as_string(raw_connection))  # fmt: skip
        return self._texts


class PreparedSQL:
    """One fixed statement of plain SQL (`%s` for each value), prepared on the server.

    For the statements written as SQL because the ORM cost more to build them than PostgreSQL
    took to run them (decisions 0027, 0031): PostgreSQL still planned each afresh on every run,
    about 1.4 ms of every create's 5.6 ms of its CPU (docs/benchmarks.md, stop 38). `execute`
    stands in for `cursor.execute(sql, params)`; the caller reads the cursor as before. Elsewhere
    (SQLite) or with `DB_SERVER_PREPARE=0`, it is exactly that call.
    """

    def __init__(self, sql: str):
        self.sql = sql
        count = sum(1 for m in _PLACEHOLDER.finditer(sql) if m[0] == "%s")
        self._compiled = _Compiled(sql, [(None, None)] * count, [], None)

    @property
    def name(self) -> str:
        """The server-side statement's name: what an `EXECUTE` of it names."""
        return self._compiled.statement.name

    def execute(self, cursor: Any, params: list | tuple) -> None:
        connection = cursor.db  # Django's cursor wrapper knows its connection
        if connection.vendor != "postgresql" or not settings.DB_SERVER_PREPARE:
            cursor.execute(self.sql, params)
        else:
            _run_prepared(connection, cursor, self._compiled, list(params))


M = TypeVar("M", bound=Model)


class PreparedRows(Generic[M]):
    """`instances(params)`: the rows of `SELECT <the model's columns> FROM <its table> WHERE
    <where>` as model instances, as `Model.objects.raw(sql, params)` gives them, with the
    statement prepared on the server.

    For the reads of reference rows every create makes (its incident type, the operation
    covering its position, the BCU of its borough): `raw()` and the ORM's `filter().first()`
    cost this process several times the CPU PostgreSQL took to answer (docs/benchmarks.md,
    stops 42 and 43). Each column goes through its field's converters, as Django's own iterator
    would (a JSON column arrives as text). Elsewhere than on PostgreSQL it is `raw()` itself,
    whose converters SQLite needs.

    `source` and `alias` read the model's rows from a join (`source` names its table `alias`);
    `extra` adds columns, {attribute: SQL expression}, set on each instance unconverted, as
    `raw()` sets a column that is not a field.
    """

    def __init__(
        self,
        model: type[M],
        where: str,
        *,
        source: str = "",
        alias: str = "",
        extra: dict[str, str] | None = None,
    ):
        self.model = model
        meta = model._meta
        self._fields = list(meta.concrete_fields)
        extra = extra or {}
        self._names = [f.attname for f in self._fields]
        self._extra = list(extra)
        qualifier = f'"{alias}".' if alias else ""
        columns = ", ".join(
            [f'{qualifier}"{f.column}"' for f in self._fields]
            + [f'{expression} AS "{name}"' for name, expression in extra.items()]
        )
        source = source or f'"{meta.db_table}"'
        self.sql = f"SELECT {columns} FROM {source} WHERE {where}"  # noqa: S608
        self._statement = PreparedSQL(self.sql)
        self._converters: list | None = None

    def instances(self, params: list | tuple) -> list[M]:
        connection = connections[router.db_for_read(self.model)]
        if connection.vendor != "postgresql":
            return list(self.model._default_manager.raw(self.sql, params))
        with connection.cursor() as cursor:
            self._statement.execute(cursor, params)
            rows = cursor.fetchall()
        if not rows:
            return []
        if self._converters is None:
            # The converters Django's own iterator would apply to these columns.
            compiler = self.model._default_manager.all().query.get_compiler(connection=connection)
            columns = [f.get_col(self.model._meta.db_table) for f in self._fields]
            self._converters = sorted(compiler.get_converters(columns).items())
        count = len(self._names)
        found = []
        for values in _converted(rows, self._converters, connection):
            instance = self.model.from_db(connection.alias, self._names, values[:count])
            for name, value in zip(self._extra, values[count:], strict=True):
                setattr(instance, name, value)
            found.append(instance)
        return found


def plain_on_insert(save: Callable) -> Callable:
    """Mark a model's own `save` as doing nothing for a new row but Django's save, so that
    `PreparedInsert` may insert its rows itself."""
    save.plain_on_insert = True  # type: ignore[attr-defined]
    return save


_KEY_NEXT = "SELECT nextval(pg_get_serial_sequence(%s, %s))"


class PreparedInsert:
    """`insert(obj)` saves a new instance of `model` as `obj.save(force_insert=True)` would:
    Django's own INSERT for the model, compiled once per process and prepared on the server.

    For the rows every create writes (the incident, its call, its log, its response row, the
    audit row and the event): building and compiling the ORM's INSERT afresh cost more of this
    process's CPU than running it (docs/benchmarks.md, stop 42). The values are what Django's
    save would send (each field's `pre_save`, then `get_db_prep_save`), and a new automatic key
    is set on the instance, which is then saved as far as Django is concerned.

    Falls back to `save()` whenever that would do more than one plain INSERT: elsewhere than on
    PostgreSQL (whose rows need no converters), for a model with its own `save` (unless marked
    `@plain_on_insert`), `pre_save` or `post_save` receivers, parents or an ordering field, a
    value that is an expression, a model whose INSERT returns more than its automatic key, or
    an instance whose key is set when the model numbers its rows itself (or not set when the
    caller must give it, as a one-to-one key).

    `key_given`: the caller sets the automatic key itself (drawn from the table's sequence with
    `key_next`) and the INSERT sends it, so that rows referring to this one can be written
    before it (Django's foreign keys are checked at commit on PostgreSQL).
    """

    def __init__(self, model: type[Model], *, key_given: bool = False):
        self.model = model
        meta = model._meta
        automatic = meta.auto_field is not None
        self._numbered = automatic and not key_given  # the database gives the key
        self._fields = [f for f in meta.local_concrete_fields
                        if not f.generated and (f is not meta.auto_field or key_given)]  # fmt: skip
        plain_save = model.save is Model.save or getattr(model.save, "plain_on_insert", False)
        self._plain = (
            plain_save
            and not meta.parents
            and not meta.order_with_respect_to
            and meta.db_returning_fields == ([meta.pk] if automatic else [])
        )
        self._statement: PreparedSQL | None = None
        self._key_next = PreparedSQL(_KEY_NEXT) if key_given and automatic else None

    def key_next(self) -> int | None:
        """A key for a new row, drawn from the table's own sequence on PostgreSQL; None where
        the database hands none out ahead of its row (SQLite): the caller then inserts first.
        (None too for an inserter not made with `key_given`, or a model without a sequence.)"""
        connection = connections[router.db_for_write(self.model)]
        meta = self.model._meta
        if self._key_next is None or meta.auto_field is None or connection.vendor != "postgresql":
            return None
        with connection.cursor() as cursor:
            self._key_next.execute(cursor, [meta.db_table, meta.auto_field.column])
            return cursor.fetchone()[0]

    def insert(self, obj: Model) -> None:
        alias = router.db_for_write(self.model, instance=obj)
        connection = connections[alias]
        statement = self._statement_for(connection, obj)
        if statement is None:
            obj.save(force_insert=True, using=alias)
            return
        obj._prepare_related_fields_for_save(operation_name="save")  # type: ignore[attr-defined]
        # After compiling, which ran each field's pre_save too: an auto_now_add time on the
        # instance is then the one sent.
        values = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in self._fields]
        if any(hasattr(value, "resolve_expression") for value in values):
            obj.save(force_insert=True, using=alias)
            return
        with connection.cursor() as cursor:
            statement.execute(cursor, values)
            if self._numbered:
                obj.pk = cursor.fetchone()[0]
        obj._state.adding = False
        obj._state.db = alias

    def _statement_for(self, connection: Any, obj: Model) -> "PreparedSQL | None":
        """The prepared INSERT, or None where `save()` must do it."""
        if not (
            self._plain
            and connection.vendor == "postgresql"
            and (obj.pk is None) == self._numbered
            and not signals.pre_save.has_listeners(self.model)
            and not signals.post_save.has_listeners(self.model)
        ):
            return None
        if self._statement is None:
            query = InsertQuery(self.model)
            query.insert_values(self._fields, [obj])
            compiler = query.get_compiler(connection=connection)
            compiler.returning_fields = [self.model._meta.pk] if self._numbered else None
            ((sql, params),) = compiler.as_sql()
            if len(params) != len(self._fields):  # a value Django wrote into the SQL itself
                return None
            self._statement = PreparedSQL(sql)
        return self._statement


def _execute_prepared(connection: Any, cursor: Any, compiled: _Compiled, params: list) -> list:
    _run_prepared(connection, cursor, compiled, params)
    return cursor.fetchall()


def _run_prepared(connection: Any, cursor: Any, compiled: _Compiled, params: list) -> None:
    statement = compiled.statement
    try:
        _execute(connection, cursor, statement, params)
    except NotSupportedError as error:
        if _PLAN_OUTDATED not in str(error):
            raise
        compiled.replace(statement)
        if connection.in_atomic_block or not connection.get_autocommit():
            # The refusal aborted the transaction: nothing of it can be saved now.
            raise OperationalError("a prepared statement outlived a migration") from error
        _execute(connection, cursor, compiled.statement, params)


def _execute(connection: Any, cursor: Any, statement: _Statement, params: list) -> None:
    raw, held = _prepared_on(connection)
    prepare, execute = statement.texts(raw)
    if statement.name not in held:
        cursor.execute(prepare)
        held.add(statement.name)
    cursor.execute(execute, params)


# The statements prepared on each live PostgreSQL connection. Keyed by the driver's own
# connection, not Django's wrapper: daphne's pool hands one connection to many wrappers, and a
# reconnect gives a wrapper a new one.
_held: "weakref.WeakKeyDictionary[Any, set[str]]" = weakref.WeakKeyDictionary()
_held_lock = threading.Lock()


def _prepared_on(connection: Any) -> tuple[Any, set[str]]:
    """The driver's connection under a Django connection, and the statements it holds."""
    connection.ensure_connection()
    raw = connection.connection
    raw = getattr(raw, "dbapi_connection", raw)  # under the pool: SQLAlchemy's proxy's driver
    with _held_lock:
        return raw, _held.setdefault(raw, set())
