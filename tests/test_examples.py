"""The example projects' suites pass: bookshop under unittest, nose2 and pytest, recipes on every backend."""

import importlib.util
import re
import tempfile
import unittest

from tests import support
from tests.support import EXAMPLES, run_python, skip_or_fail

BOOKSHOP = EXAMPLES / "bookshop"
RECIPES = EXAMPLES / "recipes"


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


if __name__ == "__main__":
    unittest.main()
