"""A migration, seed or step that calls sys.exit(), and a revision file that cannot be loaded,
are MigrationErrors naming what broke: from ensure_golden(), `dbtestkit build`,
setUpModule/setUpClass and MigrationTestCase, never a silent exit or a raw traceback.
"""

import re
import sys
import unittest

import dbtestkit
from tests.backend_projects import BackendProjectCase
from tests.support import DEFAULT_REVISIONS, run_python

EXITING_REVISIONS = DEFAULT_REVISIONS[:2] + [
    ("0003", "exit", 'import sys\nsys.exit(0)', "pass"),
]
BROKEN_REVISIONS = DEFAULT_REVISIONS[:2] + [
    ("0003", "broken", 'op.execute("UPDATE book SET title = \'x\'"', "pass"),
]


class Abort(BaseException):
    """Neither an Exception nor a KeyboardInterrupt."""


def exiting_seed(connection):
    """A seed that ends the process."""
    sys.exit(3)


def exiting_step(connection):
    """A before_migrations step that ends the process."""
    sys.exit("no schema for you")


class BuildErrorCase(BackendProjectCase):
    def revision_file(self, number):
        return next(self.versions.glob(f"{number}_*.py"))

    def syntax_error_line(self, path):
        """Return the line Python itself reports for the SyntaxError in ``path`` (it varies by version)."""
        return self.syntax_error(path).lineno

    def syntax_error(self, path):
        with self.assertRaises(SyntaxError) as raised:
            compile(path.read_text(), str(path), "exec")
        return raised.exception

    def assertSuiteFailed(self, run):
        """Not 0: unittest exits 1 on errors (5 from Python 3.12 on when, as here, no test ran)."""
        self.assertIn(run.returncode, (1, 5), run.stderr)
        self.assertIn("FAILED (errors=2)", run.stderr)

    def assertNothingPublished(self, database):
        self.assertIsNone(database.backend.read_record(database.fingerprint()))


class ExitingMigrationTests(BuildErrorCase):
    revisions = EXITING_REVISIONS

    def test_sys_exit_in_a_migration_is_a_migration_error_naming_it(self):
        database = self.database()
        with self.assertRaises(dbtestkit.MigrationError) as raised:
            database.ensure_golden()
        message = str(raised.exception)
        self.assertIn(f"Migration 0003 ({self.revision_file('0003')}) failed", message)
        self.assertIn("sys.exit(0) was called", message)
        self.assertEqual(raised.exception.revision, "0003")
        self.assertIsInstance(raised.exception.__cause__, SystemExit)
        self.assertNothingPublished(database)

    def test_keyboard_interrupt_is_left_alone(self):
        (self.revision_file("0003")).write_text(
            self.revision_file("0003").read_text().replace("sys.exit(0)", "raise KeyboardInterrupt"))
        database = self.database()
        with self.assertRaises(KeyboardInterrupt):
            database.ensure_golden()
        self.assertNothingPublished(database)


class OtherBaseExceptionTests(BuildErrorCase):
    revisions = DEFAULT_REVISIONS[:2] + [
        ("0003", "abort", "from tests.test_build_errors import Abort\nraise Abort()", "pass"),
    ]

    def test_any_base_exception_is_a_migration_error(self):
        with self.assertRaisesRegex(dbtestkit.MigrationError, r"Migration 0003 .* failed .*: Abort"):
            self.database().ensure_golden()


class ExitingSeedAndStepTests(BuildErrorCase):
    def test_sys_exit_in_a_seed_names_the_seed(self):
        database = self.database(seeds=[exiting_seed])
        with self.assertRaises(dbtestkit.MigrationError) as raised:
            database.ensure_golden()
        self.assertIn("Seed tests.test_build_errors.exiting_seed failed", str(raised.exception))
        self.assertIn("sys.exit(3) was called", str(raised.exception))
        self.assertNothingPublished(database)

    def test_sys_exit_in_a_before_migrations_step_names_the_step(self):
        database = self.database(before_migrations=[exiting_step])
        with self.assertRaises(dbtestkit.MigrationError) as raised:
            database.ensure_golden()
        self.assertIn("before_migrations step tests.test_build_errors.exiting_step failed",
                      str(raised.exception))
        self.assertIn("sys.exit('no schema for you') was called", str(raised.exception))
        self.assertNothingPublished(database)


