"""Async test cases, async URLs and Alembic's async env.py, on every backend.

The async suites run in a subprocess with PYTHONASYNCIODEBUG=1 and
``-W error::RuntimeWarning``, so a connection used in the wrong loop, a loop
closed under a connection, or a coroutine nobody awaited shows on stderr.
"""

import asyncio
import contextlib
import io
import re
import unittest

import sqlalchemy as sa
from sqlalchemy.engine import make_url

import dbtestkit
from tests.backends import for_each_backend
from tests.support import ASYNC_ENV_PY, REPO, TempProjectCase, query, run_python, without_slow_steps

ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg", "mysql": "mysql+aiomysql"}
# unittest -v lines of passing tests, its summary, and a slow build's progress: anything else is noise.
EXPECTED_LINE = re.compile(r"^(test_\w+ \(.*\) \.\.\. ok|Ran \d+ tests in [\d.]+s|OK|-+|dbtestkit: golden .*|)$")


def async_url(url, drivername):
    """Return ``url`` with its driver swapped for ``drivername``."""
    return make_url(url).set(drivername=drivername).render_as_string(hide_password=False)


class AsyncProjectCase:
    """A project whose env.py is Alembic's async template; suites run in a subprocess on the async URL."""

    drivername = None

    @property
    def env_py(self):
        return ASYNC_ENV_PY + f"# dbtestkit test {self.id()} {self.token}\n"

    @property
    def url(self):
        return async_url(self.side.url, self.drivername or ASYNC_DRIVERS[self.backend])

    def run_cases(self, module, warnings="error::RuntimeWarning"):
        # The same fingerprint as the subprocess's: everything of it is removed after the test.
        self.make_database()
        env = {"DBTESTKIT_URL": self.url, "DBTESTKIT_ALEMBIC_INI": str(self.ini),
               "DBTESTKIT_CACHE_DIR": str(self.cache_dir), "PYTHONASYNCIODEBUG": "1"}
        return run_python(["-W", warnings, "-m", "unittest", "-v", f"tests.cases.{module}"],
                          cwd=REPO, env=env, timeout=300)

    def assert_clean_pass(self, run, count):
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn(f"Ran {count} tests", run.stderr)
        noise = [line for line in without_slow_steps(run.stderr).splitlines()
                 if not EXPECTED_LINE.match(line)]
        self.assertEqual(noise, [], run.stderr)


@for_each_backend()
class AsyncCases(AsyncProjectCase):
    """The async test cases isolate tests through the async driver, and an async env.py builds the golden."""

    def test_cases_pass_with_nothing_on_stderr(self):
        self.assert_clean_pass(self.run_cases("async_cases"), 14)

    def test_deliberate_failures_say_what_to_do(self):
        run = self.run_cases("async_failures")
        self.assertIn("FAILED (errors=4)", run.stderr)
        errors = dict(re.findall(r"^ERROR: (test_\w+) .*?\n-+\n(.*?)(?=^=+$|^-+\nRan )",
                                 run.stderr, re.MULTILINE | re.DOTALL))
        self.assertEqual(sorted(errors), ["test_1_commits_connection", "test_forgets_await",
                                          "test_forgets_await_on_clone", "test_uses_session"], run.stderr)
        self.assertIn("IsolationBroken", errors["test_1_commits_connection"])
        self.assertRegex(run.stderr, r"test_2_starts_clean_with_class_data_loaded_again .* \.\.\. ok")
        for name, coroutine in [("test_forgets_await", "AsyncSession.execute"),
                                ("test_forgets_await_on_clone", "AsyncSession.commit")]:
            self.assertIn("dbtestkit.testcases.awaits.MissingAwait", errors[name])
            self.assertIn(f"coroutine '{coroutine}' was never awaited", errors[name])
            self.assertIn("tests/cases/async_failures.py:", errors[name])
            self.assertIn("Write `await` before the call", errors[name])
        self.assertIn("AsyncSetUpWithoutAwait.asyncSetUp does not call await super().asyncSetUp()",
                      errors["test_uses_session"])

    def test_async_env_builds_the_golden_from_sync_code(self):
        database = self.make_database(url=self.url)
        self.assertTrue(database.ensure_golden().built)
        with database.clone() as clone:
            self.assertEqual(query(clone.url, "SELECT version_num FROM alembic_version"), [("0004",)])

    def test_async_env_builds_the_golden_inside_a_running_loop(self):
        database = self.make_database(url=self.url)
        seen = {}

        class BuildsInAsyncSetUp(unittest.IsolatedAsyncioTestCase):
            async def asyncSetUp(self):
                # The build blocks this loop on purpose: no slow-callback report for it.
                asyncio.get_running_loop().slow_callback_duration = 60
                seen["golden"] = database.ensure_golden()

            async def test_nothing(self):
                pass

        result = unittest.TestResult()
        BuildsInAsyncSetUp("test_nothing").run(result)
        self.assertEqual(result.errors + result.failures, [])
        self.assertTrue(seen["golden"].built)

    def test_migration_checks_run_unchanged_on_an_async_env(self):
        database = self.make_database(url=self.url)

        class Checks(dbtestkit.MigrationTestCase):
            skip_checks = ("model_definitions_match_ddl",)  # the template has no target_metadata

        Checks.database = database
        result = unittest.TestResult()
        unittest.TestLoader().loadTestsFromTestCase(Checks).run(result)
        self.assertEqual(result.errors + result.failures, [])
        self.assertEqual((result.testsRun, len(result.skipped)), (5, 1))


