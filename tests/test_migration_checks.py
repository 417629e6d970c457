"""MigrationTestCase: the Alembic history checks, on healthy and deliberately broken histories."""

import atexit
import importlib.util
import os
import shutil
import tempfile
import unittest
from pathlib import Path

import sqlalchemy as sa

import dbtestkit
from dbtestkit import migration_checks
from dbtestkit.migrations import snapshots
from dbtestkit.testcases.migration import MigrationTestCase
from tests.histories import create_legacy_author, head_metadata, write_history
from tests import support
from tests.support import EXAMPLES, STOCK_ENV_PY, run_python, skip_or_fail

BOOKSHOP_INI = EXAMPLES / "bookshop" / "alembic.ini"
CHECK_NAMES = list(migration_checks.CHECKS)
# backend: (environment variable, default URL), as in tests/support/servers.py
SERVERS = {
    "postgresql": ("DBTESTKIT_TEST_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    "mysql": ("DBTESTKIT_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/mysql"),
}


# One cache for the whole module, removed when the process ends. Not in setUpModule: the
# inner suites run_checks() runs belong to this module too, and unittest would run its
# module fixtures around each of them (a new cache each time, the previous one left behind).
CACHE = tempfile.mkdtemp(prefix="dbtestkit-migration-checks-")
atexit.register(shutil.rmtree, CACHE, True)


def run_checks(test_class):
    """Run every test of ``test_class`` (class fixtures included); return {check: (outcome, text)}."""
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(test_class)
    outcomes = {test._testMethodName[len("test_"):]: ("pass", "") for test in suite}
    result = unittest.TestResult()
    suite.run(result)
    for kind, entries in (("fail", result.failures), ("error", result.errors), ("skip", result.skipped)):
        for test, text in entries:
            outcomes[test._testMethodName[len("test_"):]] = (kind, text)
    return outcomes


def server_url(test, backend):
    """Return the URL of a reachable test server, or skip (fail if DBTESTKIT_REQUIRE names it)."""
    variable, default = SERVERS[backend]
    url = os.environ.get(variable) or default
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 2})
    try:
        with engine.connect():
            pass
    except Exception as error:
        detail = (str(getattr(error, "orig", None) or error).strip().splitlines() or ["?"])[0]
        skip_or_fail(test, backend, f"{backend} not reachable at {engine.url!r} ({detail}); "
                                    f"set {variable} to a server where this user may create databases")
    finally:
        engine.dispose()
    return url


class HistoryCase(unittest.TestCase):
    """Builds MigrationTestCase classes over a history written into a temporary folder."""

    def setUp(self):
        super().setUp()
        self.tmp = Path(tempfile.mkdtemp(prefix="dbtestkit-history-"))
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def migrations(self, history=None, *, ini=None, url="sqlite://", metadata="models", seeds=(),
                   before_migrations=(), **attributes):
        """Return a MigrationTestCase subclass checking ``history`` (or the project at ``ini``)."""
        if ini is None:
            ini = write_history(history, self.tmp / history)
        attributes["database"] = dbtestkit.TestDatabase(
            url, alembic_ini=str(ini), cache_dir=CACHE, seeds=seeds, before_migrations=before_migrations)
        if metadata == "models":
            metadata = head_metadata(history)
        if metadata is not None:
            attributes["metadata"] = metadata
        return type("Migrations", (MigrationTestCase,), attributes)

    def assertOutcomes(self, outcomes, expected):
        """Assert each check's outcome; checks not named in ``expected`` must pass."""
        actual = {name: outcome for name, (outcome, _) in outcomes.items()}
        wanted = {name: expected.get(name, "pass") for name in CHECK_NAMES}
        self.assertEqual(actual, wanted, "\n\n".join(text for _, text in outcomes.values() if text))

    def message(self, outcomes, check):
        """Return the failure text of ``check`` (its AssertionError message onwards)."""
        text = outcomes[check][1]
        return text[text.rfind("AssertionError:"):]


