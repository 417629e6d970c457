"""Savepoint mode and other connections: a lock the test holds fails fast, with an explanation.

The test's own transaction is never committed, so another connection that
needs one of its locks could only wait forever (PostgreSQL) or for 50 s
(MariaDB). Other connections get a short lock wait; the test's own keeps the
server's.
"""

import threading
import time

import sqlalchemy as sa

import dbtestkit
from tests.cases import DB, SEEDED_AUTHOR
from tests.cases.savepoint_cases import author, names

# Well under the 50 s (MariaDB) or forever (PostgreSQL) that other connections waited before.
FAIL_FAST_SECONDS = 10


class OtherConnections(dbtestkit.DatabaseTestCase):
    database = DB

    def assert_fails_fast_with_advice(self, statement):
        started = time.monotonic()
        with self.assertRaises(dbtestkit.LockWaitTimeout) as caught:
            with self.engine.connect() as other:
                other.execute(statement)
        self.assertLess(time.monotonic() - started, FAIL_FAST_SECONDS)
        message = str(caught.exception)
        self.assertIn("own transaction", message)
        self.assertIn("self.session", message)
        self.assertIn("GoldenFileTestCase", message)
        # The driver's own error stays visible, chained.
        self.assertIsNotNone(caught.exception.__cause__)

    def test_writing_a_row_the_test_wrote(self):
        self.session.execute(sa.insert(author).values(name="Written by the test"))
        self.session.commit()
        self.assert_fails_fast_with_advice(sa.insert(author).values(name="Written by the test"))

    def test_ddl_on_a_table_the_test_wrote(self):
        self.session.execute(sa.insert(author).values(name="Written by the test"))
        self.session.commit()
        self.assert_fails_fast_with_advice(sa.text("ALTER TABLE author ADD COLUMN note VARCHAR(20)"))

    def test_the_next_test_is_pristine(self):
        self.assertEqual(names(self.session), [SEEDED_AUTHOR])


class OwnConnection(dbtestkit.DatabaseTestCase):
    database = DB

    def test_waits_as_long_as_the_server_lets_it(self):
        if DB.backend.name == "sqlite":
            self.skipTest("an in-memory SQLite database has one writer; its own wait stays short")
        hold = 2 * DB.backend.other_connections_lock_wait + 0.5
        other = self.engine.connect()
        rename = sa.update(author).where(author.c.name == SEEDED_AUTHOR)
        other.execute(rename.values(name="Held by another connection"))

        def release():
            time.sleep(hold)
            other.rollback()
            other.close()

        thread = threading.Thread(target=release)
        started = time.monotonic()
        thread.start()
        try:
            # Waits for the other connection's row lock, longer than other connections may.
            self.session.execute(rename.values(name="Renamed by the test"))
        finally:
            thread.join()
        self.assertGreater(time.monotonic() - started, hold - 0.5)
        self.assertEqual(names(self.session), ["Renamed by the test"])
