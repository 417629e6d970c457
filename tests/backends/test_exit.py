"""A server suite does not wait at exit: what its pools hold is left to the next run's reap, which runs in the background."""

import textwrap
import threading

from tests.backends import for_each_backend
from tests.support import run_python, wait_until

# Uses a few pooled clones, then exits normally: args url, alembic.ini, cache dir.
CLONES_THEN_EXITS = textwrap.dedent("""
    import sys
    import dbtestkit

    url, ini, cache = sys.argv[1:4]
    database = dbtestkit.TestDatabase(url, alembic_ini=ini, cache_dir=cache)
    for _ in range(4):
        with database.clone() as clone, clone.engine.connect() as connection:
            connection.exec_driver_sql("SELECT count(*) FROM author").scalar()
""")


@for_each_backend("postgresql", "mysql")
class ExitLeavesDropsToTheNextReap:
    """At exit the pools' prepared and used clones stay, provably ours; the next run's first clone reaps them."""

    def setUp(self):
        super().setUp()
        # Before the side removes everything: the reaper of this process may still be dropping.
        self.addCleanup(join_reapers)

    def run_child(self):
        result = run_python(["-c", CLONES_THEN_EXITS, self.side.database_url, str(self.ini),
                             str(self.cache_dir)], cwd=self.tmp)
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_the_clones_a_process_leaves_at_exit_are_all_the_next_runs_reap_takes(self):
        database = self.make_database()
        fingerprint = database.ensure_golden().fingerprint
        self.run_child()
        left = set(self.side.clones(fingerprint))
        # Prepared ones at least: the pool keeps two ready, and the exit waited for no DROP.
        self.assertTrue(left, "the process dropped its clones at exit: the user waited for them")
        self.assertEqual(self.side.not_reaped(fingerprint), [])
        with database.clone() as clone, clone.engine.connect() as connection:
            self.assertEqual(connection.exec_driver_sql("SELECT count(*) FROM author").scalar(), 1)
            self.assertNotIn(clone.name, left)
        self.assertTrue(wait_until(lambda: not left & set(self.side.clones(fingerprint)), timeout=60),
                        f"the next run did not reap {sorted(left & set(self.side.clones(fingerprint)))}")
        self.assertEqual([a for a in self.side.leftovers(fingerprint) if any(n in a for n in left)], [])



def join_reapers():
    """Wait for this process's background reaps to finish."""
    for thread in threading.enumerate():
        if thread.name == "dbtestkit-reaper":
            thread.join(timeout=60)
