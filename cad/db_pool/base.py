"""Django's PostgreSQL backend with pooled connections (dj_db_conn_pool, SQLAlchemy's QueuePool).

One change to the library's backend: a request that waits longer than the pool's TIMEOUT for a
connection gets the database driver's OperationalError, as if PostgreSQL had refused it, so
Django wraps it like every other connection failure and the API answers 503 (cad/api/errors.py)
instead of a 500 for an exception it has never heard of.
"""

from dj_db_conn_pool.backends.postgresql import base
from sqlalchemy.exc import TimeoutError as PoolTimeout


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        try:
            return super().get_new_connection(conn_params)
        except PoolTimeout as exc:
            raise self.Database.OperationalError(f"no database connection free: {exc}") from exc