class HealthyHistoryTests(HistoryCase):
    def test_bookshop_passes_every_check_on_sqlite(self):
        # No `metadata =`: the models come from env.py's target_metadata.
        outcomes = run_checks(self.migrations(ini=BOOKSHOP_INI, metadata=None))
        self.assertOutcomes(outcomes, {})

    def test_bookshop_passes_every_check_on_postgresql(self):
        url = server_url(self, "postgresql")
        self.assertOutcomes(run_checks(self.migrations(ini=BOOKSHOP_INI, url=url, metadata=None)), {})

    def test_bookshop_passes_every_check_on_the_embedded_cluster(self):
        support.embedded_postgresql_url(self)  # skips without the wheel
        url = "postgresql+embedded://"
        self.assertOutcomes(run_checks(self.migrations(ini=BOOKSHOP_INI, url=url, metadata=None)), {})

    def test_bookshop_passes_every_check_on_mysql(self):
        url = server_url(self, "mysql")
        self.assertOutcomes(run_checks(self.migrations(ini=BOOKSHOP_INI, url=url, metadata=None)), {})

    def test_seeded_database_is_checked_without_its_seeds(self):
        # Were the seeded golden used, the models check would see an extra table.
        seeds = [lambda connection: connection.execute(sa.text("CREATE TABLE seeded_extra (id INTEGER)"))]
        migrations = self.migrations("healthy")
        migrations.database = dbtestkit.TestDatabase(
            alembic_ini=str(self.tmp / "healthy" / "alembic.ini"), cache_dir=CACHE, seeds=seeds)
        self.assertOutcomes(run_checks(migrations), {})

    def test_env_py_that_builds_its_own_engine_from_sqlalchemy_url(self):
        ini = write_history("healthy", self.tmp / "stock")
        (ini.parent / "migrations" / "env.py").write_text(STOCK_ENV_PY)
        self.assertOutcomes(run_checks(self.migrations("healthy", ini=ini)), {})

    def test_recreated_table_is_no_trace_on_postgresql(self):
        # Dropping and recreating a table changes its catalog entries but not its
        # shape: the lazy snapshots must look closer before calling it a trace.
        url = server_url(self, "postgresql")
        self.assertOutcomes(run_checks(self.migrations("recreated_table", url=url)), {})

    def test_recreated_table_is_no_trace_on_sqlite(self):
        self.assertOutcomes(run_checks(self.migrations("recreated_table")), {})


