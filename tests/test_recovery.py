"""Savepoint mode never hangs and loses only the test that broke, on every backend.

The case modules (tests/cases/savepoint_locks.py, savepoint_lost_*.py) run on
SQLite in this process, and on PostgreSQL (psycopg and psycopg2) and MariaDB
in a subprocess whose DBTESTKIT_URL names the test server, with a project of
their own whose databases are dropped afterwards.
"""

import json
import os
import secrets
import tempfile
import textwrap
import unittest
from pathlib import Path

from sqlalchemy.engine import make_url

from tests import support
from tests.test_isolation import problems, run_cases

CASE_MODULES = ("savepoint_locks", "savepoint_lost_class", "savepoint_lost_module")

# Runs case modules on DBTESTKIT_URL; prints one RESULT line of JSON. The project of
# tests.cases gets a comment of this run's own, so its golden is nobody else's.
RUNNER = textwrap.dedent('''
    import json, os, sys
    from pathlib import Path
    from tests import support

    write_project = support.write_project

    def unique_project(root, *args, **kwargs):
        ini = write_project(root, *args, **kwargs)
        env_py = Path(root) / "migrations" / "env.py"
        env_py.write_text(env_py.read_text() + "\\n# dbtestkit test run " + os.environ["DBTK_TEST_TOKEN"] + "\\n")
        return ini

    support.write_project = unique_project
    from tests.cases import DB
    from tests.test_recovery import outcome

    # Written before anything is built, so the parent can clean up even after a crash.
    Path(os.environ["DBTK_TEST_FINGERPRINTS"]).write_text(json.dumps([DB.fingerprint()]))
    report = {name: outcome(name) for name in sys.argv[1:]}
    report["backend"] = DB.backend.name
    print("RESULT " + json.dumps(report))
''')


def outcome(module_name):
    """Run one case module; return what ran, failed and was skipped (method names)."""
    result = run_cases(module_name)
    return {
        "run": result.testsRun,
        "problems": problems(result),
        "skipped": sorted(test.id().rsplit(".", 1)[-1] for test, _ in result.skipped),
    }


class RecoveryChecks:
    """What every backend must show; subclasses say where the cases run."""

    backend = None

    @classmethod
    def run_modules(cls):
        raise NotImplementedError

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.report = cls.run_modules()

    def test_the_cases_ran_on_this_backend(self):
        self.assertEqual(self.report["backend"], self.backend)

    def test_other_connections_fail_fast_and_explain_and_the_next_test_is_pristine(self):
        locks = self.report["savepoint_locks"]
        self.assertEqual(locks["problems"], {})
        self.assertEqual(locks["run"], 4)
        expected_skips = ["test_waits_as_long_as_the_server_lets_it"] if self.backend == "sqlite" else []
        self.assertEqual(locks["skipped"], expected_skips)

    def assert_only_the_losing_tests_fail(self, key, run):
        lost = self.report[key]
        self.assertEqual(sorted(lost["problems"]), [
            "test_1_connection_ended_mid_test", "test_3_connection_ended_after_the_last_statement",
        ], json.dumps(lost["problems"], indent=1)[-3000:])
        for name, text in lost["problems"].items():
            self.assertIn("dbtestkit.exceptions.ConnectionLost", text, name)
            self.assertNotIn("PendingRollbackError", text, name)
        self.assertEqual(lost["run"], run)

    def test_a_lost_connection_fails_only_its_test_with_one_connection_per_class(self):
        self.assert_only_the_losing_tests_fail("savepoint_lost_class", 6)

    def test_a_lost_connection_fails_only_its_test_with_one_connection_per_module(self):
        self.assert_only_the_losing_tests_fail("savepoint_lost_module", 7)


class OnSQLiteTest(RecoveryChecks, unittest.TestCase):
    backend = "sqlite"

    @classmethod
    def run_modules(cls):
        from tests.cases import DB

        report = {name: outcome(name) for name in CASE_MODULES}
        report["backend"] = DB.backend.name
        return report


class OnServer(RecoveryChecks):
    """Runs the case modules in a subprocess on the test server, then drops its databases."""

    driver = None

    @classmethod
    def run_modules(cls):
        probe = unittest.TestCase()
        server = support.server_url(probe, cls.backend)
        url = make_url(server)
        if cls.driver:
            url = url.set(drivername=f"{url.get_backend_name()}+{cls.driver}")
        work = Path(tempfile.mkdtemp(prefix="dbtestkit-recovery-"))
        cls.addClassCleanup(support._rmtree, work)
        fingerprints = work / "fingerprints.json"
        cls.addClassCleanup(cls.drop_databases_listed_in, server, fingerprints)
        env = {key: "" for key in os.environ if key.startswith("DBTESTKIT_")}
        env.update(
            DBTESTKIT_URL=url.render_as_string(hide_password=False),
            DBTESTKIT_CACHE_DIR=str(work / "cache"),
            DBTK_TEST_TOKEN=secrets.token_hex(8),
            DBTK_TEST_FINGERPRINTS=str(fingerprints),
        )
        process = support.run_python(["-c", RUNNER, *CASE_MODULES], cwd=support.REPO, env=env, timeout=150)
        lines = [line for line in process.stdout.splitlines() if line.startswith("RESULT ")]
        if process.returncode != 0 or not lines:
            raise AssertionError(f"the case runner failed:\n{process.stdout}\n{process.stderr[-5000:]}")
        return json.loads(lines[-1][len("RESULT "):])

    @classmethod
    def drop_databases_listed_in(cls, server, fingerprints):
        if fingerprints.exists():
            cls.drop_databases_of(server, json.loads(fingerprints.read_text()))


class PostgreSQLServer(OnServer):
    backend = "postgresql"

    @staticmethod
    def drop_databases_of(server, fingerprints):
        from tests.test_postgresql import drop_databases_of

        drop_databases_of(server, fingerprints)


class OnPostgreSQLWithPsycopgTest(PostgreSQLServer, unittest.TestCase):
    driver = "psycopg"


class OnPostgreSQLWithPsycopg2Test(PostgreSQLServer, unittest.TestCase):
    driver = "psycopg2"


class OnMariaDBTest(OnServer, unittest.TestCase):
    backend = "mysql"

    @staticmethod
    def drop_databases_of(server, fingerprints):
        from tests.test_mysql import admin_engine, databases_of, drop_databases

        admin = admin_engine(server)
        try:
            drop_databases(admin, [name for fp in fingerprints for name in databases_of(admin, fp)])
        finally:
            admin.dispose()


if __name__ == "__main__":
    unittest.main()
