"""Leftovers on every backend: reap removes clones of dead processes only, prune old goldens of ours only.

reap() and prune() act on everything of the connecting account, so on the
servers they run as an account of the test's own (``side.account``).
"""

import signal
import subprocess
import textwrap

from tests.backends import for_each_backend
from tests.support import kill, start_python, write_project

DESK = ("0005", "add desk", 'op.create_table("desk", sa.Column("id", sa.Integer, primary_key=True))',
        'op.drop_table("desk")')

# Takes a shared clone, prints its name, then dies (SIGKILL) or waits for stdin to close.
CLONE_AND_DIE = textwrap.dedent("""
    import os, signal, sys, time
    import dbtestkit
    database = dbtestkit.TestDatabase(sys.argv[1], alembic_ini=sys.argv[2], cache_dir=sys.argv[3])
    clone = database.clone("shared")
    if database.backend.pooled:
        time.sleep(1)  # let the pool finish preparing the next clones
    print(clone.name, flush=True)
    if sys.argv[4] == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    sys.stdin.read()
""")


@for_each_backend()
class ReapAndPrune:
    """reap drops the clones of killed processes and no live one's; prune drops only our old goldens"""

    def setUp(self):
        super().setUp()
        # Three projects: this one, its next version, and one of the admin's.
        self.current_ini = write_project(self.tmp / "current", [*self.revisions, DESK], self.env_py)
        self.foreign_ini = write_project(self.tmp / "admins", self.revisions, self.env_py + "# admin\n")
        fingerprints = [self.make_database(alembic_ini=ini).fingerprint()
                        for ini in (self.ini, self.current_ini, self.foreign_ini)]
        self.own = self.side.account(self, fingerprints)
        self.db = self.make_database(url=self.own)
        self.fingerprint = self.db.ensure_golden().fingerprint

    def start(self, mode):
        child = start_python(CLONE_AND_DIE, self.own, self.ini, self.cache_dir, mode, cwd=self.tmp,
                             stdin=subprocess.PIPE)
        self.addCleanup(kill, child)
        return child

    def of(self, pid, names):
        return sorted(str(name) for name in names if self.side.name_has_pid(name, pid))

    def test_a_clone_of_a_killed_process_is_reaped_and_a_clone_of_a_live_process_is_not(self):
        holder = self.start("hold")
        held = holder.stdout.readline().strip()
        self.assertTrue(held, holder.stderr.read() if holder.poll() is not None else "no output")

        dying = self.start("die")
        name = dying.stdout.readline().strip()
        dying.wait(timeout=30)
        self.assertEqual(dying.returncode, -signal.SIGKILL)
        self.assertTrue(self.side.name_has_pid(name, dying.pid), name)

        of_dead = self.of(dying.pid, self.side.clones(self.fingerprint))
        self.assertTrue(any(name in n for n in of_dead), of_dead)
        leftovers = [str(n) for n in self.db.backend.leftover_clones()]
        self.assertEqual(self.of(dying.pid, leftovers), sorted(leftovers))
        self.assertEqual(len(leftovers), len(of_dead), (leftovers, of_dead))
        self.assertFalse([n for n in leftovers if held in n], "a live process's clone is a leftover")
        reaped = self.db.backend.reap()
        self.assertEqual(len(reaped), len(of_dead))
        self.assertEqual(self.of(dying.pid, reaped), sorted(map(str, reaped)))
        remaining = self.side.clones(self.fingerprint)
        self.assertTrue(any(held in n for n in remaining), remaining)
        self.assertEqual(self.of(dying.pid, remaining), [])
        self.assertEqual(self.db.backend.leftover_clones(), [])

        holder.communicate("", timeout=30)
        self.assertEqual(holder.returncode, 0)
        # A normal exit does not wait for drops: what the holder's pool held is
        # left, provably its own, to the next reap, which takes all of it.
        left = self.side.clones(self.fingerprint)
        self.assertEqual(sorted(map(str, self.db.backend.reap())), sorted(n for n in left if "intent" not in n))
        self.assertEqual(self.side.clones(self.fingerprint), [])

    def test_prune_drops_our_goldens_of_other_fingerprints_and_keeps_the_current_one(self):
        old = self.fingerprint
        foreign = None
        if self.backend != "sqlite":  # the cache is the test's own: every golden in it is ours
            foreign = self.make_database(alembic_ini=self.foreign_ini).ensure_golden().fingerprint
        current_db = self.make_database(url=self.own, alembic_ini=self.current_ini)
        current = current_db.fingerprint()
        self.assertTrue(current_db.ensure_golden().built)
        self.assertEqual(len({old, foreign, current}), 3)
        listed = sorted(golden.fingerprint for golden in current_db.backend.list_goldens())
        self.assertEqual(len(listed), 2, listed)
        self.assertTrue(all(any(fp.startswith(g) for g in listed) for fp in (old, current)), listed)

        removed = current_db.backend.prune({current})
        self.assertEqual(len(removed), 1, removed)
        self.assertIn(old[:12], str(removed[0]))
        self.assertFalse(self.side.has_golden(old))
        self.assertTrue(self.side.has_golden(current))
        if foreign:
            self.assertTrue(self.side.has_golden(foreign), "prune dropped another account's golden")
        self.assertEqual(current_db.backend.prune({current}), [])
        self.assertFalse(self.make_database(url=self.own, alembic_ini=self.current_ini).ensure_golden().built)
