"""Several processes on every backend: a cold golden is built exactly once, a killed builder is rebuilt."""

import json
import time
from pathlib import Path

from tests.backends import for_each_backend
from tests.support import (
    AUTHOR, ENSURE_AND_READ, kill, run_python, sleep_revision, stalling_revision, start_python, wait_until,
)

SEEDED_AUTHOR = "Ursula K. Le Guin"

SLOW_SHELF = sleep_revision("0002", "shelf", 0.5)


@for_each_backend()
class Processes:
    """Processes starting together build a cold golden once; one killed mid-build is rebuilt at once"""

    revisions = [AUTHOR, SLOW_SHELF, stalling_revision("0003")]

    def start(self, *args, **env):
        child = start_python(ENSURE_AND_READ, self.side.database_url, self.ini, self.cache_dir, *args,
                             cwd=self.tmp, **env)
        self.addCleanup(kill, child)
        return child

    def run_together(self, processes):
        """Start ``processes`` children, release them at once when all are ready, return their reports."""
        go = self.tmp / "go"
        children = [self.start(go) for _ in range(processes)]
        for child in children:
            ready = Path(f"{go}.ready-{child.pid}")
            if not wait_until(lambda: ready.exists() or child.poll() is not None, timeout=30) \
                    or not ready.exists():
                self.fail(f"child did not get ready: {child.communicate(timeout=10)}")
        go.touch()
        reports = []
        for child in children:
            out, err = child.communicate(timeout=60)
            self.assertEqual(child.returncode, 0, err)
            reports.append(json.loads(out))
        return reports

    def assertAllSeeTheGolden(self, reports, fingerprint):
        self.assertEqual(sum(r["built"] for r in reports), 1, reports)
        self.assertEqual({r["fingerprint"] for r in reports}, {fingerprint})
        self.assertEqual(len({r["clone"] for r in reports}), len(reports))
        for report in reports:
            self.assertEqual(report["heads"], ["0003"])
            self.assertEqual(report["authors"], [SEEDED_AUTHOR])
            self.assertLessEqual({"author", "shelf", "book", "alembic_version"}, set(report["tables"]))
        # The children's pools left their unused clones to the next run's reap.
        self.assertEqual(self.side.not_reaped(fingerprint), [])
        self.assertTrue(self.side.has_golden(fingerprint))

    def test_processes_starting_together_build_the_golden_exactly_once(self):
        fingerprint = self.make_database().fingerprint()
        self.assertAllSeeTheGolden(self.run_together(5), fingerprint)

    def test_processes_finding_a_changed_golden_rebuild_it_exactly_once(self):
        golden = self.make_database().ensure_golden()
        self.side.tamper_golden(golden)
        self.assertAllSeeTheGolden(self.run_together(3), golden.fingerprint)

    def test_a_build_killed_mid_migration_is_cleaned_up_and_rebuilt_by_the_next_process(self):
        fingerprint = self.make_database().fingerprint()
        marker = self.tmp / "marker"
        child = self.start(KILLTEST_MARKER=str(marker))
        if not wait_until(lambda: marker.exists() or child.poll() is not None, timeout=30) \
                or not marker.exists():
            self.fail(f"the builder never reached the stalling migration: {child.communicate(timeout=10)}")
        building = self.side.leftovers(fingerprint)
        self.assertTrue(building, "the builder's database was not found: nothing was tested")
        if self.backend != "mysql":  # MariaDB builds in the golden's name; its catalog has the pid
            self.assertTrue(any(self.side.name_has_pid(a, child.pid) for a in building), building)
        kill(child)
        self.assertFalse(self.side.has_golden(fingerprint))

        started = time.monotonic()
        result = run_python(["-c", ENSURE_AND_READ, self.side.database_url, str(self.ini), str(self.cache_dir)],
                            cwd=self.tmp)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertLess(time.monotonic() - started, 20, "the next process waited for a dead builder")
        report = json.loads(result.stdout)
        self.assertTrue(report["built"])
        self.assertEqual(report["heads"], ["0003"])
        self.assertEqual(report["authors"], [SEEDED_AUTHOR])
        self.assertLessEqual({"author", "book", "shelf"}, set(report["tables"]))
        # The children's pools left their unused clones to the next run's reap.
        self.assertEqual(self.side.not_reaped(fingerprint), [])
        self.assertTrue(self.side.has_golden(fingerprint))
