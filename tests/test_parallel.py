"""The example suite under parallel runners: one golden build per run, no clone collisions."""

import importlib.util
import re
import tempfile
import unittest

from dbtestkit.golden.journal import read_journal
from tests.support import EXAMPLES, run_python, skip_or_fail

BOOKSHOP = EXAMPLES / "bookshop"
# Every test of the example, counted from its sources: a parallel run must run them all.
EXAMPLE_TESTS = sum(len(re.findall(r"^    (?:async )?def test_", path.read_text(encoding="utf-8"), re.MULTILINE))
                    for path in (BOOKSHOP / "tests").glob("test_*.py"))

EXAMPLE_GOLDENS = 2


class ParallelRunnerTests(unittest.TestCase):
    def run_bookshop(self, *args, env=None):
        cache = tempfile.TemporaryDirectory(prefix="dbtestkit-parallel-")
        self.addCleanup(cache.cleanup)
        # "{cache}" in an argument: this run's own folder (pytest-xdist's --basetemp goes there).
        run = run_python([arg.format(cache=cache.name) for arg in args], cwd=BOOKSHOP, timeout=300,
                         env={"DBTESTKIT_CACHE_DIR": cache.name, **(env or {})})
        return run, read_journal(cache.name)

    def require(self, module):
        if importlib.util.find_spec(module) is None:
            skip_or_fail(self, f"tool:{module}", f"{module} is not installed (pip install -e .[test])")

    def assert_unittest_style_pass(self, run):
        output = run.stdout + run.stderr
        self.assertEqual(run.returncode, 0, output)
        match = re.search(r"^Ran (\d+) tests?", output, re.MULTILINE)
        self.assertIsNotNone(match, output)
        self.assertEqual(int(match.group(1)), EXAMPLE_TESTS, output)
        self.assertRegex(output, r"(?m)^OK\s*$")

    def assert_each_golden_built_once(self, builds):
        # The example has two goldens: the migrations' and one derived with a seed (with_seeds).
        fingerprints = [line.split()[2] for line in builds]
        self.assertEqual(len(fingerprints), EXAMPLE_GOLDENS, builds)
        self.assertEqual(len(set(fingerprints)), EXAMPLE_GOLDENS, builds)

    def test_unittest_parallel_builds_the_golden_once(self):
        self.require("unittest_parallel")
        run, builds = self.run_bookshop("-m", "unittest_parallel", "-j", "2", "--level", "class")
        self.assert_unittest_style_pass(run)
        self.assert_each_golden_built_once(builds)

    def test_nose2_multiprocess_builds_the_golden_once(self):
        self.require("nose2")
        run, builds = self.run_bookshop("-m", "nose2", "--plugin", "nose2.plugins.mp", "-N", "2")
        self.assert_unittest_style_pass(run)
        self.assert_each_golden_built_once(builds)

    def test_pytest_xdist_builds_the_golden_once(self):
        self.require("xdist")
        # Without --basetemp, xdist leaves /tmp/pytest-of-<user> behind.
        run, builds = self.run_bookshop("-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider",
                                        "--basetemp={cache}/pytest")
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertRegex(run.stdout, rf"\b{EXAMPLE_TESTS} passed\b")
        self.assert_each_golden_built_once(builds)

    def test_nose2_layers_share_one_transaction(self):
        self.require("nose2")
        plain, _ = self.run_bookshop("-m", "nose2", env={"DBTESTKIT_VERBOSE": "1"})
        layered, _ = self.run_bookshop("-m", "nose2", "--plugin", "nose2.plugins.layers",
                                       env={"DBTESTKIT_VERBOSE": "1"})
        self.assert_unittest_style_pass(plain)
        self.assert_unittest_style_pass(layered)
        clones = [int(re.search(r"(\d+) clones made", run.stderr).group(1)) for run in (plain, layered)]
        # The layer's two classes share one clone instead of one each.
        self.assertEqual(clones[0] - clones[1], 1, clones)


if __name__ == "__main__":
    unittest.main()