class BrokenHistoryTests(HistoryCase):
    def test_two_heads(self):
        outcomes = run_checks(self.migrations("two_heads"))
        self.assertOutcomes(outcomes, {"single_head_revision": "fail"})
        message = self.message(outcomes, "single_head_revision")
        self.assertIn("The history has 2 heads", message)
        self.assertIn("0002_create_book (migrations/versions/0002_create_book.py)", message)
        self.assertIn("0003_create_publisher (migrations/versions/0003_create_publisher.py)", message)
        self.assertIn('alembic merge -m "merge heads" 0002 0003', message)

    def test_model_drift(self):
        outcomes = run_checks(self.migrations("model_drift"))
        self.assertOutcomes(outcomes, {"model_definitions_match_ddl": "fail"})
        message = self.message(outcomes, "model_definitions_match_ddl")
        self.assertIn("The models do not match the schema the migrations build (2 differences)", message)
        self.assertIn("    add_column author.email VARCHAR(200) NULL\n", message)
        self.assertIn("    remove_table audit_log\n", message)
        self.assertIn("op.add_column('author', sa.Column('email', sa.String(length=200)", message)

    def test_model_drift_with_ignored_table(self):
        outcomes = run_checks(self.migrations("model_drift", ignore_tables=("audit_*",)))
        self.assertOutcomes(outcomes, {"model_definitions_match_ddl": "fail"})
        message = self.message(outcomes, "model_definitions_match_ddl")
        self.assertIn("(1 difference)", message)
        self.assertIn("add_column author.email", message)
        self.assertNotIn("audit_log", message)

    def test_model_drift_left_out_by_include_object(self):
        def include_object(self, object, name, type_, reflected, compare_to):
            return not (type_ == "column" and name == "email")

        migrations = self.migrations("model_drift", ignore_tables=("audit_log",),
                                     include_object=include_object)
        self.assertOutcomes(run_checks(migrations), {})

    def test_models_missing(self):
        outcomes = run_checks(self.migrations("healthy", metadata=None))
        self.assertOutcomes(outcomes, {"model_definitions_match_ddl": "error"})
        self.assertIn("set `metadata = Base.metadata` on the test class, or target_metadata in env.py",
                      outcomes["model_definitions_match_ddl"][1])

    def test_downgrade_leaves_a_column(self):
        outcomes = run_checks(self.migrations("downgrade_leaves_column"))
        self.assertOutcomes(outcomes, {"downgrade_leaves_no_trace": "fail"})
        self.assertNoTraceNamesTheColumn(outcomes)

    def test_downgrade_leaves_a_column_on_postgresql(self):
        url = server_url(self, "postgresql")
        outcomes = run_checks(self.migrations("downgrade_leaves_column", url=url))
        self.assertOutcomes(outcomes, {"downgrade_leaves_no_trace": "fail"})
        self.assertNoTraceNamesTheColumn(outcomes)

    def test_downgrade_leaves_a_column_on_mysql(self):
        url = server_url(self, "mysql")
        outcomes = run_checks(self.migrations("downgrade_leaves_column", url=url))
        self.assertOutcomes(outcomes, {"downgrade_leaves_no_trace": "fail"})
        self.assertNoTraceNamesTheColumn(outcomes)

    def assertNoTraceNamesTheColumn(self, outcomes):
        message = self.message(outcomes, "downgrade_leaves_no_trace")
        self.assertIn("Revision 0003_add_isbn (migrations/versions/0003_add_isbn.py): its downgrade "
                      "does not restore the schema its upgrade started from.", message)
        self.assertRegex(message, r"\n    \+ column book\.isbn VARCHAR\(20\) NULL\n")
        self.assertNotIn("ix_book_isbn", message)

    def test_failing_migration(self):
        outcomes = run_checks(self.migrations("failing_migration"))
        self.assertOutcomes(outcomes, {
            "upgrade": "fail", "model_definitions_match_ddl": "fail",
            "up_down_consistency": "fail", "downgrade_leaves_no_trace": "fail",
        })
        headline = ("Revision 0003_fill_isbn (migrations/versions/0003_fill_isbn.py) failed to "
                    "upgrade: OperationalError: (sqlite3.OperationalError) no such column: isbn")
        for check in ("upgrade", "model_definitions_match_ddl", "up_down_consistency",
                      "downgrade_leaves_no_trace"):
            self.assertIn(headline, self.message(outcomes, check))
        self.assertIn("line 10, in upgrade: op.execute(\"UPDATE book SET isbn = 'unknown'\")",
                      self.message(outcomes, "upgrade"))

    def test_missing_downgrade_without_floor(self):
        outcomes = run_checks(self.migrations("missing_downgrade"))
        self.assertOutcomes(outcomes, {"up_down_consistency": "fail", "downgrade_leaves_no_trace": "fail"})
        for check in ("up_down_consistency", "downgrade_leaves_no_trace"):
            message = self.message(outcomes, check)
            self.assertIn("Revision 0001_create_author (migrations/versions/0001_create_author.py) "
                          "failed to downgrade: NotImplementedError: authors are never dropped", message)
            self.assertIn("minimum_downgrade_revision = '0001'", message)

    def test_missing_downgrade_below_floor(self):
        migrations = self.migrations("missing_downgrade", minimum_downgrade_revision="0001")
        self.assertOutcomes(run_checks(migrations), {})

    def test_floor_on_one_branch_of_a_fork(self):
        # Only the other branch is downgraded; were the floor's branch upgraded
        # after it, its table would look like a trace of that downgrade. Both
        # floors, whichever order Alembic walks the branches in.
        for floor in ("0002", "0003"):
            with self.subTest(floor=floor):
                migrations = self.migrations("two_heads", minimum_downgrade_revision=floor,
                                             skip_checks=("single_head_revision",))
                self.assertOutcomes(run_checks(migrations), {"single_head_revision": "skip"})

    def test_floor_may_be_named_by_file_label(self):
        migrations = self.migrations("missing_downgrade", minimum_downgrade_revision="0001_create_author")
        self.assertOutcomes(run_checks(migrations), {})

    def test_unknown_floor(self):
        outcomes = run_checks(self.migrations("missing_downgrade", minimum_downgrade_revision="0099"))
        self.assertOutcomes(outcomes, {"up_down_consistency": "error", "downgrade_leaves_no_trace": "error"})
        self.assertIn("minimum_downgrade_revision = '0099' is not a revision of",
                      outcomes["up_down_consistency"][1])
        self.assertIn("known revisions: 0001, 0002, 0003", outcomes["up_down_consistency"][1])

    def test_env_py_that_migrates_another_database(self):
        ini = write_history("healthy", self.tmp / "elsewhere")
        other = self.tmp / "elsewhere.sqlite"
        env_py = STOCK_ENV_PY.replace(
            'config.get_section(config.config_ini_section, {})', f'{{"sqlalchemy.url": "sqlite:///{other}"}}')
        (ini.parent / "migrations" / "env.py").write_text(env_py)
        outcomes = run_checks(self.migrations("healthy", ini=ini,
                                              checks=("upgrade", "downgrade_leaves_no_trace")))
        self.assertEqual(outcomes["upgrade"][0], "fail")
        self.assertRegex(outcomes["upgrade"][1],
                         r"env\.py \(.*elsewhere/migrations/env\.py\) migrated some other database")
        self.assertEqual(outcomes["downgrade_leaves_no_trace"][0], "error")
        self.assertIn("not to the database dbtestkit handed it", outcomes["downgrade_leaves_no_trace"][1])


