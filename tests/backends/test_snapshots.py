"""Class snapshots: setUpTestData's rows loaded once per GoldenFileTestCase class, a copy per test."""

import textwrap
import unittest

import sqlalchemy as sa
from sqlalchemy import text

import dbtestkit
from tests.backends import for_each_backend
from tests.support import run_python

# What the golden holds (revision 0004 of the default history).
GOLDEN_AUTHORS = ["Ursula K. Le Guin"]
CLASS_AUTHORS = ["Class One", "Class Two"]


def names(connection):
    """Return the author names in the database of ``connection``, sorted."""
    return sorted(connection.execute(text("SELECT name FROM author")).scalars())


def run_case(case):
    """Run every test of ``case`` (class fixtures included); return the TestResult."""
    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(case).run(result)
    return result


def library_case(database, seen):
    """Return a GoldenFileTestCase with class data whose tests each change it and note what they saw."""

    class Library(dbtestkit.GoldenFileTestCase):
        @classmethod
        def setUpTestData(cls, connection):
            seen.append("loaded")
            connection.execute(text("INSERT INTO author (name) VALUES ('Class One'), ('Class Two')"))

        def check_and_change(self, statement):
            snapshot = type(self)._dbtestkit_snapshot
            seen.append((snapshot.source.name, self.url))
            # Class data, and nothing a previous test did to it.
            self.assertEqual(names(self.session), sorted(GOLDEN_AUTHORS + CLASS_AUTHORS))
            self.session.execute(text(statement))
            self.session.commit()
            # Committed for real: another connection of the test's own sees it.
            with self.engine.connect() as other:
                self.assertNotEqual(names(other), sorted(GOLDEN_AUTHORS + CLASS_AUTHORS))

        def test_delete(self):
            self.check_and_change("DELETE FROM author")

        def test_insert(self):
            self.check_and_change("INSERT INTO author (name) VALUES ('Test Only')")

        def test_update(self):
            self.check_and_change("UPDATE author SET name = 'Renamed' WHERE name = 'Class One'")

    Library.database = database
    return Library


