"""Clones on every backend: private copies of the golden, dropped even with connections open, never leaked."""

import textwrap
import threading
import time

import sqlalchemy as sa

from dbtestkit.golden.pool import ClonePool
from tests.backends import for_each_backend
from tests.backends.sides import run_sql
from tests.support import start_python, wait_until

HEAD = "0004"
SEEDED = [("Ursula K. Le Guin",)]

# Takes three shared clones, drops one, leaves a connection open on another, exits normally.
USE_THREE_CLONES = textwrap.dedent("""
    import sys
    import dbtestkit
    database = dbtestkit.TestDatabase(sys.argv[1], alembic_ini=sys.argv[2], cache_dir=sys.argv[3])
    clones = [database.clone("shared") for _ in range(3)]
    clones[0].drop()
    with clones[1].engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
    kept_open = clones[2].engine.connect()
    print(" ".join(clone.name for clone in clones), flush=True)
    # Exits with two clones undropped and a connection open: atexit must clean up.
""")


@for_each_backend()
class Clones:
    """Clones hold the golden, keep their writes to themselves and are dropped despite open connections"""

    def setUp(self):
        super().setUp()
        self.db = self.make_database()
        self.golden = self.db.ensure_golden()
        self.fingerprint = self.golden.fingerprint
        self.storage = self.db.backend.clone_storage("shared")

    def assertNothingLeft(self):
        self.db.close()  # drops the clones a pool made ahead
        self.assertEqual(self.side.leftovers(self.fingerprint), [])

    def test_clones_hold_the_golden_and_writes_stay_private(self):
        with self.db.clone("shared") as first, self.db.clone("shared") as second:
            self.assertNotEqual(first.name, second.name)
            for clone in (first, second):
                self.assertEqual(run_sql(clone.url, "SELECT version_num FROM alembic_version"), [(HEAD,)])
                self.assertEqual(run_sql(clone.url, "SELECT name FROM author"), SEEDED)
            with first.engine.begin() as connection:
                connection.execute(sa.text("INSERT INTO author (name) VALUES ('Only in first')"))
                connection.execute(sa.text("CREATE TABLE scratch (id INTEGER)"))
            self.assertEqual(run_sql(second.url, "SELECT name FROM author"), SEEDED)
            self.assertNotIn("scratch", self.side.tables(second.url))
            with self.db.clone("shared") as third:
                self.assertEqual(run_sql(third.url, "SELECT name FROM author"), SEEDED)
            self.assertEqual(sorted(run_sql(first.url, "SELECT name FROM author")),
                             [("Only in first",), *SEEDED])
        self.assertAtGolden()
        self.assertNothingLeft()

    def assertAtGolden(self):
        """A new clone still holds exactly the golden: nothing written to a clone reached it."""
        with self.db.clone() as clone:
            self.assertEqual(run_sql(clone.url, "SELECT name FROM author"), SEEDED)
            self.assertNotIn("scratch", self.side.tables(clone.url))

    def test_drop_does_not_hang_on_a_connection_left_in_a_transaction(self):
        clone = self.db.backend.clone(self.fingerprint, self.storage)
        engine = sa.create_engine(clone.url, poolclass=sa.pool.NullPool)
        self.addCleanup(engine.dispose)
        connection = engine.connect()
        self.addCleanup(connection.invalidate)
        connection.execute(sa.text("INSERT INTO author (name) VALUES ('uncommitted')"))
        connection.execute(sa.text("SELECT * FROM book" + (" FOR UPDATE" if self.backend != "sqlite" else "")))
        self.assertTrue(connection.in_transaction())
        started = time.monotonic()
        clone.drop()
        self.assertLess(time.monotonic() - started, 20, "drop() waited for the open transaction")
        self.assertTrue(clone.dropped)
        self.assertNothingLeft()
        if self.backend != "sqlite":  # a file clone's open connection keeps its unlinked file
            with self.assertRaises(sa.exc.DBAPIError):
                connection.execute(sa.text("SELECT 1"))

    def test_a_clone_from_the_pool_is_dropped_despite_an_open_connection(self):
        clone = self.db.clone("shared")
        connection = sa.create_engine(clone.url, poolclass=sa.pool.NullPool).connect()
        self.addCleanup(connection.invalidate)
        connection.execute(sa.text("SELECT 1"))
        clone.drop()
        gone = wait_until(lambda: not [a for a in self.side.clones(self.fingerprint) if clone.name in a])
        self.assertTrue(gone, f"{clone.name} still exists 10 s after drop()")

    def test_clones_have_distinct_names_never_reused_and_are_all_dropped(self):
        clones = [self.db.backend.clone(self.fingerprint, self.storage) for _ in range(10)]
        names = [clone.name for clone in clones]
        self.assertEqual(len(set(names)), 10)
        for name in names:
            self.assertIn(self.fingerprint[:12], name)
            if self.backend != "sqlite":
                self.assertLessEqual(len(name), 63)  # the servers' longest identifier
        left = self.side.clones(self.fingerprint)
        self.assertEqual(len(left), 10, left)
        self.assertTrue(all(any(name in artifact for artifact in left) for name in names), left)
        for clone in clones:
            clone.drop()
            clone.drop()  # a second drop is harmless
        # Taken one after another, each dropped before the next: a name is still never reused.
        for _ in range(3):
            with self.db.clone("shared") as clone:
                names.append(clone.name)
        self.assertEqual(len(set(names)), 13, names)
        self.assertNothingLeft()

    def test_a_process_exiting_normally_leaves_no_clone_reap_would_miss(self):
        child = start_python(USE_THREE_CLONES, self.side.database_url, self.ini, self.cache_dir, cwd=self.tmp)
        out, err = child.communicate(timeout=60)
        self.assertEqual(child.returncode, 0, err)
        names = out.split()
        self.assertEqual(len(set(names)), 3)
        self.assertTrue(all(self.fingerprint[:12] in name for name in names), names)
        # On the servers the exit waits for no DROP: its pool's clones are the next reap's.
        self.assertEqual(self.side.not_reaped(self.fingerprint), [])
        self.assertNothingLeft() if self.backend == "sqlite" else None
        self.assertTrue(self.side.has_golden(self.fingerprint))


