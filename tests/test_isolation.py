"""Isolation on SQLite in this process: clones gone after their test, kept on failure, setUp without super.

The isolation suites themselves run on every backend in tests.backends.test_isolation_suites.
"""

import contextlib
import io
import unittest
from pathlib import Path

import sqlalchemy as sa

import dbtestkit
import dbtestkit.exceptions
from dbtestkit.backends.clone import live_clones
from tests.cases import DB, ROOT
from tests.support import iter_tests


def run_cases(*module_names, reverse=False):
    """Run case modules as one top-level suite, optionally in reverse order; return the result."""
    suite = unittest.TestLoader().loadTestsFromNames(
        [f"tests.cases.{name}" for name in module_names]
    )
    tests = list(iter_tests(suite))
    if reverse:
        tests.reverse()
    result = unittest.TestResult()
    with contextlib.redirect_stderr(io.StringIO()) as stderr:
        unittest.TestSuite(tests).run(result)
    result.stderr = stderr.getvalue()
    return result


def live_clone_count():
    return len(live_clones())


class SavepointIsolationTests(unittest.TestCase):
    """SQLite in this process; the suites themselves run on every backend in tests.backends.test_isolation_suites."""

    def test_no_clone_outlives_its_module_or_class(self):
        before = live_clone_count()
        run_cases("savepoint_module", "savepoint_class")
        self.assertEqual(live_clone_count(), before)


class SetUpWithoutSuperTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.result = run_cases("setup_without_super")
        cls.problems = {test.id().rsplit(".", 2)[-2] + "." + test.id().rsplit(".", 1)[-1]: text
                        for test, text in cls.result.errors + cls.result.failures}

    def test_each_per_test_attribute_names_the_class_and_the_fix(self):
        expected = {
            "SavepointSetUpWithoutSuper.test_uses_session": "self.session",
            "SavepointSetUpWithoutSuper.test_uses_connection": "self.connection",
            "SavepointSetUpWithoutSuper.test_uses_engine": "self.engine",
            "CloneSetUpWithoutSuper.test_uses_url": "self.url",
            "CloneSetUpWithoutSuper.test_uses_session": "self.session",
        }
        self.assertEqual(sorted(self.problems), sorted(expected))
        for name, attribute in expected.items():
            message = self.problems[name]
            self.assertIn("dbtestkit.exceptions.SetUpNotCalled", message, name)
            self.assertIn(f"{attribute} is not set: {name.split('.')[0]}.setUp does not call super().setUp()",
                          message, name)
            self.assertNotIn("has no attribute", message, name)
        self.assertEqual(self.result.testsRun, 7)

    def test_the_error_is_a_configuration_error(self):
        self.assertTrue(issubclass(dbtestkit.exceptions.SetUpNotCalled, dbtestkit.ConfigurationError))


class GoldenFileIsolationTests(unittest.TestCase):
    def test_memory_clone_is_gone_after_the_test(self):
        with DB.clone() as clone:
            url = clone.url
            with clone.engine.connect() as connection:
                self.assertIn("author", sa.inspect(connection).get_table_names())
        # A memdb database exists only while a connection holds it open.
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            self.assertEqual(sa.inspect(connection).get_table_names(), [])
        engine.dispose()

    def test_failed_test_clone_is_kept_and_its_path_printed(self):
        from tests.cases import golden_file_keep

        keeping = dbtestkit.TestDatabase(
            alembic_ini=ROOT / "project" / "alembic.ini", cache_dir=ROOT / "cache", keep=True
        )
        case = golden_file_keep.KeptOnFailure
        case.database = keeping
        self.addCleanup(setattr, case, "database", None)
        suite = unittest.TestLoader().loadTestsFromTestCase(case)
        result = unittest.TestResult()
        with contextlib.redirect_stderr(io.StringIO()) as stderr:
            suite.run(result)
        self.assertEqual(len(result.failures), 1)
        lines = [line for line in stderr.getvalue().splitlines() if "kept the clone" in line]
        self.assertEqual(len(lines), 1, stderr.getvalue())
        self.assertIn("test_fails_after_writing", lines[0])
        kept = Path(lines[0].rsplit(" at ", 1)[1])
        [entry] = [k for k in keeping.backend.list_kept() if k.location == str(kept)]
        self.addCleanup(keeping.backend.delete_kept, entry)
        self.assertEqual(kept.stat().st_mode & 0o777, 0o600)
        engine = sa.create_engine(f"sqlite:///{kept}")
        with engine.connect() as connection:
            titles = connection.exec_driver_sql("SELECT title FROM book").scalars().all()
        engine.dispose()
        self.assertEqual(titles, ["Evidence"])
        self.assertEqual(len(list(kept.parent.glob("*.sqlite"))), 1)

    def test_without_keep_a_failed_test_clone_is_dropped(self):
        from tests.cases import golden_file_keep

        case = golden_file_keep.KeptOnFailure
        case.database = DB
        self.addCleanup(setattr, case, "database", None)
        before = live_clone_count()
        result = unittest.TestResult()
        with contextlib.redirect_stderr(io.StringIO()) as stderr:
            unittest.TestLoader().loadTestsFromTestCase(case).run(result)
        self.assertEqual(len(result.failures), 1)
        self.assertNotIn("kept", stderr.getvalue())
        self.assertEqual(live_clone_count(), before)


if __name__ == "__main__":
    unittest.main()