class UnloadableRevisionTests(BuildErrorCase):
    revisions = BROKEN_REVISIONS

    def test_syntax_error_names_the_file_and_line(self):
        path = self.revision_file("0003")
        database = self.database()
        with self.assertRaises(dbtestkit.MigrationError) as raised:
            database.ensure_golden()
        self.assertIn(f"Revision file {path}, line {self.syntax_error_line(path)}, cannot be loaded: "
                      "SyntaxError: ", str(raised.exception))
        self.assertIn(f"\n    {self.syntax_error(path).text.strip()}\n", str(raised.exception))
        self.assertIsInstance(raised.exception.__cause__, SyntaxError)
        self.assertNothingPublished(database)

    def test_syntax_error_in_a_module_it_imports_names_both_files(self):
        path = self.revision_file("0003")
        broken = self.tmp / "project" / "myapp_broken.py"
        broken.write_text("def register(:\n    pass\n")
        path.write_text("import myapp_broken\n" + path.read_text().replace(
            'op.execute("UPDATE book SET title = \'x\'"', "pass"))
        sys.path.insert(0, str(broken.parent))
        self.addCleanup(sys.path.remove, str(broken.parent))
        with self.assertRaises(dbtestkit.MigrationError) as raised:
            self.database().ensure_golden()
        self.assertIn(f"Revision file {path}, line 1, cannot be loaded: SyntaxError in {broken}, "
                      f"line {self.syntax_error_line(broken)}: ", str(raised.exception))

    def test_failing_import_names_the_file_and_line(self):
        path = self.revision_file("0003")
        path.write_text("import no_such_module_of_the_app\n" + path.read_text().replace(
            'op.execute("UPDATE book SET title = \'x\'"', "pass"))
        with self.assertRaises(dbtestkit.MigrationError) as raised:
            self.database().ensure_golden()
        self.assertIn(f"Revision file {path}, line 1, cannot be loaded: ModuleNotFoundError: "
                      "No module named 'no_such_module_of_the_app'", str(raised.exception))


# Two test modules of a user's suite: one shares a transaction per module, one per class.
MODULE_FIXTURES = '''\
import dbtestkit

DB = dbtestkit.TestDatabase(alembic_ini={ini!r})
setUpModule, tearDownModule = DB.module_fixtures()


class Books(dbtestkit.DatabaseTestCase):
    database = DB

    def test_nothing(self):
        pass
'''
CLASS_FIXTURES = '''\
import dbtestkit


class Books(dbtestkit.DatabaseTestCase):
    database = dbtestkit.TestDatabase(alembic_ini={ini!r})

    def test_nothing(self):
        pass
'''
MIGRATION_CHECKS = '''\
import dbtestkit


class Migrations(dbtestkit.MigrationTestCase):
    database = dbtestkit.TestDatabase(alembic_ini={ini!r})
    checks = ("single_head_revision", "upgrade", "downgrade_leaves_no_trace")
'''


class EntryPointCase(BuildErrorCase):
    """Runs the user's suite or command in a fresh process on this test's backend."""

    def run_child(self, *args, modules=()):
        for name, text in modules:
            (self.tmp / f"{name}.py").write_text(text.format(ini=str(self.ini)))
        self.database()  # for the cleanup, should a child publish a golden after all
        return run_python(list(args), cwd=self.tmp, env=self.child_env())

    def run_suite(self):
        return self.run_child("-m", "unittest", "-v", "test_module_fixtures", "test_class_fixtures",
                              modules=[("test_module_fixtures", MODULE_FIXTURES),
                                       ("test_class_fixtures", CLASS_FIXTURES)])

    def run_checks(self):
        return self.run_child("-m", "unittest", "-v", "test_migrations",
                              modules=[("test_migrations", MIGRATION_CHECKS)])

    def run_build(self):
        return self.run_child("-m", "dbtestkit", "--alembic-ini", str(self.ini), "build")

    def assertShort(self, output):
        """No Alembic or importlib frames: the message names the line, that is enough."""
        self.assertNotRegex(output, r'File ".*(site-packages/alembic|<frozen importlib)', output)