@for_each_backend("postgresql")
class PsycopgAsyncCases(AsyncProjectCase):
    """psycopg's async mode works as asyncpg does."""

    drivername = "postgresql+psycopg_async"

    def test_cases_pass_with_nothing_on_stderr(self):
        self.assert_clean_pass(self.run_cases("async_cases"), 14)


@for_each_backend("sqlite")
class ForgottenAwaitWithPlainWarnings(AsyncProjectCase):
    """Without -W error Python only warns about a coroutine never awaited: the test still fails."""

    def test_forgotten_await_fails_the_test(self):
        run = self.run_cases("async_failures.ForgetsAwait", warnings="default")
        self.assertIn("FAILED (errors=1)", run.stderr)
        self.assertRegex(run.stderr, r"MissingAwait: .*test_forgets_await called a coroutine function "
                                     r"without awaiting it: coroutine 'AsyncSession.execute' was never "
                                     r"awaited \(created at .*tests/cases/async_failures.py:\d+\)")
        self.assertNotIn("RuntimeWarning", run.stderr)


class AsyncKeepTests(TempProjectCase):
    def test_failed_async_clone_test_keeps_its_clone(self):
        database = self.database(url="sqlite+aiosqlite://", keep=True)

        class FailsAfterWriting(dbtestkit.AsyncGoldenFileTestCase):
            async def test_fails(self):
                async with self.engine.begin() as connection:
                    await connection.exec_driver_sql("INSERT INTO author (name) VALUES ('Evidence')")
                self.fail("on purpose")

        FailsAfterWriting.database = database
        result = unittest.TestResult()
        with contextlib.redirect_stderr(io.StringIO()) as stderr:
            FailsAfterWriting("test_fails").run(result)
        self.assertEqual(len(result.failures), 1)
        [line] = [line for line in stderr.getvalue().splitlines() if "kept the clone" in line]
        kept = line.rsplit(" at ", 1)[1]
        self.assertIn(("Evidence",), query(f"sqlite:///{kept}", "SELECT name FROM author"))


def without(modules, body):
    """Return Python code that runs ``body`` as if ``modules`` were not installed."""
    return f"import sys\nfor name in {list(modules)!r}:\n    sys.modules[name] = None\n{body}"


