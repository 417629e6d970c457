"""The example projects' suites pass: bookshop under unittest, nose2 and pytest; recipes and the pytest suite on every backend."""

import importlib.util
import re
import tempfile
import unittest

from dbtestkit.golden.journal import read_journal
from tests import support
from tests.support import EXAMPLES, run_python, skip_or_fail

BOOKSHOP = EXAMPLES / "bookshop"
RECIPES = EXAMPLES / "recipes"
PYTEST_SUITE = EXAMPLES / "pytest_suite"
PYTEST_SUITE_TESTS = 16


class BookshopExampleTests(unittest.TestCase):
    def run_in_bookshop(self, *args):
        cache = tempfile.TemporaryDirectory(prefix="dbtestkit-example-")
        self.addCleanup(cache.cleanup)
        return run_python(list(args), cwd=BOOKSHOP, env={"DBTESTKIT_CACHE_DIR": cache.name},
                          timeout=300)

    def require_tool(self, module):
        if importlib.util.find_spec(module) is None:
            skip_or_fail(self, f"tool:{module}", f"{module} is not installed (pip install -e .[test])")

    def unittest_count(self, output):
        match = re.search(r"^Ran (\d+) tests?", output, re.MULTILINE)
        self.assertIsNotNone(match, output)
        return int(match.group(1))

    def test_unittest(self):
        run = self.run_in_bookshop("-m", "unittest", "-v")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertRegex(run.stderr, r"\nOK\s*$")
        self.assertEqual(self.unittest_count(run.stderr), 30)

    def test_nose2(self):
        self.require_tool("nose2")
        run = self.run_in_bookshop("-m", "nose2", "-v")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertRegex(run.stderr, r"\nOK\s*$")
        self.assertEqual(self.unittest_count(run.stderr), 30)

    def test_pytest(self):
        self.require_tool("pytest")
        run = self.run_in_bookshop("-m", "pytest", "-q", "-p", "no:cacheprovider")
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        match = re.search(r"(\d+) passed", run.stdout)
        self.assertIsNotNone(match, run.stdout)
        self.assertEqual(int(match.group(1)), 30)
        self.assertNotRegex(run.stdout, r"\d+ (failed|error)")


class RecipesExampleTests(unittest.TestCase):
    """The recipes (the app's own sessionmaker, FastAPI, Flask-SQLAlchemy, factory_boy) on each backend."""

    def run_recipes(self, url=None):
        for module in ("fastapi", "httpx", "flask_sqlalchemy", "factory"):
            if importlib.util.find_spec(module) is None:
                skip_or_fail(self, f"tool:{module}", f"{module} is not installed (pip install -e .[test])")
        cache = tempfile.TemporaryDirectory(prefix="dbtestkit-example-")
        self.addCleanup(cache.cleanup)
        # An empty DBTESTKIT_URL counts as unset: SQLite, whatever the outer run says.
        env = {"DBTESTKIT_CACHE_DIR": cache.name, "DBTESTKIT_URL": url or ""}
        run = run_python(["-m", "unittest", "-v"], cwd=RECIPES, env=env, timeout=300)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertRegex(run.stderr, r"\nOK\s*$")
        self.assertEqual(int(re.search(r"^Ran (\d+) tests?", run.stderr, re.MULTILINE).group(1)), 22)

    def test_sqlite(self):
        self.run_recipes()

    def test_postgresql(self):
        self.run_recipes(support.server_url(self, "postgresql"))

    def test_mysql(self):
        self.run_recipes(support.server_url(self, "mysql"))


class PytestSuiteExampleTests(unittest.TestCase):
    """examples/pytest_suite: the fixtures, sync and async, on each backend; in parallel, one build."""

    def run_suite(self, url=None, *args, env=None):
        for module in ("pytest", "pytest_asyncio", "anyio", "aiosqlite", "greenlet"):
            if importlib.util.find_spec(module) is None:
                skip_or_fail(self, f"tool:{module}", f"{module} is not installed (pip install -e .[test])")
        cache = tempfile.TemporaryDirectory(prefix="dbtestkit-example-")
        self.addCleanup(cache.cleanup)
        # An empty DBTESTKIT_URL counts as unset: SQLite, whatever the outer run says.
        env = {"DBTESTKIT_CACHE_DIR": cache.name, "DBTESTKIT_URL": url or "", **(env or {})}
        # -W error: no unawaited coroutine, no "Event loop is closed", no unclosed connection.
        run = run_python(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error",
                          f"--basetemp={cache.name}/pytest", *args], cwd=PYTEST_SUITE, env=env, timeout=300)
        output = run.stdout + run.stderr
        self.assertEqual(run.returncode, 0, output)
        self.assertRegex(run.stdout, rf"\b{PYTEST_SUITE_TESTS} passed\b", output)
        self.assertNotRegex(run.stdout, r"\d+ (failed|errors?|warnings?)\b", output)
        return run, read_journal(cache.name)

    def test_on_sqlite(self):
        self.run_suite()

    def test_on_postgresql(self):
        self.run_suite(support.server_url(self, "postgresql"))

    def test_on_postgresql_with_psycopg2_and_asyncpg(self):
        url = support.server_url(self, "postgresql").replace("+psycopg:", "+psycopg2:")
        if importlib.util.find_spec("asyncpg") is None:
            skip_or_fail(self, "tool:asyncpg", "asyncpg is not installed (pip install -e .[test])")
        self.run_suite(url)

    def test_on_mariadb(self):
        if importlib.util.find_spec("aiomysql") is None:
            skip_or_fail(self, "tool:aiomysql", "aiomysql is not installed (pip install -e .[test])")
        self.run_suite(support.server_url(self, "mysql"))

    def test_xdist_builds_once_and_the_summary_reaches_the_terminal(self):
        if importlib.util.find_spec("xdist") is None:
            skip_or_fail(self, "tool:xdist", "pytest-xdist is not installed (pip install -e .[test])")
        run, builds = self.run_suite(None, "-n", "2", env={"DBTESTKIT_VERBOSE": "1"})
        self.assertEqual(len(builds), 1, builds)
        # Each worker's summary, in the terminal summary the user sees (stdout), not lost on stderr.
        golden_lines = re.findall(r"^dbtestkit: \[pid (\d+)\] golden bookshop \S+ (.*)$", run.stdout, re.M)
        self.assertEqual(len({pid for pid, _ in golden_lines}), 2, run.stdout + run.stderr)
        states = sorted(state.split()[0] for _, state in golden_lines)
        self.assertEqual(states[0], "built", golden_lines)
        self.assertIn(states[1], ("reused", "waited"), golden_lines)
        self.assertNotIn("[pid", run.stderr)

    def test_the_summary_is_shown_once_without_xdist(self):
        run, builds = self.run_suite(None, env={"DBTESTKIT_VERBOSE": "1"})
        lines = re.findall(r"^dbtestkit: \[pid \d+\] golden bookshop .* built in", run.stdout + run.stderr, re.M)
        self.assertEqual(len(lines), 1, run.stdout + run.stderr)
        self.assertEqual(len(builds), 1, builds)


if __name__ == "__main__":
    unittest.main()
