"""The soak's stand-in for autovacuum, on a server that runs without it (bench/soak.py).

This workplace's PostgreSQL has `autovacuum = off`; production's has it on. Without any vacuum
the tables bloat and every write slows, which measures the server's configuration, not Beacon.
The soak used to stand in with `VACUUM (ANALYZE)` of the whole database every 60 s, at full
speed: far more than autovacuum does. It vacuumed every table every time, the growing radio log
and event log included, and analyzed each whatever had changed. At the issue's load on stop
33's two cores it ran 32 times in 35 minutes, 4.5 s each on average, a core's worth of work at
a time on a machine with none to spare (docs/benchmarks.md, stop 33).

So the stand-in now does what autovacuum would, by its documented rules ("The Autovacuum
Daemon" in PostgreSQL's manual, `relation_needs_vacanalyze` in its source) and with the
server's own settings for them. Every round (the soak's `--vacuum-every`, 60 s like
`autovacuum_naptime`), a table is vacuumed when its dead rows exceed
`autovacuum_vacuum_threshold + autovacuum_vacuum_scale_factor × reltuples` or its rows inserted
since the last vacuum exceed the insert threshold and scale factor's, and analyzed when the
rows changed since the last analyze exceed the analyze threshold and scale factor's.
Both run with autovacuum's cost-based delay (`autovacuum_vacuum_cost_delay`, and
`autovacuum_vacuum_cost_limit`, or `vacuum_cost_limit` where that is -1). Unlike autovacuum's
three workers it vacuums one table at a time, so a small busy table can wait behind a large one
paced by the delay; per-table storage parameters are not read (no Beacon table sets any).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, NamedTuple


@dataclass(frozen=True)
class Rules:
    """The server's autovacuum settings that decide and pace its work (defaults: PostgreSQL's)."""

    vacuum_threshold: float = 50
    vacuum_scale_factor: float = 0.2
    insert_threshold: float = 1000
    insert_scale_factor: float = 0.2
    analyze_threshold: float = 50
    analyze_scale_factor: float = 0.1
    cost_delay_ms: float = 2.0
    cost_limit: int = 200


class TableStats(NamedTuple):
    """One table's counters from pg_stat_user_tables, and pg_class's row estimate."""

    name: str
    reltuples: float  # -1: never vacuumed or analyzed, which autovacuum counts as 0
    dead: int
    inserted_since_vacuum: int
    changed_since_analyze: int


class Due(NamedTuple):
    name: str
    vacuum: bool
    analyze: bool


def due(table: TableStats, rules: Rules) -> Due:
    """What autovacuum would do to this table now."""
    rows = max(table.reltuples, 0.0)
    vacuum = (
        table.dead > rules.vacuum_threshold + rules.vacuum_scale_factor * rows
        or table.inserted_since_vacuum > rules.insert_threshold + rules.insert_scale_factor * rows
    )
    analyze = table.changed_since_analyze > rules.analyze_threshold + (
        rules.analyze_scale_factor * rows
    )
    return Due(table.name, vacuum, analyze)


SETTINGS = {
    "autovacuum_vacuum_threshold": "vacuum_threshold",
    "autovacuum_vacuum_scale_factor": "vacuum_scale_factor",
    "autovacuum_vacuum_insert_threshold": "insert_threshold",
    "autovacuum_vacuum_insert_scale_factor": "insert_scale_factor",
    "autovacuum_analyze_threshold": "analyze_threshold",
    "autovacuum_analyze_scale_factor": "analyze_scale_factor",
}


def server_rules(cursor: Any) -> Rules:
    """The rules as this server is configured (its defaults unless someone changed them)."""
    cursor.execute(
        "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
        [[*SETTINGS, "autovacuum_vacuum_cost_delay", "autovacuum_vacuum_cost_limit",
          "vacuum_cost_limit"]],
    )  # fmt: skip
    values = dict(cursor.fetchall())
    limit = int(values["autovacuum_vacuum_cost_limit"])
    return Rules(
        **{field: float(values[name]) for name, field in SETTINGS.items()},
        cost_delay_ms=float(values["autovacuum_vacuum_cost_delay"]),  # in ms
        cost_limit=limit if limit > 0 else int(values["vacuum_cost_limit"]),
    )


def table_stats(cursor: Any) -> list[TableStats]:
    cursor.execute(
        "SELECT s.relname, c.reltuples, s.n_dead_tup, s.n_ins_since_vacuum, "
        "s.n_mod_since_analyze FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
        "WHERE s.schemaname = current_schema() ORDER BY s.relname"
    )
    return [TableStats(*row) for row in cursor.fetchall()]


class Round(NamedTuple):
    seconds: float
    vacuumed: list[str]
    analyzed: list[str]


def stand_in_round(cursor: Any, rules: Rules) -> Round:
    """One naptime's work: vacuum and analyze what autovacuum would, paced as it would be.
    The cursor must be in autocommit mode (VACUUM cannot run in a transaction block)."""
    started = time.perf_counter()
    cursor.execute(f"SET vacuum_cost_delay = '{rules.cost_delay_ms:g}ms'")
    cursor.execute(f"SET vacuum_cost_limit = {rules.cost_limit:d}")
    vacuumed, analyzed = [], []
    for todo in (due(table, rules) for table in table_stats(cursor)):
        # Autovacuum passes over a table it cannot lock at once; so does this.
        if todo.vacuum:
            analyze = ", ANALYZE" if todo.analyze else ""
            cursor.execute(f'VACUUM (SKIP_LOCKED{analyze}) "{todo.name}"')
            vacuumed.append(todo.name)
        elif todo.analyze:
            cursor.execute(f'ANALYZE (SKIP_LOCKED) "{todo.name}"')
        if todo.analyze:
            analyzed.append(todo.name)
    return Round(time.perf_counter() - started, vacuumed, analyzed)
