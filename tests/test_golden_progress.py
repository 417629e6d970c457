"""What a build says while it runs: progress per migration when asked or slow, a summary, the journal."""

import re
import unittest

from tests.support import TempProjectCase, run_python
from tests.test_golden import ENSURE_GOLDEN

REVISION_LABELS = ["0001_create_author", "0002_create_book", "0003_add_isbn", "0004_seed_authors"]


class ProgressTest(TempProjectCase):
    def ensure_golden(self, **env):
        result = run_python(
            ["-c", ENSURE_GOLDEN, str(self.ini), str(self.cache_dir)],
            cwd=self.tmp, env={"PYTHONIOENCODING": "utf-8", **env},
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        fingerprint, built = result.stdout.split()
        return fingerprint, built == "True", result.stderr

    def dbtestkit_lines(self, stderr):
        """Return dbtestkit's progress lines, without the end-of-run summary."""
        return [line for line in stderr.splitlines()
                if line.startswith("dbtestkit") and not line.startswith("dbtestkit: [pid")]

    def summary_lines(self, stderr):
        """Return the end-of-run summary lines DBTESTKIT_VERBOSE asks for."""
        return [line for line in stderr.splitlines() if line.startswith("dbtestkit: [pid")]

    def test_verbose_build_reports_each_migration_then_the_total(self):
        fingerprint, built, stderr = self.ensure_golden(DBTESTKIT_VERBOSE="1")
        self.assertTrue(built)
        prefix = f"dbtestkit: golden project {fingerprint[:10]}…"
        expected = [f"{prefix} [{n}/4] {label}" for n, label in enumerate(REVISION_LABELS, 1)]
        lines = self.dbtestkit_lines(stderr)
        self.assertEqual(lines[:-1], expected)
        self.assertRegex(lines[-1], "^" + re.escape(prefix) + r" built in \d+\.\ds$")
        summary = self.summary_lines(stderr)
        self.assertEqual(len(summary), 1, stderr)
        self.assertRegex(summary[0], re.escape(f"golden project {fingerprint[:10]}…") + r" built in \d+\.\d\ds$")

    def test_verbose_reuse_reports_only_the_summary(self):
        self.ensure_golden(DBTESTKIT_VERBOSE="1")
        fingerprint, built, stderr = self.ensure_golden(DBTESTKIT_VERBOSE="1")
        self.assertFalse(built)
        self.assertEqual(self.dbtestkit_lines(stderr), [])
        summary = self.summary_lines(stderr)
        self.assertEqual(len(summary), 1, stderr)
        self.assertIn(f"golden project {fingerprint[:10]}… reused", summary[0])

    def test_every_build_is_journaled_once(self):
        from dbtestkit.golden.journal import read_journal

        fingerprint, _, _ = self.ensure_golden()
        self.ensure_golden()
        journal = read_journal(self.cache_dir)
        self.assertEqual(len(journal), 1, journal)
        self.assertIn(f"sqlite {fingerprint} pid=", journal[0])

    def test_verbose_zero_is_quiet(self):
        _, built, stderr = self.ensure_golden(DBTESTKIT_VERBOSE="0")
        self.assertTrue(built)
        self.assertNotIn("dbtestkit", stderr)


class QuietBuildTest(TempProjectCase):
    """A build well under QUIET_BUILD_SECONDS: one small revision, Alembic imported beforehand."""

    revisions = [("0001", "create author",
                  'op.create_table("author", sa.Column("id", sa.Integer, primary_key=True))',
                  'op.drop_table("author")')]

    def test_fast_build_is_quiet_without_verbose(self):
        code = "import alembic.command, alembic.runtime.environment, alembic.script\n" + ENSURE_GOLDEN
        result = run_python(["-c", code, str(self.ini), str(self.cache_dir)], cwd=self.tmp)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.split()[1], "True")
        self.assertEqual([line for line in result.stderr.splitlines() if line.startswith("dbtestkit")], [])


class SlowBuildProgressTest(TempProjectCase):
    revisions = [
        ("0001", "create author", 'op.create_table("author", sa.Column("id", sa.Integer, primary_key=True))',
         'op.drop_table("author")'),
        ("0002", "slow step", "import time\ntime.sleep(0.7)", "pass"),
        ("0003", "create shelf", 'op.create_table("shelf", sa.Column("id", sa.Integer, primary_key=True))',
         'op.drop_table("shelf")'),
    ]

    def test_slow_build_reports_progress_without_verbose(self):
        result = run_python(
            ["-c", ENSURE_GOLDEN, str(self.ini), str(self.cache_dir)],
            cwd=self.tmp, env={"PYTHONIOENCODING": "utf-8"},
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        fingerprint = result.stdout.split()[0]
        prefix = f"dbtestkit: golden project {fingerprint[:10]}…"
        lines = [line for line in result.stderr.splitlines() if line.startswith("dbtestkit")]
        self.assertEqual(lines[:-1], [
            f"{prefix} [1/3] 0001_create_author",
            f"{prefix} [2/3] 0002_slow_step",
            f"{prefix} [3/3] 0003_create_shelf",
        ])
        self.assertRegex(lines[-1], "^" + re.escape(prefix) + r" built in \d+\.\ds$")


if __name__ == "__main__":
    unittest.main()
