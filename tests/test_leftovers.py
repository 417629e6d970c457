"""Tests clean up what they make, even when they fail: nothing is left in the temp dir.

.ci/run checks the whole run the same way (a private TMPDIR that must be empty at the end);
this test runs a part of the suite, known for leaving things behind, with tests failing on
purpose, so a leak shows up in a quick run too.
"""

import importlib.util
import os
import shutil
import tempfile
import textwrap
import unittest
from pathlib import Path

from tests.support import REPO, run_python, skip_or_fail

FAILING_ON_PURPOSE = textwrap.dedent('''
    from tests.support import TempProjectCase
    from tests.test_migration_checks import HistoryCase, run_checks


    class FailsAfterCloning(TempProjectCase):
        def test_fails(self):
            self.database().clone(kind="file")
            self.fail("on purpose, after building a golden and taking a file clone")


    class FailsAfterChecking(HistoryCase):
        def test_fails(self):
            run_checks(self.migrations("two_heads"))
            self.fail("on purpose, after running the checks of a history")
''')
SUB_SUITE = [
    "test_failing_on_purpose",
    "tests.test_migration_checks.SelectionTests",
    "tests.test_parallel.ParallelRunnerTests.test_pytest_xdist_builds_the_golden_once",
]


class TempDirLeftoversTest(unittest.TestCase):
    def test_a_failing_sub_suite_leaves_nothing_in_its_temp_dir(self):
        if importlib.util.find_spec("xdist") is None:
            skip_or_fail(self, "tool:xdist", "pytest-xdist is not installed (pip install -e .[test])")
        root = Path(tempfile.mkdtemp(prefix="dbtestkit-leftovers-"))
        self.addCleanup(shutil.rmtree, root, True)
        private, suite = root / "tmp", root / "suite"
        private.mkdir()
        suite.mkdir()
        (suite / "test_failing_on_purpose.py").write_text(FAILING_ON_PURPOSE)
        run = run_python(["-m", "unittest", *SUB_SUITE], cwd=REPO, timeout=300, env={
            "TMPDIR": str(private),
            "PYTHONPATH": os.pathsep.join([str(suite), str(REPO)]),
            "DBTESTKIT_CACHE_DIR": str(root / "cache"),
        })
        self.assertEqual(sorted(path.name for path in private.iterdir()), [], run.stderr)
        self.assertRegex(run.stderr, r"\nRan 9 tests in .*\n\nFAILED \(failures=2\)\n", run.stderr)


if __name__ == "__main__":
    unittest.main()