def seed_an_author(connection):
    """A seed for needs_before_migrations: the checks must start without it."""
    connection.execute(sa.text("INSERT INTO author (name, email) VALUES ('Le Guin', 'ursula@example.org')"))


class BeforeMigrationsTests(HistoryCase):
    """A history that starts from what before_migrations makes (as MLflow's does) passes every check.

    Seeded too: the checks' own databases (empty, unseeded) must run the steps as well.
    """

    def assertPasses(self, url):
        migrations = self.migrations("needs_before_migrations", url=url, seeds=[seed_an_author],
                                     before_migrations=[create_legacy_author])
        self.assertOutcomes(run_checks(migrations), {})

    def test_on_sqlite(self):
        self.assertPasses("sqlite://")

    def test_on_postgresql(self):
        self.assertPasses(server_url(self, "postgresql"))

    def test_on_mysql(self):
        self.assertPasses(server_url(self, "mysql"))


class NotImplementedInDowngradeTests(HistoryCase):
    """A NotImplementedError that the revision did not raise itself is a real error, not a floor."""

    CHECKED = ("up_down_consistency", "downgrade_leaves_no_trace")

    def assertRealError(self, history, url, error, raised_by, call):
        outcomes = run_checks(self.migrations(history, url=url, metadata=None, checks=self.CHECKED))
        expected = {name: "skip" for name in CHECK_NAMES if name not in self.CHECKED}
        self.assertOutcomes(outcomes, {**expected, **dict.fromkeys(self.CHECKED, "fail")})
        path = next((self.tmp / history / "migrations" / "versions").glob("0002_*.py"))
        line = path.read_text().splitlines().index(f"    {call}") + 1
        relative = f"migrations/versions/{path.name}"
        for check in self.CHECKED:
            message = self.message(outcomes, check)
            self.assertIn(f"Revision {path.stem} ({relative}) failed to downgrade: NotImplementedError: "
                          f"{error}", message)
            self.assertIn(f"Where:\n    {relative}, line {line}, in downgrade: {call}\n", message)
            self.assertRegex(message, rf"Raised by:\n    \S*{raised_by}, line \d+, in \w+; not by the "
                                      "revision itself")
            self.assertNotIn("minimum_downgrade_revision", message)

    def test_alembic_cannot_alter_constraints_on_sqlite(self):
        self.assertRealError("alembic_not_implemented", "sqlite://",
                             "No support for ALTER of constraints in SQLite dialect.",
                             r"alembic/ddl/sqlite\.py", 'op.drop_constraint("uq_author_name", "author")')

    def test_alembic_cannot_drop_an_untyped_constraint_on_mysql(self):
        self.assertRealError("alembic_not_implemented", server_url(self, "mysql"),
                             "No generic 'DROP CONSTRAINT' in MySQL - please specify constraint type",
                             r"alembic/ddl/mysql\.py", 'op.drop_constraint("uq_author_name", "author")')

    def test_application_code_raises_it_on_sqlite(self):
        self.assertRealError("helper_not_implemented", "sqlite://", "archived books cannot be restored",
                             r"tests/histories/__init__\.py", "restore_archived_books()")

    def test_application_code_raises_it_on_postgresql(self):
        self.assertRealError("helper_not_implemented", server_url(self, "postgresql"),
                             "archived books cannot be restored",
                             r"tests/histories/__init__\.py", "restore_archived_books()")

    def test_application_code_raises_it_on_mysql(self):
        self.assertRealError("helper_not_implemented", server_url(self, "mysql"),
                             "archived books cannot be restored",
                             r"tests/histories/__init__\.py", "restore_archived_books()")


