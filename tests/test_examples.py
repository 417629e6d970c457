"""The example projects' suites pass: bookshop under unittest, nose2 and pytest; recipes, the async app and the pytest suite on every backend."""

import importlib.util
import re
import tempfile
import textwrap
import unittest

from sqlalchemy.engine import make_url

from dbtestkit.golden.journal import read_journal

from tests import support
from tests.support import EXAMPLES, run_python, skip_or_fail

BOOKSHOP = EXAMPLES / "bookshop"
RECIPES = EXAMPLES / "recipes"
PYTEST_SUITE = EXAMPLES / "pytest_suite"
PYTEST_SUITE_TESTS = 16
ASYNC_APP = EXAMPLES / "async_app"


class BookshopExampleTests(unittest.TestCase):
    def run_in_bookshop(self, *args):
        cache = tempfile.TemporaryDirectory(prefix="dbtestkit-example-")
        self.addCleanup(cache.cleanup)
        return run_python(list(args), cwd=BOOKSHOP, env={"DBTESTKIT_CACHE_DIR": cache.name},
                          timeout=300)

    def require_tool(self, module):
        if importlib.util.find_spec(module) is None:
            skip_or_fail(self, f"tool:{module}", f"{module} is not installed (pip install -e .[test])")

    def assert_all_35_pass(self, run):
        """Check a unittest-style run (unittest, nose2) of the example suite: all 35 tests ran and passed."""
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertRegex(run.stderr, r"\nOK\s*$")
        match = re.search(r"^Ran (\d+) tests?", run.stderr, re.MULTILINE)
        self.assertIsNotNone(match, run.stderr)
        self.assertEqual(int(match.group(1)), 35)

    def test_unittest(self):
        self.assert_all_35_pass(self.run_in_bookshop("-m", "unittest", "-v"))

    def test_nose2(self):
        self.require_tool("nose2")
        self.assert_all_35_pass(self.run_in_bookshop("-m", "nose2", "-v"))

    def test_pytest(self):
        self.require_tool("pytest")
        run = self.run_in_bookshop("-m", "pytest", "-q", "-p", "no:cacheprovider")
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        match = re.search(r"(\d+) passed", run.stdout)
        self.assertIsNotNone(match, run.stdout)
        self.assertEqual(int(match.group(1)), 35)
        self.assertNotRegex(run.stdout, r"\d+ (failed|error)")


class ReadmeSnippetTests(unittest.TestCase):
    """The README's code for these sections is the example suite's code, which the tests above run."""

    SECTIONS = {
        "Class data in clone-per-test classes": "test_class_data.py",
        "Data-migration tests": "test_data_migrations.py",
    }

    def test_snippets_are_taken_from_the_examples(self):
        readme = (EXAMPLES.parent / "README.rst").read_text(encoding="utf-8")
        for heading, example in self.SECTIONS.items():
            section = readme[readme.index(f"{heading}\n"):]
            section = section[:re.search(r"\n\n[^\n]+\n[-~]{4,}\n", section[len(heading) + 2:]).start()
                              + len(heading) + 2]
            blocks = re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", section)
            self.assertTrue(blocks, heading)
            source = (BOOKSHOP / "tests" / example).read_text(encoding="utf-8")
            for block in blocks:
                with self.subTest(heading=heading):
                    self.assertIn(textwrap.dedent(block).strip(), source)


class AsyncAppExampleTests(unittest.TestCase):
    """The async example passes on every backend, through its async driver, with nothing on stderr."""

    def run_async_app(self, url):
        cache = tempfile.TemporaryDirectory(prefix="dbtestkit-example-")
        self.addCleanup(cache.cleanup)
        env = {"DBTESTKIT_CACHE_DIR": cache.name, "DBTESTKIT_URL": url, "PYTHONASYNCIODEBUG": "1"}
        run = run_python(["-W", "error::RuntimeWarning", "-m", "unittest"], cwd=ASYNC_APP, env=env,
                         timeout=300)
        self.assertEqual(run.returncode, 0, run.stderr)
        # Nothing but the dots and the summary (and a slow build's progress lines).
        output = re.sub(r"^dbtestkit: golden .*\n", "", support.without_slow_steps(run.stderr),
                        flags=re.MULTILINE)
        self.assertRegex(output, r"^\.{12}\n-+\nRan 12 tests in [\d.]+s\n\nOK\n$")
        # What the suite built on a server is removed; the cache (SQLite) goes with its folder.
        self.addCleanup(self.prune, url, cache.name)

    def prune(self, url, cache_dir):
        import dbtestkit

        # The project's golden. The migration checks' empty database is left: every project
        # on the server shares it (one fingerprint), and other tests of this run may hold it.
        database = dbtestkit.TestDatabase(url, alembic_ini=str(ASYNC_APP / "alembic.ini"), cache_dir=cache_dir)
        for golden in list(database.backend.list_goldens()):
            if golden.label == database.name:
                database.backend.delete_golden(golden.location)
        database.close()
        database.backend.dispose()

    def server(self, backend, drivername):
        return make_url(support.server_url(self, backend)).set(drivername=drivername).render_as_string(
            hide_password=False)

    def test_sqlite(self):
        self.run_async_app("sqlite+aiosqlite://")

    def test_sqlite_under_pytest(self):
        if importlib.util.find_spec("pytest") is None:
            skip_or_fail(self, "tool:pytest", "pytest is not installed (pip install -e .[test])")
        cache = tempfile.TemporaryDirectory(prefix="dbtestkit-example-")
        self.addCleanup(cache.cleanup)
        run = run_python(["-W", "error::RuntimeWarning", "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                         cwd=ASYNC_APP, env={"DBTESTKIT_CACHE_DIR": cache.name, "DBTESTKIT_URL": ""},
                         timeout=300)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertRegex(run.stdout, r"\b12 passed")
        self.assertNotRegex(run.stdout, r"\d+ (failed|error|warning)")

    def test_postgresql_asyncpg(self):
        self.run_async_app(self.server("postgresql", "postgresql+asyncpg"))

    def test_mariadb_aiomysql(self):
        self.run_async_app(self.server("mysql", "mysql+aiomysql"))


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

    def test_on_postgresql_named_with_asyncpg(self):
        url = support.server_url(self, "postgresql").replace("+psycopg:", "+asyncpg:")
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
