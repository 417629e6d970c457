"""SQLite's in-process clones: a private copy until the URL is needed, then one database for every engine."""

import sqlite3
import unittest

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import dbtestkit
from dbtestkit.backends.sqlite_memory import CAN_DESERIALIZE
from dbtestkit.exceptions import CloneNotShareable
from tests.backend_projects import BackendProjectCase
from tests.test_foreign_keys import ORPHAN, run_classes

TITLES = sa.text("SELECT title FROM book ORDER BY title")


def add_book(engine, title):
    with engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO book (title) VALUES (:title)"), {"title": title})


def titles(bind):
    with bind.connect() as connection:
        return connection.execute(TITLES).scalars().all()


@unittest.skipUnless(CAN_DESERIALIZE, "private copies need Connection.deserialize (Python 3.11+)")
class LazilySharedClones(BackendProjectCase):
    """What a test wrote through its engine is there when it first reads the URL, and after."""

    def setUp(self):
        super().setUp()
        self.db = self.database()
        self.clone = self.db.clone()
        self.addCleanup(self.clone.drop)

    def own_engine(self):
        engine = sa.create_engine(self.clone.url)
        self.addCleanup(engine.dispose)
        return engine

    def test_the_copy_is_private_until_the_url_is_read(self):
        add_book(self.clone.engine, "Before")
        uri = self.clone.shared_url[len("sqlite:///"):-len("&uri=true")]
        outsider = sqlite3.connect(uri, uri=True)
        self.addCleanup(outsider.close)
        self.assertEqual(outsider.execute("SELECT count(*) FROM sqlite_master").fetchone()[0], 0)

    def test_writes_before_the_url_is_read_are_seen_through_it_and_later_writes_both_ways(self):
        add_book(self.clone.engine, "Before")
        own = self.own_engine()
        self.assertEqual(titles(own), ["Before"])
        add_book(own, "Through the URL")
        add_book(self.clone.engine, "Through the engine")
        self.assertEqual(titles(own), ["Before", "Through the URL", "Through the engine"])
        self.assertEqual(titles(self.clone.engine), titles(own))

    def test_a_session_holding_its_connection_moves_with_it(self):
        session = Session(self.clone.engine)
        self.addCleanup(session.close)
        self.assertEqual(session.execute(TITLES).scalars().all(), [])  # holds a connection now
        own = self.own_engine()
        session.execute(sa.text("INSERT INTO book (title) VALUES ('From the session')"))
        session.commit()
        self.assertEqual(titles(own), ["From the session"])

    def test_a_second_connection_at_once_sees_the_same_database(self):
        with self.clone.engine.connect() as first:
            first.execute(TITLES)
            with self.clone.engine.begin() as second:
                second.execute(sa.text("INSERT INTO book (title) VALUES ('Second')"))
            first.rollback()
            self.assertEqual(first.execute(TITLES).scalars().all(), ["Second"])
            first.execute(sa.text("INSERT INTO book (title) VALUES ('First')"))
            first.commit()
        self.assertEqual(titles(self.own_engine()), ["First", "Second"])

    def test_uncommitted_writes_when_the_url_is_needed_are_refused_not_lost(self):
        with self.clone.engine.connect() as connection:
            connection.execute(sa.text("INSERT INTO book (title) VALUES ('Uncommitted')"))
            with self.assertRaises(CloneNotShareable) as raised:
                self.clone.url
            self.assertIn("Read self.url before", str(raised.exception))
            connection.commit()
        self.assertEqual(titles(self.own_engine()), ["Uncommitted"])

    def test_temporary_tables_when_the_url_is_needed_are_refused(self):
        with self.clone.engine.connect() as connection:
            connection.execute(sa.text("CREATE TEMP TABLE scratch (id INTEGER)"))
            with self.assertRaises(CloneNotShareable):
                self.clone.url

    def test_foreign_keys_stay_on_for_moved_and_new_connections(self):
        session = Session(self.clone.engine)
        self.addCleanup(session.close)
        session.execute(TITLES)
        for bind in (session, self.own_engine().connect()):
            with self.assertRaises(IntegrityError):
                bind.execute(ORPHAN)
            bind.rollback()

    def test_a_kept_private_copy_holds_what_the_test_wrote(self):
        add_book(self.clone.engine, "Kept")
        path = self.clone.keep("tests.LazilySharedClones.kept")
        engine = sa.create_engine(f"sqlite:///{path}")
        self.addCleanup(engine.dispose)
        self.assertEqual(titles(engine), ["Kept"])

    def test_golden_file_test_case_reads_the_url_only_when_the_test_does(self):
        shared = []

        class Tests(dbtestkit.GoldenFileTestCase):
            def test_engine_only(test):
                add_book(test.engine, "Private")
                shared.append(test._dbtestkit_clones[0][1]._url)

            def test_url_after_a_commit(test):
                test.session.execute(sa.text("INSERT INTO book (title) VALUES ('Committed')"))
                test.session.commit()
                engine = sa.create_engine(test.url)
                test.addCleanup(engine.dispose)
                test.assertEqual(titles(engine), ["Committed"])

        Tests.database = self.db
        result = run_classes(Tests)
        self.assertEqual(result.problems, [])
        self.assertEqual(result.testsRun, 2)
        self.assertEqual(shared, [None])


if __name__ == "__main__":
    unittest.main()
