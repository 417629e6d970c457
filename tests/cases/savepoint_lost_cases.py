"""Savepoint-mode tests whose connection the server ends: that test fails, the next ones do not.

Shared by the class-scoped and module-scoped variants. Methods run in name
order; ``test_1_*`` and ``test_3_*`` lose their connection and must fail,
every other test must pass on a fresh clone with its class data.
"""

import time

import sqlalchemy as sa

from tests.cases import DB
from tests.cases.savepoint_cases import ClassData, book, titles

# backend: (how a connection learns its server-side id, how an administrator ends it, is it gone)
KILL_SQL = {
    "postgresql": (
        "SELECT pg_backend_pid()", "SELECT pg_terminate_backend({})",
        "SELECT 1 FROM pg_stat_activity WHERE pid = {}",
    ),
    "mysql": (
        "SELECT CONNECTION_ID()", "KILL {}",
        "SELECT 1 FROM information_schema.PROCESSLIST WHERE id = {}",
    ),
}


def end_connection(connection):
    """End ``connection`` from outside, as a server restart or an administrator would."""
    if DB.backend.name == "sqlite":
        # An embedded database has no server; a closed driver connection is the nearest thing.
        connection.connection.dbapi_connection.close()
        return
    ask_id, kill, alive = KILL_SQL[DB.backend.name]
    server_id = int(connection.exec_driver_sql(ask_id).scalar())
    admin = sa.create_engine(DB.settings.url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as other:
            other.exec_driver_sql(kill.format(server_id))
            deadline = time.monotonic() + 10
            while other.exec_driver_sql(alive.format(server_id)).first() and time.monotonic() < deadline:
                time.sleep(0.02)
    finally:
        admin.dispose()


class LostConnection(ClassData):
    """Tests that lose their connection in every way a test can, and tests after them."""

    def setUp(self):
        if "between_tests" in self._testMethodName:
            # The previous test ended normally; the connection dies before this one starts.
            end_connection(type(self)._dbtestkit_scope.outer.connection)
        super().setUp()

    def write(self):
        self.session.execute(sa.insert(book).values(title="Written before the loss"))
        self.session.commit()

    def test_1_connection_ended_mid_test(self):
        self.write()
        end_connection(self.connection)
        titles(self.session)

    def test_2_fresh_clone_with_class_data(self):
        self.assert_pristine()

    def test_3_connection_ended_after_the_last_statement(self):
        self.write()
        end_connection(self.connection)

    def test_4_fresh_clone_with_class_data(self):
        self.assert_pristine()

    def test_5_connection_ended_between_tests(self):
        self.assert_pristine()

    def test_6_and_the_next(self):
        self.assert_pristine()
        self.write()
