"""What this transaction has written to a table, by PostgreSQL's own per-transaction counters.

A test that runs inside one transaction (pytest-django's `db`) sees the writes of every service
it called, committed or not, so a test can hold a service to how it writes a row (inserted
once, updated in place) rather than only to what the row holds.
"""

from dataclasses import dataclass

from django.db import connection


@dataclass(frozen=True)
class RowWrites:
    inserted: int
    updated: int
    hot_updated: int  # updated in place on the row's page, no index touched

    def __sub__(self, other: "RowWrites") -> "RowWrites":
        return RowWrites(self.inserted - other.inserted, self.updated - other.updated,
                         self.hot_updated - other.hot_updated)  # fmt: skip


def row_writes(table: str) -> RowWrites:
    """This transaction's writes to `table` so far (PostgreSQL only)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_stat_get_xact_tuples_inserted(%s::regclass), "
            "pg_stat_get_xact_tuples_updated(%s::regclass), "
            "pg_stat_get_xact_tuples_hot_updated(%s::regclass)",
            [table] * 3,
        )
        return RowWrites(*cursor.fetchone())
