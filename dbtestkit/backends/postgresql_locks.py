"""PostgreSQL build locks: advisory locks, all taken in one database so that every run on a server shares them."""

import contextlib

from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError

from dbtestkit.backends.postgresql_catalog import lock_key

class AdvisoryLocks:
    """The PostgreSQL backend's part that takes the build lock of a fingerprint."""

    _lock_engine = None

    @contextlib.contextmanager
    def _lock_connection(self):
        # Advisory locks conflict only within one database: every run takes its locks in
        # the one every server has, whatever database its URL names (that one if unreachable).
        if self._lock_engine is None:
            engine = create_engine(self.url.set(database=self.admin.usual_database),
                                   isolation_level="AUTOCOMMIT", pool_size=2)
            try:
                engine.connect().close()
            except DBAPIError:
                engine.dispose()
                engine = self.admin.engine
            self._lock_engine = engine
        with self._lock_engine.connect() as connection:
            yield connection

    @contextlib.contextmanager
    def _hold_build_lock(self, fingerprint, waiting):
        """Hold the advisory lock of ``fingerprint``, on any machine."""
        key = lock_key(fingerprint)
        with self._lock_connection() as connection:
            if not connection.exec_driver_sql(f"SELECT pg_try_advisory_lock({key})").scalar():
                waiting()
                connection.exec_driver_sql(f"SELECT pg_advisory_lock({key})")
            try:
                yield
            finally:
                connection.exec_driver_sql(f"SELECT pg_advisory_unlock({key})")

    @contextlib.contextmanager
    def _lock_if_free(self, fingerprint):
        """Hold ``fingerprint``'s build lock if nobody holds it; yield whether it was free."""
        key = lock_key(fingerprint)
        with self._lock_connection() as connection:
            free = connection.exec_driver_sql(f"SELECT pg_try_advisory_lock({key})").scalar()
            try:
                yield free
            finally:
                if free:
                    connection.exec_driver_sql(f"SELECT pg_advisory_unlock({key})")

    def dispose(self):
        """Close the pooled admin and lock connections."""
        super().dispose()
        if self._lock_engine is not None and self._lock_engine is not self.admin.engine:
            self._lock_engine.dispose()