class SelectionTests(HistoryCase):
    def test_checks_selects(self):
        outcomes = run_checks(self.migrations("two_heads", checks=("single_head_revision",)))
        expected = dict.fromkeys(CHECK_NAMES[1:], "skip")
        self.assertOutcomes(outcomes, {**expected, "single_head_revision": "fail"})
        self.assertEqual(outcomes["upgrade"][1],
                         "upgrade is not in Migrations.checks = ('single_head_revision',)")

    def test_skip_checks_deselects(self):
        outcomes = run_checks(self.migrations("downgrade_leaves_column",
                                              skip_checks=("test_downgrade_leaves_no_trace",)))
        self.assertOutcomes(outcomes, {"downgrade_leaves_no_trace": "skip"})
        self.assertEqual(outcomes["downgrade_leaves_no_trace"][1],
                         "downgrade_leaves_no_trace is in Migrations.skip_checks")

    def test_unknown_check_fails_at_class_creation(self):
        with self.assertRaises(dbtestkit.ConfigurationError) as raised:
            class Migrations(MigrationTestCase):
                checks = ("upgrade", "single_heads")
        self.assertEqual(str(raised.exception), (
            "Migrations.checks names unknown check 'single_heads'; valid checks: single_head_revision, "
            "upgrade, model_definitions_match_ddl, up_down_consistency, downgrade_leaves_no_trace."
        ))

    def test_unknown_skipped_check_fails_at_class_creation(self):
        with self.assertRaisesRegex(dbtestkit.ConfigurationError,
                                    r"Migrations\.skip_checks names unknown checks 'a', 'b'; valid checks: "):
            class Migrations(MigrationTestCase):
                skip_checks = ("a", "b")

    def test_only_subclasses_have_test_methods(self):
        # A test module that imports MigrationTestCase by name must not run it.
        names = unittest.defaultTestLoader.getTestCaseNames
        self.assertEqual(names(MigrationTestCase), [])
        self.assertEqual(names(self.migrations("healthy")), sorted(f"test_{n}" for n in CHECK_NAMES))

    def test_metadata_database_is_refused(self):
        migrations = type("Migrations", (MigrationTestCase,), {
            "database": dbtestkit.TestDatabase(metadata=head_metadata("healthy"), cache_dir=CACHE)})
        outcomes = run_checks(migrations)
        self.assertEqual(outcomes["upgrade"][0], "error")
        self.assertIn("the migration checks need a TestDatabase built from Alembic migrations",
                      outcomes["upgrade"][1])


