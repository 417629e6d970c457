"""Foreign keys are checked in every test's database, SQLite included; golden builds and migration walks are not."""

import contextlib
import io
import os
import unittest

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

import dbtestkit
from dbtestkit.exceptions import ConfigurationError
from dbtestkit.migration_checks import MigrationRunner, run_check
from tests.backend_projects import BackendProjectCase
from tests.support import DEFAULT_REVISIONS, write_project

ORPHAN = sa.text("INSERT INTO book (title, author_id) VALUES ('Orphan', 999999)")

# Rows in a child table, then a batch migration that recreates its parent on
# SQLite (ALTER COLUMN elsewhere): with foreign keys on, dropping the old parent
# table deletes its rows, which the child's rows still reference, and fails.
RECREATE_PARENT = [
    *DEFAULT_REVISIONS,
    ("0005", "a book by the seeded author", (
        'op.execute("INSERT INTO book (title, author_id) SELECT \'The Dispossessed\', id FROM author")'
    ), 'op.execute("DELETE FROM book")'),
    ("0006", "widen author name", (
        'with op.batch_alter_table("author") as batch:\n'
        '    batch.alter_column("name", type_=sa.String(200), existing_type=sa.String(100), '
        'existing_nullable=False)'
    ), (
        'with op.batch_alter_table("author") as batch:\n'
        '    batch.alter_column("name", type_=sa.String(100), existing_type=sa.String(200), '
        'existing_nullable=False)'
    )),
]


def run_classes(*classes):
    """Run the tests of ``classes``; return the result, failing tracebacks in ``.problems``."""
    suite = unittest.TestSuite(unittest.defaultTestLoader.loadTestsFromTestCase(c) for c in classes)
    result = unittest.TestResult()
    with contextlib.redirect_stderr(io.StringIO()):
        suite.run(result)
    result.problems = [text for _, text in result.errors + result.failures]
    return result


class ForeignKeysEnforced(BackendProjectCase):
    """On every backend, a row that breaks a foreign key is an IntegrityError in a test."""

    revisions = RECREATE_PARENT

    def enterContext_(self, manager):
        # TestCase.enterContext is Python 3.11+.
        value = manager.__enter__()
        self.addCleanup(manager.__exit__, None, None, None)
        return value

    def assert_passed(self, result, count):
        self.assertEqual(result.problems, [])
        self.assertEqual(result.testsRun, count)

    def test_savepoint_mode_session_and_connection_raise_integrity_error(self):
        database = self.database()

        class Savepoint(dbtestkit.DatabaseTestCase):
            def test_session(test):
                with test.assertRaises(IntegrityError):
                    test.session.execute(ORPHAN)

            def test_connection(test):
                with test.assertRaises(IntegrityError):
                    with test.connection.begin_nested():
                        test.connection.execute(ORPHAN)

        Savepoint.database = database
        self.assert_passed(run_classes(Savepoint), 2)

    def test_clone_mode_engine_session_and_an_engine_made_from_the_url_raise_integrity_error(self):
        database = self.database()

        class Clone(dbtestkit.GoldenFileTestCase):
            def test_engine(test):
                with test.assertRaises(IntegrityError), test.engine.begin() as connection:
                    connection.execute(ORPHAN)

            def test_session(test):
                with test.assertRaises(IntegrityError):
                    test.session.execute(ORPHAN)

            def test_own_engine_from_the_url(test):
                engine = sa.create_engine(test.url)
                test.addCleanup(engine.dispose)
                with test.assertRaises(IntegrityError), engine.begin() as connection:
                    connection.execute(ORPHAN)

        Clone.database = database
        self.assert_passed(run_classes(Clone), 3)

    def test_a_batch_migration_recreating_a_parent_table_builds_and_walks(self):
        # A test's clone is open (its foreign keys on) while the golden is built.
        other = self.database(alembic_ini=write_project(self.tmp / "other", env_py=self.env_py))
        self.enterContext_(other.clone())
        database = self.database()
        golden = database.ensure_golden()
        self.assertTrue(golden.built)
        with database.clone() as clone, clone.engine.connect() as connection:
            rows = connection.execute(sa.text(
                "SELECT author.name, book.title FROM book JOIN author ON author.id = book.author_id"
            )).all()
        self.assertEqual([tuple(row) for row in rows], [("Ursula K. Le Guin", "The Dispossessed")])
        # The checks walk the history down and up on clones: batch steps there too.
        run_check("up_down_consistency", MigrationRunner(database))


class ForeignKeysEnforcedOnPostgreSQL(ForeignKeysEnforced):
    backend = "postgresql"


class ForeignKeysEnforcedOnMySQL(ForeignKeysEnforced):
    backend = "mysql"


class SQLiteForeignKeysSetting(BackendProjectCase):
    """``sqlite_foreign_keys`` (``DBTESTKIT_SQLITE_FOREIGN_KEYS``) turns SQLite's checks off."""

    def foreign_keys_in_a_test(self, database):
        seen = []

        class Probe(dbtestkit.GoldenFileTestCase):
            def test_probe(test):
                with test.engine.connect() as connection:
                    seen.append(connection.exec_driver_sql("PRAGMA foreign_keys").scalar())

        Probe.database = database
        result = run_classes(Probe)
        self.assertEqual(result.problems, [])
        return seen[0]

    def test_on_by_default(self):
        self.assertEqual(self.foreign_keys_in_a_test(self.database()), 1)

    def test_keyword_turns_it_off(self):
        self.assertEqual(self.foreign_keys_in_a_test(self.database(sqlite_foreign_keys=False)), 0)

    def test_environment_turns_it_off_and_orphans_get_in(self):
        os.environ["DBTESTKIT_SQLITE_FOREIGN_KEYS"] = "0"
        self.addCleanup(os.environ.pop, "DBTESTKIT_SQLITE_FOREIGN_KEYS", None)
        database = self.database()
        self.assertEqual(self.foreign_keys_in_a_test(database), 0)
        with database.clone() as clone, clone.engine.begin() as connection:
            connection.execute(ORPHAN)

    def test_a_word_that_is_no_yes_or_no_names_the_variable(self):
        os.environ["DBTESTKIT_SQLITE_FOREIGN_KEYS"] = "sometimes"
        self.addCleanup(os.environ.pop, "DBTESTKIT_SQLITE_FOREIGN_KEYS", None)
        with self.assertRaises(ConfigurationError) as raised:
            self.database()
        self.assertIn("DBTESTKIT_SQLITE_FOREIGN_KEYS", str(raised.exception))
        self.assertIn("use 1/0", str(raised.exception))

    def test_other_sqlite_databases_and_dropped_clones_are_left_alone(self):
        database = self.database()
        with database.clone() as clone:
            url = clone.url
        live = database.clone()
        self.addCleanup(live.drop)
        path = self.tmp / "app.sqlite"
        for target in (url, f"sqlite:///{path}", "sqlite://", database.ensure_golden().url):
            engine = sa.create_engine(target)
            with engine.connect() as connection:
                self.assertEqual(connection.exec_driver_sql("PRAGMA foreign_keys").scalar(), 0, target)
            engine.dispose()


if __name__ == "__main__":
    unittest.main()
