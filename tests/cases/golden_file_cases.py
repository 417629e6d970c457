"""Clone-per-test behaviour of GoldenFileTestCase."""

import os
import subprocess
import sys

import sqlalchemy as sa

import dbtestkit
from tests.cases import DB, SEEDED_AUTHOR
from tests.cases.savepoint_cases import author, book, check_begin_nested_partial_rollback, names, titles


class Pristine:
    database = DB

    def assert_pristine(self):
        self.assertEqual(names(self.session), [SEEDED_AUTHOR])
        self.assertEqual(titles(self.session), [])
        self.assertNotIn("scratch", sa.inspect(self.engine).get_table_names())


class MemoryClones(Pristine, dbtestkit.GoldenFileTestCase):
    def test_own_engine_commits_for_real(self):
        self.assert_pristine()
        own = sa.create_engine(self.url)
        with own.begin() as connection:
            connection.execute(sa.insert(book).values(title="Committed"))
        own.dispose()
        # End the session's snapshot first: MySQL's REPEATABLE READ would hide the commit.
        self.session.rollback()
        self.assertEqual(titles(self.session), ["Committed"])

    def test_ddl(self):
        self.assert_pristine()
        with self.engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE scratch (id INTEGER)"))
        self.assertIn("scratch", sa.inspect(self.engine).get_table_names())

    def test_session_commit(self):
        self.assert_pristine()
        self.session.execute(sa.insert(author).values(name="New"))
        self.session.commit()
        self.assertEqual(len(names(self.session)), 2)

    def test_savepoints_work_in_app_code(self):
        self.assert_pristine()
        check_begin_nested_partial_rollback(self)


# Reads the first book title through the URL in $DBTK_CLONE_URL, in another process.
READ_TITLE = (
    "import os, sqlalchemy as sa\n"
    "engine = sa.create_engine(os.environ['DBTK_CLONE_URL'])\n"
    "with engine.connect() as connection:\n"
    "    print(connection.exec_driver_sql('SELECT title FROM book').scalar())\n"
)


class SharedWithAnotherProcess(Pristine):
    """What a class that hands self.url to another process needs, whichever the backend."""

    def read_in_another_process(self):
        return subprocess.run(
            [sys.executable, "-c", READ_TITLE], env=dict(os.environ, DBTK_CLONE_URL=self.url),
            capture_output=True, text=True, check=True,
        ).stdout.strip()

    def test_another_process_reads_the_clone(self):
        self.assert_pristine()
        self.session.execute(sa.insert(book).values(title="Across processes"))
        self.session.commit()
        self.assertEqual(self.read_in_another_process(), "Across processes")


class FileClones(SharedWithAnotherProcess, dbtestkit.GoldenFileTestCase):
    # The SQLite storage name: still works on every backend, as "shared".
    clone_kind = "file"

    def test_ddl(self):
        self.assert_pristine()
        with self.engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE scratch (id INTEGER)"))
        self.assertIn("scratch", sa.inspect(self.engine).get_table_names())


class SharedClones(SharedWithAnotherProcess, dbtestkit.GoldenFileTestCase):
    clone_kind = "shared"