class FrameworkFreeTests(HistoryCase):
    """The checks run without unittest: plain functions over a runner."""

    def test_run_check_raises_assertion_error(self):
        ini = write_history("two_heads", self.tmp / "two_heads")
        database = dbtestkit.TestDatabase(alembic_ini=str(ini), cache_dir=CACHE)
        runner = migration_checks.MigrationRunner(database)
        with self.assertRaisesRegex(AssertionError, r"^The history has 2 heads"):
            migration_checks.run_check("single_head_revision", runner)
        migration_checks.run_check("upgrade", runner)

    def test_differences_read_as_operations(self):
        from alembic.autogenerate import compare_metadata
        from alembic.runtime.migration import MigrationContext

        models = sa.MetaData()
        sa.Table("author", models, sa.Column("id", sa.Integer, primary_key=True))
        sa.Table("book", models, sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("title", sa.String(200), nullable=False),
                 sa.Column("author_id", sa.Integer, sa.ForeignKey("author.id")),
                 sa.Column("isbn", sa.String(20), index=True, unique=True))
        engine = sa.create_engine("sqlite://")
        with engine.begin() as connection:
            for ddl in ("CREATE TABLE author (id INTEGER NOT NULL PRIMARY KEY)",
                        "CREATE TABLE book (id INTEGER NOT NULL PRIMARY KEY, title VARCHAR(100), "
                        "author_id INTEGER, isbn VARCHAR(20), legacy_id INTEGER)",
                        "CREATE INDEX ix_book_legacy_id ON book (legacy_id)"):
                connection.exec_driver_sql(ddl)
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            lines = [snapshots.describe_diff(item, connection.dialect)
                     for item in snapshots.flatten_diffs(compare_metadata(context, models))]
        engine.dispose()
        self.assertEqual(sorted(lines), [
            "add_fk (unnamed) ON book (author_id) -> author (id)",
            "add_index ix_book_isbn ON book (isbn) UNIQUE",
            "modify_nullable book.title: True -> False",
            "modify_type book.title: VARCHAR(100) -> VARCHAR(200)",
            "remove_column book.legacy_id INTEGER NULL",
            "remove_index ix_book_legacy_id ON book (legacy_id)",
        ])

    def test_select_checks(self):
        self.assertEqual(migration_checks.select_checks(skip_checks=("upgrade",)),
                         tuple(name for name in CHECK_NAMES if name != "upgrade"))
        with self.assertRaisesRegex(dbtestkit.ConfigurationError, "valid checks: single_head_revision, "):
            migration_checks.select_checks(checks=("nope",))


SUITE_MODULE = '''\
import dbtestkit
from tests.histories import head_metadata


class HealthyMigrations(dbtestkit.MigrationTestCase):
    database = dbtestkit.TestDatabase(alembic_ini={healthy!r}, cache_dir={cache!r})
    metadata = head_metadata("healthy")


class DriftingModels(dbtestkit.MigrationTestCase):
    database = dbtestkit.TestDatabase(alembic_ini={drift!r}, cache_dir={cache!r})
    metadata = head_metadata("model_drift")
    checks = ("model_definitions_match_ddl",)
'''


class TestRunnerTests(HistoryCase):
    """The same checks under unittest, nose2 and pytest, each in its own process."""

    def run_suite(self, *args):
        (self.tmp / "test_history_checks.py").write_text(SUITE_MODULE.format(
            healthy=str(write_history("healthy", self.tmp / "healthy")),
            drift=str(write_history("model_drift", self.tmp / "drift")),
            cache=CACHE,
        ))
        return run_python(list(args), cwd=self.tmp, timeout=300)

    def require_tool(self, module):
        if importlib.util.find_spec(module) is None:
            skip_or_fail(self, f"tool:{module}", f"{module} is not installed (pip install -e .[test])")

    def assertUnittestStyle(self, run):
        self.assertEqual(run.returncode, 1, run.stdout + run.stderr)
        self.assertRegex(run.stderr, r"\nRan 10 tests? in ")
        self.assertRegex(run.stderr, r"FAILED \(failures=1, skipped=4\)")
        self.assertIn("test_model_definitions_match_ddl (test_history_checks.DriftingModels", run.stderr)
        self.assertIn("add_column author.email VARCHAR(200) NULL", run.stderr)

    def test_unittest(self):
        self.assertUnittestStyle(self.run_suite("-m", "unittest", "-v", "test_history_checks"))

    def test_nose2(self):
        self.require_tool("nose2")
        self.assertUnittestStyle(self.run_suite("-m", "nose2", "-v", "-s", ".", "test_history_checks"))

    def test_pytest(self):
        self.require_tool("pytest")
        run = self.run_suite("-m", "pytest", "-q", "-p", "no:cacheprovider", "test_history_checks.py")
        self.assertEqual(run.returncode, 1, run.stdout + run.stderr)
        self.assertRegex(run.stdout, r"\b1 failed, 5 passed, 4 skipped\b")
        self.assertIn("FAILED test_history_checks.py::DriftingModels::test_model_definitions_match_ddl",
                      run.stdout)
        self.assertIn("add_column author.email VARCHAR(200) NULL", run.stdout)


if __name__ == "__main__":
    unittest.main()