@for_each_backend()
class ClassSnapshots:
    """GoldenFileTestCase.setUpTestData: class data loaded once, each test on its own copy"""

    def test_class_data_is_loaded_once_and_every_test_starts_from_it(self):
        database = self.make_database()
        seen = []
        result = run_case(library_case(database, seen))
        self.assertEqual((result.testsRun, result.failures, result.errors), (3, [], []))
        self.assertEqual(seen.count("loaded"), 1)
        sources = {entry[0] for entry in seen if entry != "loaded"}
        urls = [entry[1] for entry in seen if entry != "loaded"]
        self.assertEqual(len(sources), 1, "the tests of one class share one snapshot")
        self.assertEqual(len(set(urls)), 3, "every test gets a copy of its own")

    def test_the_snapshot_and_its_copies_are_dropped_when_the_class_ends(self):
        database = self.make_database()
        seen = []
        run_case(library_case(database, seen))
        database.close()  # the golden's own prepared clones
        self.assertEqual(self.side.leftovers(database.fingerprint(), self.cache_dir), [])
        # Another class of the same database starts from the golden alone.
        with database.clone() as clone, clone.engine.connect() as connection:
            self.assertEqual(names(connection), GOLDEN_AUTHORS)
        clone.engine.dispose()

    def test_a_class_without_class_data_gets_plain_clones_of_the_golden(self):
        database = self.make_database()

        class Plain(dbtestkit.GoldenFileTestCase):
            def test_golden_only(self):
                self.assertEqual(names(self.session), GOLDEN_AUTHORS)
                self.assertIsNone(type(self)._dbtestkit_snapshot)

        Plain.database = database
        result = run_case(Plain)
        self.assertEqual((result.testsRun, result.failures, result.errors), (1, [], []))

    def test_copies_check_foreign_keys_like_clones_of_the_golden(self):
        database = self.make_database()

        class Orphans(dbtestkit.GoldenFileTestCase):
            @classmethod
            def setUpTestData(cls, connection):
                connection.execute(text("INSERT INTO book (title, author_id) SELECT 'Earthsea', id FROM author"))

            def test_orphan_book(self):
                with self.assertRaises(sa.exc.IntegrityError):
                    with self.engine.begin() as connection:
                        connection.execute(text("INSERT INTO book (title, author_id) VALUES ('Lost', 999)"))

        Orphans.database = database
        result = run_case(Orphans)
        self.assertEqual((result.testsRun, result.failures, result.errors), (1, [], []))

    def test_failing_class_data_fails_the_class_and_leaves_nothing(self):
        database = self.make_database()

        class Broken(dbtestkit.GoldenFileTestCase):
            @classmethod
            def setUpTestData(cls, connection):
                connection.execute(text("INSERT INTO author (name) VALUES ('Half')"))
                connection.execute(text("INSERT INTO no_such_table VALUES (1)"))

            def test_never_runs(self):
                raise AssertionError("ran without its class data")

        Broken.database = database
        result = run_case(Broken)
        self.assertEqual(len(result.errors), 1)
        self.assertIn("no_such_table", result.errors[0][1])
        database.close()
        self.assertEqual(self.side.leftovers(database.fingerprint(), self.cache_dir), [])

    def test_set_up_class_without_super_is_explained(self):
        database = self.make_database()

        class NoSuper(dbtestkit.GoldenFileTestCase):
            @classmethod
            def setUpClass(cls):
                pass

            @classmethod
            def setUpTestData(cls, connection):
                connection.execute(text("INSERT INTO author (name) VALUES ('Lost')"))

            def test_it(self):
                pass

        NoSuper.database = database
        result = run_case(NoSuper)
        self.assertEqual(len(result.errors), 1)
        self.assertIn("did not call super().setUpClass()", result.errors[0][1])

    def test_snapshot_of_a_killed_process_is_reaped_as_ours(self):
        database = self.make_database()
        database.ensure_golden()
        child = run_python(textwrap.dedent(f"""
            import os
            import time
            from sqlalchemy import text
            import dbtestkit

            database = dbtestkit.TestDatabase({self.side.url!r}, alembic_ini={str(self.ini)!r},
                                              cache_dir={str(self.cache_dir)!r})
            snapshot = database.snapshot(
                lambda connection: connection.execute(text("INSERT INTO author (name) VALUES ('x')")))
            snapshot.open()
            snapshot.clone().drop()
            # Killed once the pools are idle: a CREATE DATABASE cut off half-way is another test's.
            pools = list(snapshot._pools.values()) + list(database.golden._pools.values())
            while any(p.status()["making"] or p.status()["ready"] < p.status()["size"] for p in pools):
                time.sleep(0.01)
            print(snapshot.source.name, flush=True)
            os._exit(0)  # killed: no cleanup, no atexit
        """))
        self.assertEqual(child.returncode, 0, child.stderr)
        fingerprint = database.fingerprint()
        if self.backend != "sqlite":  # on SQLite the snapshot lived in the child's memory
            self.assertIn(child.stdout.split()[0], self.side.artifacts(fingerprint, self.cache_dir))
        database.backend.reap()
        self.assertEqual(self.side.leftovers(fingerprint, self.cache_dir), [])

    def test_shared_clones_of_the_snapshot_hold_the_class_data(self):
        database = self.make_database()
        with database.snapshot(lambda c: c.execute(text("INSERT INTO author (name) VALUES ('Snap')"))) as snap:
            with snap.clone(kind="shared") as clone:
                # Another process opens the copy's URL and reads the class data.
                child = run_python(["-c", "import sys, sqlalchemy as sa\n"
                                          "engine = sa.create_engine(sys.argv[1])\n"
                                          "with engine.connect() as c:\n"
                                          "    print(sorted(c.execute(sa.text('SELECT name FROM author')).scalars()))\n"
                                          "engine.dispose()\n", clone.url])
                self.assertEqual(child.returncode, 0, child.stderr)
                self.assertEqual(child.stdout.strip(), repr(sorted(GOLDEN_AUTHORS + ["Snap"])))
        database.close()
        self.assertEqual(self.side.leftovers(database.fingerprint(), self.cache_dir), [])


@for_each_backend("postgresql", "mysql")
class SnapshotPools:
    """On the servers, copies of a snapshot are made ahead, but no more than the class will take"""

    def test_no_more_copies_are_made_ahead_than_expected(self):
        database = self.make_database()
        load = lambda connection: connection.execute(text("INSERT INTO author (name) VALUES ('P')"))  # noqa: E731
        with database.snapshot(load, expected=3) as snapshot:
            taken = [snapshot.clone() for _ in range(3)]
            (pool,) = snapshot._pools.values()
            self.assertEqual({key: pool.status()[key] for key in ("ready", "making")},
                             {"ready": 0, "making": 0})
            extra = snapshot.clone()  # one more than expected: made on the spot
            taken.append(extra)
            self.assertEqual(len({clone.name for clone in taken}), 4)
            with extra.engine.connect() as connection:
                self.assertEqual(names(connection), sorted(GOLDEN_AUTHORS + ["P"]))
            for clone in taken:
                clone.drop()
        database.close()
        self.assertEqual(self.side.leftovers(database.fingerprint(), self.cache_dir), [])