class ExitingEntryPointTests(EntryPointCase):
    revisions = EXITING_REVISIONS

    def test_a_suite_whose_migration_exits_fails_loudly(self):
        run = self.run_suite()
        self.assertSuiteFailed(run)
        self.assertIn("ERROR: setUpModule (test_module_fixtures)", run.stderr)
        self.assertRegex(run.stderr, r"ERROR: setUpClass \(test_class_fixtures\.Books\)")
        self.assertEqual(run.stderr.count("dbtestkit.exceptions.MigrationError: Migration 0003 ("), 2,
                         run.stderr)
        self.assertIn("sys.exit(0) was called", run.stderr)

    def test_build_command_exits_1_naming_the_migration(self):
        run = self.run_build()
        self.assertEqual(run.returncode, 1, run.stdout + run.stderr)
        self.assertRegex(run.stderr, r"(?m)^dbtestkit: Migration 0003 \(.*0003_exit\.py\) failed .*"
                                     r"sys\.exit\(0\) was called")
        self.assertNotIn("Traceback", run.stderr)

    def test_migration_checks_name_the_migration(self):
        run = self.run_checks()
        self.assertEqual(run.returncode, 1, run.stderr)
        self.assertIn("FAILED (failures=2, skipped=2)", run.stderr)
        self.assertEqual(run.stderr.count(
            "AssertionError: Revision 0003_exit (migrations/versions/0003_exit.py) failed to upgrade: "
            "SystemExit: sys.exit(0) was called"), 2, run.stderr)
        self.assertShort(run.stderr)


class UnloadableEntryPointTests(EntryPointCase):
    revisions = BROKEN_REVISIONS

    def where(self):
        path = self.revision_file("0003")
        return f"Revision file {path}, line {self.syntax_error_line(path)}, cannot be loaded: SyntaxError"

    def test_a_suite_names_the_file_and_line(self):
        run = self.run_suite()
        self.assertSuiteFailed(run)
        self.assertIn("ERROR: setUpModule (test_module_fixtures)", run.stderr)
        self.assertRegex(run.stderr, r"ERROR: setUpClass \(test_class_fixtures\.Books\)")
        self.assertEqual(run.stderr.count(f"dbtestkit.exceptions.MigrationError: {self.where()}"), 2,
                         run.stderr)
        self.assertShort(run.stderr)

    def test_build_command_names_the_file_and_line(self):
        run = self.run_build()
        self.assertEqual(run.returncode, 1, run.stdout + run.stderr)
        self.assertTrue(run.stderr.startswith(f"dbtestkit: {self.where()}"), run.stderr)
        self.assertNotIn("Traceback", run.stderr)

    def test_migration_checks_name_the_file_and_line(self):
        run = self.run_checks()
        self.assertEqual(run.returncode, 1, run.stderr)
        # The two checks that load the history name it; single_head_revision reads only the
        # revision ids from the files (issue 16: no import, no database) and passes.
        self.assertEqual(len(re.findall(re.escape(self.where()), run.stderr)), 2, run.stderr)
        self.assertShort(run.stderr)


for _base in (ExitingMigrationTests, OtherBaseExceptionTests, ExitingSeedAndStepTests,
              UnloadableRevisionTests, ExitingEntryPointTests, UnloadableEntryPointTests):
    for _backend, _suffix in (("postgresql", "PostgreSQL"), ("mysql", "MariaDB")):
        _name = f"{_base.__name__}On{_suffix}"
        globals()[_name] = type(_name, (_base,), {"backend": _backend})
del _base, _backend, _suffix, _name


if __name__ == "__main__":
    unittest.main()