class AsyncUrlTests(TempProjectCase):
    def test_async_urls_build_and_clone_through_a_sync_driver_of_the_same_database(self):
        for url, sync in [
            ("postgresql+asyncpg://u:s3cret@127.0.0.1/postgres", "postgresql+psycopg"),
            ("postgresql+psycopg_async://u@127.0.0.1/postgres", "postgresql+psycopg"),
            ("sqlite+aiosqlite://", "sqlite"),
            ("mysql+aiomysql://root@127.0.0.1/", "mysql+pymysql"),
            ("mariadb+aiomysql://root@127.0.0.1/", "mariadb+pymysql"),
        ]:
            with self.subTest(url=url):
                backend = self.database(url=url).backend
                self.assertEqual(backend.url.drivername, sync)
                self.assertEqual(backend.async_drivername, make_url(url).drivername)
                self.assertEqual(backend.async_url(str(backend.url)),
                                 async_url(str(backend.url), make_url(url).drivername))

    def test_an_async_url_shares_the_golden_of_its_sync_twin(self):
        self.assertEqual(self.database(url="sqlite+aiosqlite://").fingerprint(),
                         self.database(url="sqlite://").fingerprint())

    def test_sync_classes_work_on_an_async_url_through_its_sync_partner(self):
        database = self.database(url="sqlite+aiosqlite://")
        seen = []

        class Savepoint(dbtestkit.DatabaseTestCase):
            def test_query(self):
                seen.append(self.session.execute(sa.text("SELECT count(*) FROM author")).scalar())

        class Clone(dbtestkit.GoldenFileTestCase):
            def test_url(self):
                seen.append(self.url.split("://")[0])

        Savepoint.database = Clone.database = database
        result = unittest.TestResult()
        unittest.TestSuite([Savepoint("test_query"), Clone("test_url")]).run(result)
        self.assertEqual(result.errors + result.failures, [])
        self.assertEqual(seen, [1, "sqlite"])

    def test_a_sync_url_gives_async_code_the_default_async_driver(self):
        backend = self.database(url="sqlite://").backend
        self.assertEqual(backend.async_url("sqlite:///x.db"), "sqlite+aiosqlite:///x.db")

    def run_without(self, modules, body):
        code = without(modules, f"import dbtestkit\ntry:\n{body}\nexcept dbtestkit.DbtestkitError as e:\n"
                                "    print(type(e).__name__, e)\n")
        run = run_python(code, env={"DBTESTKIT_CACHE_DIR": str(self.cache_dir)})
        self.assertEqual(run.returncode, 0, run.stderr)
        return run.stdout

    def test_missing_sync_driver_says_which_to_install(self):
        out = self.run_without(["psycopg", "psycopg2"], f"    dbtestkit.TestDatabase("
                               f"'postgresql+asyncpg://u:s3cret@127.0.0.1/postgres', alembic_ini={str(self.ini)!r})")
        self.assertRegex(out, r"^BackendUnavailable The URL names the async driver 'asyncpg'")
        self.assertIn("pip install 'dbtestkit[asyncpg]' (or pip install psycopg[binary])", out)
        self.assertIn("postgresql+asyncpg://u:***@127.0.0.1/postgres", out)
        self.assertNotIn("s3cret", out)

    def test_missing_async_driver_says_which_to_install(self):
        out = self.run_without(["aiosqlite"], f"    dbtestkit.TestDatabase("
                               f"'sqlite+aiosqlite://', alembic_ini={str(self.ini)!r})")
        self.assertRegex(out, r"^BackendUnavailable The async driver 'aiosqlite' .* is not installed")
        self.assertIn("pip install 'dbtestkit[asyncio]'", out)

    def test_missing_greenlet_says_what_to_install(self):
        out = self.run_without(["greenlet"], f"    dbtestkit.TestDatabase("
                               f"'sqlite+aiosqlite://', alembic_ini={str(self.ini)!r})")
        self.assertIn("BackendUnavailable SQLAlchemy's asyncio support needs the greenlet package", out)

    def test_async_class_on_a_sync_url_without_the_async_driver(self):
        body = f"""
    import unittest
    DB = dbtestkit.TestDatabase('sqlite://', alembic_ini={str(self.ini)!r})
    class T(dbtestkit.AsyncDatabaseTestCase):
        database = DB
        async def test_x(self):
            pass
    result = unittest.TestResult()
    unittest.TestLoader().loadTestsFromTestCase(T).run(result)
    print(result.errors[0][1].strip().splitlines()[-1])
    from dbtestkit.backends.clone import live_clones
    print("live clones:", len(live_clones()))"""
        out = self.run_without(["aiosqlite"], body)
        self.assertIn("BackendUnavailable: The async driver 'aiosqlite' (sqlite+aiosqlite) is not installed", out)
        self.assertIn("live clones: 0", out)


if __name__ == "__main__":
    unittest.main()
