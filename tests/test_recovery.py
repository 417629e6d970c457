"""Savepoint mode never hangs and loses only the test that broke, on every backend.

The case modules (tests/cases/savepoint_locks.py, savepoint_lost_*.py) run in
a subprocess whose DBTESTKIT_URL names SQLite, PostgreSQL (psycopg and
psycopg2) or MariaDB, with a project of their own whose databases are dropped
afterwards.
"""

import json
import os
import secrets
import subprocess
import tempfile
import unittest
from pathlib import Path

from sqlalchemy.engine import make_url

from tests import support
from tests.test_postgresql import CASES_RUNNER

CASE_MODULES = ("savepoint_locks", "savepoint_lost_class", "savepoint_lost_module")


def run_case_modules(url):
    """Run each case module on ``url`` in a subprocess; return ``(report, fingerprints)``.

    The report maps a module to what ran, failed and was skipped (method names).
    """
    work = Path(tempfile.mkdtemp(prefix="dbtestkit-recovery-"))
    try:
        fingerprints = work / "fingerprints.json"
        env = {key: "" for key in os.environ if key.startswith("DBTESTKIT_")}
        env.update(
            DBTESTKIT_URL=url, DBTESTKIT_CACHE_DIR=str(work / "cache"),
            DBTK_TEST_TOKEN=secrets.token_hex(8), DBTK_TEST_FINGERPRINTS=str(fingerprints),
        )
        plan = [["forward", [f"tests.cases.{name}"]] for name in CASE_MODULES]
        try:
            process = support.run_python(["-c", CASES_RUNNER, json.dumps(plan)], cwd=support.REPO,
                                         env=env, timeout=150)
        except subprocess.TimeoutExpired as error:
            process = subprocess.CompletedProcess(error.cmd, -1, "", f"{error}\n{error.stderr}")
        listed = json.loads(fingerprints.read_text()) if fingerprints.exists() else []
        if process.returncode != 0:
            return {"failed": process.stderr[-5000:]}, listed
        outcome = json.loads(process.stdout.strip().splitlines()[-1])
    finally:
        support._rmtree(work)
    report = {"backend": outcome["backends"][0]}
    for name, one_pass in zip(CASE_MODULES, outcome["passes"]):
        report[name] = {
            "run": one_pass["run"],
            "problems": {test.rsplit(".", 1)[-1]: text for test, text in one_pass["problems"].items()},
            "skipped": sorted(test.rsplit(".", 1)[-1] for test in one_pass["skipped"]),
        }
    return report, listed


class RecoveryChecks:
    """What every backend must show; subclasses say where the cases run."""

    backend = None

    @classmethod
    def server(cls):
        """Return the URL the cases run on."""
        raise NotImplementedError

    @classmethod
    def drop_databases_of(cls, server, fingerprints):
        """Drop what the cases left on the server (nothing to do on SQLite)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        server = cls.server()
        cls.report, fingerprints = run_case_modules(server)
        cls.drop_databases_of(server, fingerprints)
        if "failed" in cls.report:
            raise AssertionError(f"the case runner failed:\n{cls.report['failed']}")

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
    def server(cls):
        return "sqlite://"


class OnServer(RecoveryChecks):
    """The test server of ``backend`` (with ``driver``, if given)."""

    driver = None

    @classmethod
    def server(cls):
        url = make_url(support.server_url(unittest.TestCase(), cls.backend))
        if cls.driver:
            url = url.set(drivername=f"{url.get_backend_name()}+{cls.driver}")
        return url.render_as_string(hide_password=False)


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
