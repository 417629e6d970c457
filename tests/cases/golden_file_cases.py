"""Clone-per-test behaviour of GoldenFileTestCase."""

import subprocess
import sys
import unittest

import sqlalchemy as sa

import dbtestkit
from tests.cases import DB, SEEDED_AUTHOR
from tests.cases.savepoint_cases import author, book, names, titles


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
        self.session.execute(sa.insert(book).values(title="Kept"))
        nested = self.session.begin_nested()
        self.session.execute(sa.insert(book).values(title="Dropped"))
        nested.rollback()
        self.session.commit()
        self.assertEqual(titles(self.session), ["Kept"])


@unittest.skipUnless(DB.backend.name == "sqlite", "file clones are a SQLite feature")
class FileClones(Pristine, dbtestkit.GoldenFileTestCase):
    clone_kind = "file"

    def test_another_process_reads_the_clone(self):
        self.assert_pristine()
        self.session.execute(sa.insert(book).values(title="Across processes"))
        self.session.commit()
        path = sa.engine.make_url(self.url).database
        output = subprocess.run(
            [sys.executable, "-c",
             "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("
             "'select title from book').fetchone()[0])", path],
            capture_output=True, text=True, check=True,
        ).stdout
        self.assertEqual(output.strip(), "Across processes")

    def test_ddl(self):
        self.assert_pristine()
        with self.engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE scratch (id INTEGER)"))
        self.assertIn("scratch", sa.inspect(self.engine).get_table_names())
