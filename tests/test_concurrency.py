"""Several real processes sharing one SQLite cache: kills at any moment are survived, clone files name their process.

What every backend promises of several processes is in tests.backends.test_processes
and tests.backends.test_reap_prune.
"""

import json
import subprocess
import textwrap
import time
from pathlib import Path

from tests.support import (
    AUTHOR, ENSURE_AND_READ, TempProjectCase, kill, run_python, sleep_revision, start_python,
)


class ConcurrencyCase(TempProjectCase):
    def build_files(self, cache=None):
        return sorted(p.name for p in (Path(cache or self.cache_dir) / "sqlite").glob("build-*"))

    def golden_files(self, cache=None):
        return sorted((Path(cache or self.cache_dir) / "sqlite").glob("golden-*.sqlite"))

    def ensure_in_new_process(self, cache=None):
        result = run_python(
            ["-c", ENSURE_AND_READ, "", str(self.ini), str(cache or self.cache_dir)], cwd=self.tmp,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        return json.loads(result.stdout)


class KilledAtAnyMomentTest(ConcurrencyCase):
    revisions = [sleep_revision(f"000{n}", f"t{n}", 0.08) for n in range(1, 6)]
    revisions[0] = (revisions[0][0], revisions[0][1], revisions[0][2] + "\n" + AUTHOR[2], "pass")
    delays = (0.05, 0.3, 0.5, 0.7, 0.9, 1.2)

    def test_next_process_always_recovers_a_complete_golden(self):
        killed_mid_build = 0
        for delay in self.delays:
            with self.subTest(kill_after=delay):
                cache = self.tmp / f"cache-{delay}"
                child = start_python(ENSURE_AND_READ, "", self.ini, cache, cwd=self.tmp)
                self.addCleanup(kill, child)
                time.sleep(delay)
                kill(child)
                published_before = bool(self.golden_files(cache))
                killed_mid_build += bool(self.build_files(cache)) and not published_before

                report = self.ensure_in_new_process(cache)
                if not published_before:
                    self.assertTrue(report["built"])
                self.assertEqual(report["heads"], ["0005"])
                self.assertTrue({"author", "t1", "t2", "t3", "t4", "t5"} <= set(report["tables"]))
                self.assertEqual(report["authors"], ["Ursula K. Le Guin"])
                self.assertEqual(self.build_files(cache), [])
                self.assertEqual(len(self.golden_files(cache)), 1)
        # Otherwise the timings missed the build entirely and nothing was tested.
        self.assertGreater(killed_mid_build, 0)


# Makes a file clone, says where it is, then dies without cleaning up.
CLONE_AND_DIE = textwrap.dedent("""
    import os, signal, sys
    import dbtestkit
    database = dbtestkit.TestDatabase(alembic_ini=sys.argv[1], cache_dir=sys.argv[2])
    clone = database.clone(kind="file")
    print(clone.location, flush=True)
    if sys.argv[3] == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    sys.stdin.read()
""")


class LeftoverCloneTest(ConcurrencyCase):
    def setUp(self):
        super().setUp()
        self.database().ensure_golden()

    def clone_in_child(self, mode):
        child = start_python(CLONE_AND_DIE, self.ini, self.cache_dir, mode, cwd=self.tmp,
                             stdin=subprocess.PIPE)
        self.addCleanup(kill, child)
        line = child.stdout.readline().strip()
        self.assertTrue(line, child.stderr.read() if child.poll() is not None else "no output")
        return child, Path(line)

    def test_clone_file_is_named_after_host_and_pid_of_its_process(self):
        child, path = self.clone_in_child("die")
        child.wait(timeout=30)
        self.assertRegex(path.name, rf"^clone-[0-9a-f]{{12}}-[A-Za-z0-9]+-{child.pid}-\d+-[0-9a-f]{{6}}\.sqlite$")
        self.assertEqual(path.parent, self.cache_dir.resolve() / "sqlite" / "clones")

    def test_next_file_clone_reaps_clone_of_killed_process(self):
        child, path = self.clone_in_child("die")
        child.wait(timeout=30)
        self.assertTrue(path.is_file())
        with self.database().clone(kind="file") as clone:
            self.assertTrue(Path(clone.location).is_file())
            self.assertFalse(path.exists())


if __name__ == "__main__":
    import unittest

    unittest.main()