@for_each_backend("postgresql", "mysql")
class ClonePools:
    """The servers' pool of clones made ahead never hands one out twice, serves threads, closes cleanly"""

    def setUp(self):
        super().setUp()
        self.db = self.make_database()
        self.fingerprint = self.db.ensure_golden().fingerprint

    def take_clones(self, threads, each):
        """Take ``threads * each`` clones through TestDatabase.clone() from ``threads`` threads.

        Returns the clones taken within 10 s; a taker that starves is left
        behind (a daemon thread) rather than hanging the run.
        """
        taken, lock = [], threading.Lock()
        self.addCleanup(lambda: [clone.drop() for clone in list(taken)])
        taken.append(self.db.clone())  # creates the pool in this thread

        def take():
            for _ in range(each):
                clone = self.db.clone()
                with lock:
                    taken.append(clone)

        workers = [threading.Thread(target=take, daemon=True) for _ in range(threads)]
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 10
        for worker in workers:
            worker.join(timeout=max(0.0, deadline - time.monotonic()))
        with lock:
            return list(taken)

    def check_pool(self, taken, expected):
        names = [clone.name for clone in taken]
        self.assertEqual(len(names), expected, f"only {len(names)} of {expected} clones were handed out")
        self.assertEqual(len(set(names)), expected, names)
        pools = {clone.releaser.__self__ for clone in taken}
        self.assertEqual(len(pools), 1)
        (pool,) = pools
        self.assertIsInstance(pool, ClonePool)
        self.assertLessEqual(set(names), set(self.side.databases(self.fingerprint)))
        half = len(taken) // 2
        for clone in taken[:half]:
            clone.drop()  # released to the pool, dropped in the background
        pool.close()
        for clone in taken[half:]:
            clone.drop()  # after close: dropped at once
        self.assertEqual(self.side.leftovers(self.fingerprint), [])

    def test_pool_never_hands_out_a_clone_twice_and_close_drops_everything(self):
        self.check_pool(self.take_clones(threads=1, each=5), expected=6)

    def test_pool_serves_concurrent_takers(self):
        # Four threads share one TestDatabase (a threaded test runner, or a test
        # that clones from worker threads): each must get its clones.
        self.check_pool(self.take_clones(threads=4, each=2), expected=9)
