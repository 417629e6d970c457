"""The MySQL/MariaDB backend on a real server: isolation, goldens, ownership, clones, processes, errors.

The server comes from DBTESTKIT_TEST_MYSQL_URL (default: root on 127.0.0.1:3306);
without one these tests skip, unless DBTESTKIT_REQUIRE names mysql.

Every test builds from a project of its own (a first revision holding a
random token), so its golden and clones have a fingerprint no other test or
concurrent run shares, and only databases of those fingerprints are dropped
afterwards. Library calls that act on every database of the current user
(reap, prune) run as a throwaway MySQL user made for that test.
"""

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import traceback
import unittest
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import make_url

import dbtestkit
from dbtestkit.backends.mysql_catalog import CATALOG, CREATE_TABLE as CREATE_CATALOG_TABLE
from dbtestkit.backends.mysql_catalog import TABLE as CATALOG_TABLE
from tests.support import (
    DEFAULT_REVISIONS, ENSURE_AND_READ, REPO, TempProjectCase, server_url, skip_or_fail, write_project,
)

MARKER_TABLE = "dbtestkit_marker"  # where dbtestkit kept its marker before the catalog


# -- helpers --------------------------------------------------------------------------------------


def unique_revision(token):
    """A first revision that does nothing but make the project's fingerprint unique."""
    return ("0000", f"unique {token}", f"# {token}: this test's own fingerprint\npass", "pass")


def admin_engine(url):
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def like_literal(text):
    return text.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")


def databases_like(engine, pattern):
    """Return the names of databases matching the LIKE ``pattern``."""
    with engine.connect() as connection:
        return connection.exec_driver_sql(
            "SELECT schema_name FROM information_schema.SCHEMATA WHERE schema_name LIKE %s "
            "ORDER BY schema_name", (pattern,),
        ).scalars().all()


def exists(engine, name):
    return databases_like(engine, like_literal(name)) == [name]


def databases_of(engine, fingerprint):
    """Return every golden and clone database of ``fingerprint`` on the server."""
    return (databases_like(engine, like_literal(f"dbtk_golden_{fingerprint[:40]}"))
            + clones_of(engine, fingerprint))


def clones_of(engine, fingerprint):
    return databases_like(engine, like_literal(f"dbtk_clone_{fingerprint[:12]}_") + "%")


def drop_databases(engine, names):
    """Drop ``names``, ending connections left inside them first."""
    with engine.connect() as connection:
        for name in names:
            for (process_id,) in connection.exec_driver_sql(
                "SELECT id FROM information_schema.PROCESSLIST WHERE db = %s AND id <> CONNECTION_ID()",
                (name,),
            ).all():
                with contextlib.suppress(Exception):
                    connection.exec_driver_sql(f"KILL {int(process_id)}")
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote(name)}")
            with contextlib.suppress(sa.exc.DBAPIError):  # no catalog yet
                connection.exec_driver_sql(f"DELETE FROM {CATALOG_TABLE} WHERE name = %s", (name,))


def quote(identifier):
    return "`" + identifier.replace("`", "``") + "`"


def marker_rows(engine, name):
    """Return the catalog entries of ``name`` as dicts (kind, owner, fingerprint, record)."""
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            f"SELECT kind, owner, fingerprint, record FROM {CATALOG_TABLE} WHERE name = %s", (name,)
        ).all()
    return [{"kind": kind, "owner": owner, "fingerprint": fingerprint, "record": json.loads(record)}
            for kind, owner, fingerprint, record in rows]


def write_marker(engine, name, fields, create=False):
    """Write a dbtestkit-style catalog entry for ``name`` (``create``: kept for old callers)."""
    with engine.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS {CATALOG}")
        connection.exec_driver_sql(CREATE_CATALOG_TABLE)
        connection.exec_driver_sql(
            f"REPLACE INTO {CATALOG_TABLE} (name, kind, owner, host, pid, fingerprint, created_at, "
            "record) VALUES (%s, %s, %s, 'elsewhere', 1, %s, UNIX_TIMESTAMP(), %s)",
            (name, fields["kind"], fields["owner"], fields.get("fingerprint", ""),
             json.dumps(fields.get("record", {}))),
        )


def current_user(engine):
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT CURRENT_USER()").scalar()


def table_names_in(engine, name):
    with engine.connect() as connection:
        return sorted(connection.exec_driver_sql(
            "SELECT table_name FROM information_schema.TABLES WHERE table_schema = %s", (name,)
        ).scalars().all())


def child_env(**extra):
    """This process's environment without DBTESTKIT_* settings, this checkout importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBTESTKIT_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def start_python(code, args, cwd, **env):
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)], cwd=cwd, env=child_env(**env), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def kill(process):
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)  # reaps it: a zombie still looks alive


def full_text(error):
    """The message of ``error`` with everything chained to it, as a traceback shows it."""
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


class MySQLCase(TempProjectCase):
    """A temp Alembic project of this test's own, the MySQL server, and cleanup of its databases."""

    base_revisions = DEFAULT_REVISIONS

    @property
    def revisions(self):
        return [unique_revision(self.token), *self.base_revisions]

    def setUp(self):
        # Before TempProjectCase.setUp, which hides DBTESTKIT_* variables.
        self.server = server_url(self, "mysql")
        self.token = uuid.uuid4().hex
        super().setUp()
        self.admin = admin_engine(self.server)
        self.addCleanup(self.admin.dispose)
        self.databases = []
        self.fingerprints = set()
        self.addCleanup(self.drop_own_databases)

    def database(self, **kwargs):
        """A TestDatabase on the server (URL overridable); its databases are dropped afterwards."""
        kwargs.setdefault("url", self.server)
        database = super().database(**kwargs)
        self.databases.append(database)
        return database

    def fingerprint_of(self, database):
        fingerprint = database.fingerprint()
        self.fingerprints.add(fingerprint)
        return fingerprint

    def project(self, name, revisions=DEFAULT_REVISIONS):
        """Write another project of this test's own; return its alembic.ini."""
        return write_project(self.tmp / name, [unique_revision(uuid.uuid4().hex), *revisions])

    def drop_own_databases(self):
        for database in self.databases:
            with contextlib.suppress(Exception):
                self.fingerprints.add(database.fingerprint())
        names = sorted({n for fp in self.fingerprints for n in databases_of(self.admin, fp)})
        drop_databases(self.admin, names)
        for database in self.databases:
            # Stop clone pools, which would otherwise prepare clones until exit.
            database.close()
            database.backend.admin.dispose()
        names = sorted({n for fp in self.fingerprints for n in databases_of(self.admin, fp)})
        drop_databases(self.admin, names)
        with self.admin.connect() as connection, contextlib.suppress(sa.exc.DBAPIError):
            for fingerprint in self.fingerprints:
                # Entries a pool's late drop could not forget: its user was dropped first.
                connection.exec_driver_sql(f"DELETE FROM {CATALOG_TABLE} WHERE fingerprint = %s",
                                           (fingerprint,))

    def dedicated_user_url(self, fingerprints):
        """Create a MySQL user for this test only (dropped afterwards); return its URL.

        It may use only the goldens and clones of ``fingerprints``: whatever a
        faulty reap() or prune() run as this user drops, it cannot be a
        database of anyone else.
        """
        user = f"dbtk_t_{uuid.uuid4().hex[:12]}"
        password = f"pw-{uuid.uuid4().hex}"
        try:
            with self.admin.connect() as connection:
                connection.exec_driver_sql("CREATE USER %s@%s IDENTIFIED BY %s", (user, "%", password))
                self.addCleanup(self.drop_user, user)
                connection.exec_driver_sql(
                    f"GRANT CREATE, SELECT, INSERT, UPDATE, DELETE ON {CATALOG}.* TO %s@%s", (user, "%"))
                for fingerprint in fingerprints:
                    self.fingerprints.add(fingerprint)
                    for pattern in (like_literal(self.golden_name(fingerprint)),
                                    like_literal(f"dbtk_clone_{fingerprint[:12]}_") + "%"):
                        connection.exec_driver_sql(
                            f"GRANT ALL PRIVILEGES ON `{pattern.replace('%', '%%')}`.* TO %s@%s",
                            (user, "%"),
                        )
        except sa.exc.DBAPIError as error:
            skip_or_fail(self, "mysql", f"cannot create a MySQL user for this test: {error.orig}")
        return make_url(self.server).set(
            username=user, password=password, database=""
        ).render_as_string(hide_password=False)

    def drop_user(self, user):
        with self.admin.connect() as connection:
            connection.exec_driver_sql("DROP USER IF EXISTS %s@%s", (user, "%"))

    def golden_name(self, fingerprint):
        return f"dbtk_golden_{fingerprint[:40]}"


# -- 1, 2: the inner isolation suites on the server -------------------------------------------


# Runs the case modules of tests/cases on DBTESTKIT_URL and prints one RESULT line of JSON.
RUN_CASE_MODULES = textwrap.dedent('''
    import json, sys
    import tests.support as support

    token = sys.argv[1]
    write_project = support.write_project

    def write_unique_project(root, revisions=support.DEFAULT_REVISIONS, *args, **kwargs):
        # One more revision of this run's own: a golden no other run shares or drops.
        unique = ("u" + token[:12], "unique " + token, "pass", "pass")
        return write_project(root, [*revisions, unique], *args, **kwargs)

    support.write_project = write_unique_project  # tests.cases imports it from here
    from tests.cases import DB
    from dbtestkit.backends.clone import live_clones
    from tests.test_isolation import problems, run_cases

    def handed_out_and_not_dropped():
        # Clones the pool prepared but handed to nobody yet are live too; they are not leaks.
        return sum(1 for c in live_clones() if c.releaser is not None)

    def outcome(*modules, reverse=False):
        result = run_cases(*modules, reverse=reverse)
        return {
            "run": result.testsRun,
            "problems": problems(result),
            "skipped": sorted([test.id().rsplit(".", 2)[-2], reason] for test, reason in result.skipped),
        }

    report = {"backend": DB.backend.name, "fingerprint": DB.fingerprint()}
    report["module"] = outcome("savepoint_module")
    report["module_reversed"] = outcome("savepoint_module", reverse=True)
    report["class"] = outcome("savepoint_class")
    report["class_reversed"] = outcome("savepoint_class", reverse=True)
    report["together"] = outcome("savepoint_class", "savepoint_module", "savepoint_class")
    report["failures"] = outcome("savepoint_failures")
    report["golden_file"] = outcome("golden_file_cases")
    report["golden_file_reversed"] = outcome("golden_file_cases", reverse=True)
    report["ddl"] = outcome("mysql_ddl")
    report["live_clones_left"] = handed_out_and_not_dropped()
    print("RESULT " + json.dumps(report))
''')


class IsolationSuitesOnMySQLTest(unittest.TestCase):
    """tests/cases run in a subprocess with DBTESTKIT_URL on the server: same outcomes as SQLite."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        server = server_url(unittest.TestCase(), "mysql")
        # No database in the URL: dbtestkit needs none of its own.
        url = make_url(server).set(database="").render_as_string(hide_password=False)
        admin = admin_engine(server)
        cls.addClassCleanup(admin.dispose)
        token = uuid.uuid4().hex
        try:
            process = subprocess.run(
                [sys.executable, "-c", RUN_CASE_MODULES, token], cwd=REPO,
                env=child_env(DBTESTKIT_URL=url), capture_output=True, text=True, timeout=150,
            )
            lines = [line for line in process.stdout.splitlines() if line.startswith("RESULT ")]
            if process.returncode != 0 or not lines:
                raise AssertionError(f"the case runner failed:\n{process.stdout}\n{process.stderr}")
        except BaseException:
            # No report to name the fingerprint: find this run's golden by its revision.
            fingerprints = _fingerprints_of_run(admin, token)
            drop_databases(admin, [n for fp in fingerprints for n in databases_of(admin, fp)])
            raise
        cls.report = json.loads(lines[-1][len("RESULT "):])
        fingerprint = cls.report["fingerprint"]
        # Recorded before cleanup: the subprocess has exited, its clones must be gone.
        cls.clones_after_exit = clones_of(admin, fingerprint)
        cls.golden_after_exit = databases_like(admin, like_literal(f"dbtk_golden_{fingerprint[:40]}"))
        drop_databases(admin, databases_of(admin, fingerprint))

    def assert_outcome(self, key, run, failing=()):
        """Check that ``run`` tests ran and exactly the ``failing`` ones failed; return the outcome."""
        outcome = self.report[key]
        if failing:
            self.assertEqual(sorted(outcome["problems"]), sorted(failing), key)
        else:
            self.assertEqual(outcome["problems"], {}, key)
        self.assertEqual(outcome["run"], run, key)
        return outcome

    def test_the_suites_ran_on_mysql(self):
        # Otherwise DBTESTKIT_URL was ignored and everything below tested SQLite.
        self.assertEqual(self.report["backend"], "mysql")
        self.assertEqual(len(self.golden_after_exit), 1)

    def test_module_scope_passes_in_both_orders(self):
        self.assert_outcome("module", 16)
        self.assert_outcome("module_reversed", 16)

    def test_class_scope_passes_in_both_orders(self):
        self.assert_outcome("class", 16)
        self.assert_outcome("class_reversed", 16)

    def test_module_and_class_scopes_together(self):
        self.assert_outcome("together", 48)

    def test_no_clone_outlives_its_test_or_the_process(self):
        self.assertEqual(self.report["live_clones_left"], 0)
        self.assertEqual(self.clones_after_exit, [])

    def test_only_the_deliberate_failures_fail(self):
        outcome = self.assert_outcome("failures", 10, [
            "test_1_commits_connection", "test_1_never_runs", "test_1_raises_after_writing",
            "test_reports_missing_super",
        ])
        problems = outcome["problems"]
        self.assertIn("IsolationBroken", problems["test_1_commits_connection"])
        self.assertIn("GoldenFileTestCase", problems["test_1_commits_connection"])
        self.assertIn("super().setUpClass()", problems["test_reports_missing_super"])
        self.assertIn("boom in setUp", problems["test_1_never_runs"])

    def test_clone_per_test_passes_in_both_orders_file_and_shared_clones_included(self):
        for key in ("golden_file", "golden_file_reversed"):
            outcome = self.assert_outcome(key, 7)
            self.assertEqual(outcome["skipped"], [], key)

    def test_ddl_in_a_savepoint_test_is_isolation_broken_and_the_next_tests_are_pristine(self):
        failing = ["test_1_create_table_on_the_connection", "test_1_insert_then_create_table"]
        outcome = self.assert_outcome("ddl", 5, failing)
        for name in failing:
            message = outcome["problems"][name]
            self.assertIn("dbtestkit.exceptions.IsolationBroken", message, name)
            self.assertIn("GoldenFileTestCase", message, name)
            self.assertIn("DDL", message, name)


def _fingerprints_of_run(admin, token):
    """Fingerprints cannot be recomputed here; find the run's golden by its marker instead."""
    found = []
    for name in databases_like(admin, like_literal("dbtk_golden_") + "%"):
        with contextlib.suppress(Exception):
            with admin.connect() as connection:
                has_revision = connection.exec_driver_sql(
                    f"SELECT COUNT(*) FROM {quote(name)}.alembic_version WHERE version_num = %s",
                    ("u" + token[:12],),
                ).scalar()
            if has_revision:
                found.append(marker_rows(admin, name)[0]["record"]["fingerprint"])
    return found


# -- 3: the golden --------------------------------------------------------------------------------


class GoldenOnMySQLTest(MySQLCase):

    def test_built_once_then_reused(self):
        first = self.database().ensure_golden()
        self.assertTrue(first.built)
        again = self.database().ensure_golden()
        self.assertFalse(again.built)
        self.assertEqual(again.url, first.url)

    def test_golden_is_a_database_named_after_the_fingerprint_with_a_golden_marker(self):
        database = self.database()
        fingerprint = self.fingerprint_of(database)
        golden = database.ensure_golden()
        name = make_url(golden.url).database
        self.assertRegex(name, r"^dbtk_golden_[0-9a-f]{40}$")
        self.assertEqual(name, self.golden_name(fingerprint))
        self.assertTrue(exists(self.admin, name))
        [marker] = marker_rows(self.admin, name)
        self.assertEqual(marker["kind"], "golden")
        self.assertEqual(marker["owner"], current_user(self.admin))
        self.assertEqual(marker["record"]["fingerprint"], fingerprint)
        self.assertEqual(marker["record"]["heads"], "0004")
        self.assertEqual({"author", "book", "alembic_version"}, set(table_names_in(self.admin, name)))

    def test_fingerprint_includes_the_server_flavour_and_version(self):
        database = self.database()
        with self.admin.connect() as connection:
            version = connection.exec_driver_sql("SELECT VERSION()").scalar()
        flavour = "mariadb" if "mariadb" in version.lower() else "mysql"
        major_minor = ".".join(version.split(".")[:2])
        self.assertEqual(database.backend.identity(), f"{flavour} {major_minor} catalog-1")
        on_sqlite = super(MySQLCase, self).database(url="sqlite://")
        self.assertNotEqual(database.fingerprint(), on_sqlite.fingerprint())

    def test_build_killed_before_its_marker_is_dropped_and_rebuilt(self):
        database = self.database()
        fingerprint = self.fingerprint_of(database)
        name = self.golden_name(fingerprint)
        # What a build killed after its migrations but before publication leaves.
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {quote(name)}")
            connection.exec_driver_sql(f"CREATE TABLE {quote(name)}.half_built (id INTEGER)")
        write_marker(self.admin, name, {
            "kind": "build", "owner": current_user(self.admin), "fingerprint": fingerprint[:40],
        }, create=True)

        golden = database.ensure_golden()
        self.assertTrue(golden.built)
        tables = table_names_in(self.admin, name)
        self.assertNotIn("half_built", tables)
        self.assertTrue({"author", "book", "alembic_version"} <= set(tables))
        [marker] = marker_rows(self.admin, name)
        self.assertEqual(marker["kind"], "golden")
        self.assertEqual(marker["record"]["fingerprint"], fingerprint)
        self.assertEqual(databases_of(self.admin, fingerprint), [name])

    def test_tampered_marker_fingerprint_is_rebuilt(self):
        database = self.database()
        fingerprint = self.fingerprint_of(database)
        name = self.golden_name(fingerprint)
        database.ensure_golden()
        [marker] = marker_rows(self.admin, name)
        marker["record"]["fingerprint"] = "0" * 64
        write_marker(self.admin, name, marker)
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE TABLE {quote(name)}.planted (id INTEGER)")

        self.assertTrue(self.database().ensure_golden().built)
        [marker] = marker_rows(self.admin, name)
        self.assertEqual(marker["record"]["fingerprint"], fingerprint)
        self.assertNotIn("planted", table_names_in(self.admin, name))
        self.assertFalse(self.database().ensure_golden().built)

    def test_golden_not_at_its_recorded_head_is_rebuilt(self):
        database = self.database()
        name = self.golden_name(self.fingerprint_of(database))
        database.ensure_golden()
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f"UPDATE {quote(name)}.alembic_version SET version_num = '0002'")
        self.assertTrue(self.database().ensure_golden().built)
        with self.admin.connect() as connection:
            self.assertEqual(connection.exec_driver_sql(
                f"SELECT version_num FROM {quote(name)}.alembic_version").scalars().all(), ["0004"])

    def test_the_database_named_in_the_url_gets_no_new_tables(self):
        own = f"dbtestkit_test_url_{self.token[:12]}"
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {quote(own)}")
        self.addCleanup(drop_databases, self.admin, [own])
        url = make_url(self.server).set(database=own).render_as_string(hide_password=False)
        database = self.database(url=url)
        self.assertTrue(database.ensure_golden().built)
        with database.clone() as clone, clone.engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO author (name) VALUES ('in the clone')")
        self.assertEqual(table_names_in(self.admin, own), [])


# -- 4: ownership ---------------------------------------------------------------------------------


class OwnershipOnMySQLTest(MySQLCase):

    def assert_refused_and_kept(self, database, name, *expected):
        with self.assertRaises(dbtestkit.DbtestkitError) as caught:
            database.ensure_golden()
        message = str(caught.exception)
        self.assertIn("not by this user", message)
        self.assertIn(name, message)
        for text in expected:
            self.assertIn(text, message)
        self.assertTrue(exists(self.admin, name), "dbtestkit dropped a database it did not make")
        return message

    def plant(self, name):
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {quote(name)}")
            connection.exec_driver_sql(f"CREATE TABLE {quote(name)}.precious (id INTEGER)")
            connection.exec_driver_sql(f"INSERT INTO {quote(name)}.precious VALUES (42)")

    def assert_precious_intact(self, name):
        with self.admin.connect() as connection:
            self.assertEqual(connection.exec_driver_sql(
                f"SELECT id FROM {quote(name)}.precious").scalars().all(), [42])

    def test_golden_named_database_without_a_marker_is_refused_and_kept(self):
        database = self.database()
        name = self.golden_name(self.fingerprint_of(database))
        self.plant(name)
        self.assert_refused_and_kept(database, name)
        self.assert_precious_intact(name)

    def test_golden_named_database_with_a_foreign_marker_table_is_refused_and_kept(self):
        database = self.database()
        name = self.golden_name(self.fingerprint_of(database))
        self.plant(name)
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE TABLE {quote(name)}.{MARKER_TABLE} (marker TEXT)")
            connection.exec_driver_sql(
                f"INSERT INTO {quote(name)}.{MARKER_TABLE} VALUES ('mine, not yours')")
        self.assert_refused_and_kept(database, name)
        self.assert_precious_intact(name)

    def test_marker_owned_by_another_user_is_refused_and_kept(self):
        for kind in ("golden", "build"):
            with self.subTest(kind=kind):
                database = self.database()
                fingerprint = self.fingerprint_of(database)
                name = self.golden_name(fingerprint)
                self.plant(name)
                write_marker(self.admin, name, {
                    "kind": kind, "owner": "someone@%", "fingerprint": fingerprint[:40],
                    "record": {"fingerprint": fingerprint, "heads": "0004",
                               "version_table": "alembic_version"},
                }, create=True)
                self.assert_refused_and_kept(database, name, "someone@%")
                self.assert_refused_and_kept(self.database(), name, "someone@%")
                self.assert_precious_intact(name)
                drop_databases(self.admin, [name])
                # A new project, so the next kind gets a fingerprint of its own.
                self.ini = self.project(f"project-{kind}")

    def test_golden_built_by_another_real_user_is_refused_and_kept(self):
        fingerprint = self.fingerprint_of(self.database())
        other = self.database(url=self.dedicated_user_url([fingerprint]))
        golden = other.ensure_golden()
        self.assertTrue(golden.built)
        name = make_url(golden.url).database
        owner = marker_rows(self.admin, name)[0]["owner"]
        self.assertNotEqual(owner, current_user(self.admin))
        self.assert_refused_and_kept(self.database(), name, owner)
        self.assertFalse(other.ensure_golden().built, "the other user's golden was touched")


# -- 5: clone fidelity ----------------------------------------------------------------------------

FIDELITY_REVISIONS = [
    ("0001", "catalog tables", textwrap.dedent('''\
        op.execute("""
            CREATE TABLE category (
                id INTEGER NOT NULL AUTO_INCREMENT,
                name VARCHAR(50) NOT NULL,
                parent_id INTEGER NULL,
                PRIMARY KEY (id),
                CONSTRAINT uq_category_name UNIQUE (name),
                CONSTRAINT fk_category_parent FOREIGN KEY (parent_id) REFERENCES category (id)
                    ON DELETE SET NULL
            ) ENGINE=InnoDB
        """)
        op.execute("""
            CREATE TABLE product (
                id INTEGER NOT NULL AUTO_INCREMENT,
                sku VARCHAR(20) NOT NULL,
                category_id INTEGER NOT NULL,
                price DECIMAL(10, 2) NOT NULL,
                qty INTEGER NOT NULL DEFAULT 0,
                total DECIMAL(12, 2) AS (price * qty) VIRTUAL,
                sku_lower VARCHAR(20) AS (LOWER(sku)) STORED,
                PRIMARY KEY (id),
                CONSTRAINT uq_product_sku UNIQUE (sku),
                CONSTRAINT ck_product_price CHECK (price >= 0),
                CONSTRAINT fk_product_category FOREIGN KEY (category_id) REFERENCES category (id)
                    ON DELETE CASCADE
            ) ENGINE=InnoDB
        """)
        op.execute("CREATE INDEX ix_product_category_price ON product (category_id, price)")
        op.execute("""
            CREATE TABLE audit_log (
                id INTEGER NOT NULL AUTO_INCREMENT PRIMARY KEY,
                product_id INTEGER NOT NULL,
                action VARCHAR(20) NOT NULL
            ) ENGINE=InnoDB
        """)
        op.execute("""
            CREATE TABLE coupon (
                id INTEGER NOT NULL AUTO_INCREMENT PRIMARY KEY,
                code VARCHAR(20) NOT NULL
            ) ENGINE=InnoDB
        """)'''), "pass"),
    ("0002", "trigger and views", textwrap.dedent('''\
        op.execute(
            "CREATE TRIGGER trg_product_audit AFTER INSERT ON product FOR EACH ROW "
            "INSERT INTO audit_log (product_id, action) VALUES (NEW.id, 'insert')"
        )
        op.execute(
            "CREATE VIEW product_catalog AS SELECT p.id AS id, p.sku AS sku, c.name AS category, "
            "p.price AS price FROM product p JOIN category c ON c.id = p.category_id"
        )
        # Sorts before the view it reads: creating views by name would fail.
        op.execute("CREATE VIEW a_cheap_products AS SELECT id, sku FROM product_catalog WHERE price < 10")'''),
     "pass"),
    ("0003", "rows", textwrap.dedent('''\
        op.execute("INSERT INTO category (id, name, parent_id) VALUES "
                   "(1, 'Books', NULL), (2, 'Science Fiction', 1), (3, 'Games', NULL), (10, 'Gone', NULL)")
        op.execute("DELETE FROM category WHERE id = 10")
        op.execute("INSERT INTO product (sku, category_id, price, qty) VALUES "
                   "('SF-1', 2, 9.50, 3), ('SF-2', 2, 12.00, 1), ('GM-1', 3, 5.25, 10), "
                   "('GM-2', 3, 30.00, 2), ('BK-1', 1, 7.00, 0)")
        # Counters now run ahead of the rows: a copy must keep them, not recompute them.
        op.execute("DELETE FROM product WHERE sku IN ('GM-2', 'BK-1')")
        op.execute("INSERT INTO coupon (code) VALUES ('A'), ('B')")
        op.execute("DELETE FROM coupon")'''), "pass"),
]


def reflect(engine, schema):
    """Return what SQLAlchemy reflects of a database, plus raw view and trigger definitions."""
    unqualify = lambda sql: sql.replace(f"{quote(schema)}.", "")  # noqa: E731
    with engine.connect() as connection:
        inspector = sa.inspect(connection)
        snapshot = {"tables": sorted(inspector.get_table_names()),
                    "views": sorted(inspector.get_view_names())}
        for table in snapshot["tables"]:
            snapshot[f"table {table}"] = {
                "columns": [{**c, "type": str(c["type"])} for c in inspector.get_columns(table)],
                "primary key": inspector.get_pk_constraint(table),
                "foreign keys": sorted(inspector.get_foreign_keys(table), key=lambda f: f["name"]),
                "indexes": sorted(inspector.get_indexes(table), key=lambda i: i["name"]),
                "unique": sorted(inspector.get_unique_constraints(table), key=lambda u: u["name"]),
                "checks": sorted(inspector.get_check_constraints(table), key=lambda c: c["name"]),
            }
        for view in snapshot["views"]:
            row = connection.exec_driver_sql(f"SHOW CREATE VIEW {quote(view)}").first()
            snapshot[f"view {view}"] = unqualify(row[1])
        snapshot["triggers"] = [
            {k: (unqualify(v) if isinstance(v, str) else v) for k, v in row._mapping.items()}
            for row in connection.exec_driver_sql(
                "SELECT trigger_name, event_manipulation, event_object_table, action_order, "
                "action_timing, action_orientation, action_statement, definer, sql_mode "
                "FROM information_schema.TRIGGERS WHERE trigger_schema = %s ORDER BY trigger_name",
                (schema,),
            )
        ]
    return snapshot


def all_rows(engine, tables):
    with engine.connect() as connection:
        return {
            table: sorted(
                (tuple(row) for row in connection.exec_driver_sql(f"SELECT * FROM {quote(table)}")),
                key=repr,
            )
            for table in tables
        }


def next_auto_increments(engine, schema):
    with engine.connect() as connection:
        return dict(connection.exec_driver_sql(
            "SELECT table_name, auto_increment FROM information_schema.TABLES "
            "WHERE table_schema = %s AND auto_increment IS NOT NULL", (schema,),
        ).all())


class CloneFidelityOnMySQLTest(MySQLCase):
    """A clone holds exactly what the golden holds, and behaves like it."""

    base_revisions = FIDELITY_REVISIONS

    def setUp(self):
        super().setUp()
        database = self.database()
        self.golden = database.ensure_golden()
        self.golden_schema = make_url(self.golden.url).database
        self.golden_engine = sa.create_engine(self.golden.url, poolclass=sa.pool.NullPool)
        self.addCleanup(self.golden_engine.dispose)
        self.clone = database.clone()
        self.addCleanup(self.clone.drop)

    def test_reflected_schema_views_and_triggers_are_identical(self):
        golden = reflect(self.golden_engine, self.golden_schema)
        clone = reflect(self.clone.engine, self.clone.name)
        # The project really has what this test is about.
        self.assertEqual(golden["tables"], sorted(
            ["alembic_version", "audit_log", "category", "coupon", "product"]))
        self.assertEqual(golden["views"], ["a_cheap_products", "product_catalog"])
        self.assertEqual(len(golden["triggers"]), 1)
        product = golden["table product"]
        self.assertEqual({fk["options"].get("ondelete") for fk in product["foreign keys"]}, {"CASCADE"})
        self.assertEqual(golden["table category"]["foreign keys"][0]["referred_table"], "category")
        self.assertIn("ix_product_category_price", [i["name"] for i in product["indexes"]])
        self.assertIn("ck_product_price", [c["name"] for c in product["checks"]])
        self.assertTrue(any(c.get("computed") for c in product["columns"]))

        self.maxDiff = None
        for key in golden:
            with self.subTest(key):
                self.assertEqual(clone.get(key), golden[key])
        self.assertEqual(sorted(clone), sorted(golden))

    def test_views_and_triggers_of_the_clone_use_the_clone(self):
        with self.clone.engine.connect() as connection:
            definitions = [connection.exec_driver_sql(f"SHOW CREATE VIEW {view}").first()[1]
                           for view in ("product_catalog", "a_cheap_products")]
            schemas = connection.exec_driver_sql(
                "SELECT DISTINCT event_object_schema FROM information_schema.TRIGGERS "
                "WHERE trigger_schema = %s", (self.clone.name,)).scalars().all()
        for definition in definitions:
            self.assertNotIn(self.golden_schema, definition)
        self.assertEqual(schemas, [self.clone.name])

    def test_rows_of_every_table_are_identical(self):
        tables = [t for t in sa.inspect(self.golden_engine).get_table_names() if t != MARKER_TABLE]
        golden = all_rows(self.golden_engine, tables)
        clone = all_rows(self.clone.engine, tables)
        self.assertEqual(len(golden["product"]), 3)
        self.assertEqual(len(golden["audit_log"]), 5)  # the trigger fired while migrating
        self.assertEqual(golden["coupon"], [])
        self.assertEqual({t: len(r) for t, r in clone.items()}, {t: len(r) for t, r in golden.items()})
        self.assertEqual(clone, golden)

    def test_next_auto_increment_values_are_the_goldens(self):
        golden_next = next_auto_increments(self.golden_engine, self.golden_schema)
        self.assertEqual(golden_next["product"], 6)  # rows 4 and 5 were deleted
        self.assertEqual(golden_next["coupon"], 3)  # no rows at all
        self.assertEqual(next_auto_increments(self.clone.engine, self.clone.name), golden_next)
        with self.clone.engine.begin() as connection:
            inserted = {
                "audit_log": connection.exec_driver_sql(
                    "INSERT INTO audit_log (product_id, action) VALUES (1, 'manual')").lastrowid,
                "category": connection.exec_driver_sql(
                    "INSERT INTO category (name) VALUES ('Music')").lastrowid,
                "coupon": connection.exec_driver_sql(
                    "INSERT INTO coupon (code) VALUES ('C')").lastrowid,
                "product": connection.exec_driver_sql(
                    "INSERT INTO product (sku, category_id, price) VALUES ('MU-1', 3, 1)").lastrowid,
            }
        self.assertEqual(inserted, {t: golden_next[t] for t in inserted})

    def test_foreign_keys_checks_and_cascades_are_enforced_in_the_clone(self):
        with self.clone.engine.connect() as connection:
            with self.assertRaises(sa.exc.IntegrityError):
                connection.exec_driver_sql(
                    "INSERT INTO product (sku, category_id, price) VALUES ('ORPHAN', 999, 1)")
            connection.rollback()
            with self.assertRaises(sa.exc.IntegrityError):
                connection.exec_driver_sql(
                    "INSERT INTO category (name, parent_id) VALUES ('Orphan', 999)")
            connection.rollback()
            with self.assertRaises(sa.exc.DBAPIError) as caught:
                connection.exec_driver_sql(
                    "INSERT INTO product (sku, category_id, price) VALUES ('NEG', 3, -1)")
            self.assertIn("ck_product_price", str(caught.exception))
            connection.rollback()
            connection.exec_driver_sql("DELETE FROM category WHERE id = 1")
            self.assertEqual(connection.exec_driver_sql(
                "SELECT parent_id FROM category WHERE id = 2").scalar(), None)  # SET NULL
            connection.exec_driver_sql("DELETE FROM category WHERE id = 3")
            self.assertEqual(connection.exec_driver_sql(
                "SELECT sku FROM product ORDER BY sku").scalars().all(), ["SF-1", "SF-2"])  # CASCADE
            connection.commit()

    def test_trigger_and_views_work_in_the_clone(self):
        with self.clone.engine.begin() as connection:
            new_id = connection.exec_driver_sql(
                "INSERT INTO product (sku, category_id, price, qty) VALUES ('NEW-1', 2, 3.00, 4)"
            ).lastrowid
            audit = connection.exec_driver_sql(
                "SELECT action FROM audit_log WHERE product_id = %s", (new_id,)).scalars().all()
            cheap = connection.exec_driver_sql(
                "SELECT sku FROM a_cheap_products ORDER BY sku").scalars().all()
            total = connection.exec_driver_sql(
                "SELECT total, sku_lower FROM product WHERE id = %s", (new_id,)).first()
        self.assertEqual(audit, ["insert"])
        self.assertEqual(cheap, ["GM-1", "NEW-1", "SF-1"])
        self.assertEqual((float(total[0]), total[1]), (12.0, "new-1"))
        # The golden did not change.
        self.assertEqual(len(all_rows(self.golden_engine, ["audit_log"])["audit_log"]), 5)

    def test_marker_of_a_clone_says_clone(self):
        [marker] = marker_rows(self.admin, self.clone.name)
        self.assertEqual(marker["kind"], "clone")
        self.assertEqual(marker["owner"], current_user(self.admin))
        self.assertRegex(self.clone.name, rf"^dbtk_clone_{self.golden.fingerprint[:12]}_")


ROUTINE_AND_SEQUENCE_REVISIONS = [
    ("0001", "routines", textwrap.dedent('''\
        op.execute("CREATE TABLE filled (id INTEGER PRIMARY KEY)")
        op.execute("CREATE FUNCTION add_one(x INTEGER) RETURNS INTEGER DETERMINISTIC RETURN x + 1")
        op.execute("CREATE PROCEDURE fill() BEGIN INSERT INTO filled VALUES (7); END")'''), "pass"),
    ("0002", "sequence", textwrap.dedent('''\
        if op.get_bind().dialect.is_mariadb:
            op.execute("CREATE SEQUENCE order_number START WITH 100")
            op.execute("SELECT NEXTVAL(order_number)")'''), "pass"),
]


class CloneRoutinesAndSequencesOnMySQLTest(MySQLCase):
    """Stored functions, procedures and (MariaDB) sequences made by migrations are in a clone too."""

    base_revisions = ROUTINE_AND_SEQUENCE_REVISIONS

    def setUp(self):
        super().setUp()
        database = self.database()
        self.golden = database.ensure_golden()
        self.golden_engine = sa.create_engine(self.golden.url, poolclass=sa.pool.NullPool)
        self.addCleanup(self.golden_engine.dispose)
        self.clone = database.clone()
        self.addCleanup(self.clone.drop)

    def routines(self, engine):
        with engine.connect() as connection:
            return [tuple(row) for row in connection.exec_driver_sql(
                "SELECT routine_name, routine_type, data_type, routine_definition, is_deterministic "
                "FROM information_schema.ROUTINES WHERE routine_schema = DATABASE() "
                "ORDER BY routine_name"
            )]

    def test_stored_functions_and_procedures_are_copied(self):
        golden = self.routines(self.golden_engine)
        self.assertEqual([r[0] for r in golden], ["add_one", "fill"])
        self.assertEqual(self.routines(self.clone.engine), golden)
        with self.clone.engine.begin() as connection:
            self.assertEqual(connection.exec_driver_sql("SELECT add_one(41)").scalar(), 42)
            connection.exec_driver_sql("CALL fill()")
            self.assertEqual(connection.exec_driver_sql("SELECT id FROM filled").scalars().all(), [7])

    def test_sequences_are_copied_with_their_next_value(self):
        with self.golden_engine.connect() as connection:
            version = connection.exec_driver_sql("SELECT VERSION()").scalar()
        if "mariadb" not in version.lower():
            self.skipTest("sequences are a MariaDB feature")
        self.assertEqual(sa.inspect(self.golden_engine).get_sequence_names(), ["order_number"])
        self.assertEqual(sa.inspect(self.clone.engine).get_sequence_names(), ["order_number"])
        with self.clone.engine.connect() as connection:
            # The migration took 100: a clone must never hand it out again.
            self.assertGreater(connection.exec_driver_sql("SELECT NEXTVAL(order_number)").scalar(), 100)


# -- 6: clones and the pool -----------------------------------------------------------------------

# Takes three clones, drops one, leaves two live, and exits normally.
USE_THE_POOL = textwrap.dedent("""
    import json, sys
    import dbtestkit
    database = dbtestkit.TestDatabase(sys.argv[1], alembic_ini=sys.argv[2], cache_dir=sys.argv[3])
    first, second, third = database.clone(), database.clone(), database.clone()
    first.drop()
    print(json.dumps([first.name, second.name, third.name]))
""")


class ClonesOnMySQLTest(MySQLCase):

    def authors(self, engine):
        with engine.connect() as connection:
            return connection.exec_driver_sql("SELECT name FROM author ORDER BY name").scalars().all()

    def test_clones_are_independent(self):
        database = self.database()
        golden = database.ensure_golden()
        with database.clone() as one, database.clone() as other:
            self.assertNotEqual(one.name, other.name)
            with one.engine.begin() as connection:
                connection.exec_driver_sql("INSERT INTO author (name) VALUES ('Only in one')")
            self.assertIn("Only in one", self.authors(one.engine))
            self.assertEqual(self.authors(other.engine), ["Ursula K. Le Guin"])
        engine = sa.create_engine(golden.url, poolclass=sa.pool.NullPool)
        self.addCleanup(engine.dispose)
        self.assertEqual(self.authors(engine), ["Ursula K. Le Guin"])

    def test_drop_does_not_hang_on_a_connection_left_in_a_transaction(self):
        database = self.database()
        clone = database.clone()
        connection = clone.engine.connect()
        self.addCleanup(_quiet_close, connection)
        connection.exec_driver_sql("INSERT INTO author (name) VALUES ('uncommitted')")
        connection.exec_driver_sql("SELECT * FROM book FOR UPDATE").all()
        self.assertTrue(connection.in_transaction())
        started = time.monotonic()
        clone.drop()
        while exists(self.admin, clone.name) and time.monotonic() - started < 20:
            time.sleep(0.05)
        self.assertFalse(exists(self.admin, clone.name),
                         "the clone still exists 20 s after drop(): DROP DATABASE is waiting")

    def test_the_pool_never_hands_out_the_same_clone_twice(self):
        database = self.database()
        held = [database.clone() for _ in range(10)]
        names = [clone.name for clone in held]
        self.assertEqual(len(set(names)), 10, names)
        for name in names:
            self.assertTrue(exists(self.admin, name))
        for clone in held:
            clone.drop()
        # Taken one after another, each dropped before the next: still never reused.
        for _ in range(5):
            with database.clone() as clone:
                names.append(clone.name)
        self.assertEqual(len(set(names)), 15, names)

    def test_a_process_using_the_pool_leaves_no_clone_when_it_exits(self):
        fingerprint = self.fingerprint_of(self.database())
        child = start_python(USE_THE_POOL, [self.server, self.ini, self.cache_dir], self.tmp)
        out, err = child.communicate(timeout=60)
        self.assertEqual(child.returncode, 0, err)
        names = json.loads(out)
        self.assertEqual(len(set(names)), 3)
        self.assertTrue(all(n.startswith(f"dbtk_clone_{fingerprint[:12]}_") for n in names), names)
        self.assertEqual(clones_of(self.admin, fingerprint), [])
        self.assertEqual(len(databases_of(self.admin, fingerprint)), 1)  # the golden only


def _quiet_close(connection):
    with contextlib.suppress(Exception):
        connection.close()


# -- 7: processes building together, and killed builders ----------------------------------------

AUTHOR = ("0001", "create author", (
    'op.create_table("author", sa.Column("id", sa.Integer, primary_key=True), '
    'sa.Column("name", sa.String(100), nullable=False))\n'
    "op.execute(\"INSERT INTO author (name) VALUES ('Ursula K. Le Guin')\")"
), 'op.drop_table("author")')

SLOW_SHELF = ("0002", "create shelf slowly", (
    "import time\ntime.sleep(0.5)\n"
    'op.create_table("shelf", sa.Column("id", sa.Integer, primary_key=True))'
), 'op.drop_table("shelf")')

# Stalls when KILLTEST_MARKER is set, after saying so in that file.
STALLING = ("0003", "stall then create book", (
    "import os, pathlib, time\n"
    'marker = os.environ.get("KILLTEST_MARKER")\n'
    "if marker:\n"
    '    pathlib.Path(marker).write_text("building")\n'
    "    time.sleep(30)\n"
    'op.create_table("book", sa.Column("id", sa.Integer, primary_key=True))'
), 'op.drop_table("book")')


class ProcessesOnMySQLTest(MySQLCase):

    base_revisions = [AUTHOR, SLOW_SHELF, STALLING]

    def wait_for(self, path, process, timeout=30):
        deadline = time.monotonic() + timeout
        while not path.exists():
            if process.poll() is not None:
                self.fail(f"child exited early: {process.communicate()}")
            if time.monotonic() > deadline:
                kill(process)
                self.fail(f"{path} did not appear within {timeout}s")
            time.sleep(0.01)

    def test_five_processes_on_a_cold_golden_build_it_exactly_once(self):
        fingerprint = self.fingerprint_of(self.database())
        go = self.tmp / "go"
        children = [
            start_python(ENSURE_AND_READ, [self.server, self.ini, self.cache_dir, go], self.tmp)
            for _ in range(5)
        ]
        for child in children:
            self.addCleanup(kill, child)
        for child in children:
            self.wait_for(self.tmp / f"go.ready-{child.pid}", child)
        go.touch()
        reports = []
        for child in children:
            out, err = child.communicate(timeout=60)
            self.assertEqual(child.returncode, 0, err)
            reports.append(json.loads(out))
        self.assertEqual(sum(r["built"] for r in reports), 1, reports)
        for report in reports:
            self.assertEqual(report["fingerprint"], fingerprint)
            self.assertEqual(report["heads"], ["0003"])
            self.assertEqual(report["authors"], ["Ursula K. Le Guin"])
            self.assertTrue({"author", "shelf", "book"} <= set(report["tables"]))
        self.assertEqual(databases_of(self.admin, fingerprint), [self.golden_name(fingerprint)])
        self.assertEqual(marker_rows(self.admin, self.golden_name(fingerprint))[0]["kind"], "golden")

    def test_builder_killed_mid_migration_is_rebuilt_by_the_next_run(self):
        fingerprint = self.fingerprint_of(self.database())
        name = self.golden_name(fingerprint)
        marker = self.tmp / "marker"
        child = start_python(ENSURE_AND_READ, [self.server, self.ini, self.cache_dir], self.tmp,
                             KILLTEST_MARKER=str(marker))
        self.addCleanup(kill, child)
        self.wait_for(marker, child)
        kill(child)
        # Otherwise the kill missed the build and nothing was tested.
        self.assertEqual(marker_rows(self.admin, name)[0]["kind"], "build")
        self.assertIn("author", table_names_in(self.admin, name))

        started = time.monotonic()
        golden = self.database().ensure_golden()
        self.assertLess(time.monotonic() - started, 15, "the next run waited for a dead builder")
        self.assertTrue(golden.built)
        [published] = marker_rows(self.admin, name)
        self.assertEqual(published["kind"], "golden")
        self.assertEqual(published["record"]["fingerprint"], fingerprint)
        self.assertTrue({"author", "shelf", "book"} <= set(table_names_in(self.admin, name)))
        with self.admin.connect() as connection:
            self.assertEqual(connection.exec_driver_sql(
                f"SELECT name FROM {quote(name)}.author").scalars().all(), ["Ursula K. Le Guin"])
        self.assertEqual(databases_of(self.admin, fingerprint), [name])


# -- 8: leftovers and pruning ---------------------------------------------------------------------

# Takes two clones, prints their names, then dies without cleaning up.
CLONE_AND_DIE = textwrap.dedent("""
    import json, os, signal, sys
    import dbtestkit
    database = dbtestkit.TestDatabase(sys.argv[1], alembic_ini=sys.argv[2], cache_dir=sys.argv[3])
    clones = [database.clone(), database.clone()]
    print(json.dumps([clone.name for clone in clones]), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


class LeftoversOnMySQLTest(MySQLCase):

    def test_reap_drops_clones_of_killed_processes_but_never_another_users(self):
        url = self.dedicated_user_url([self.fingerprint_of(self.database())])
        database = self.database(url=url)
        database.ensure_golden()
        child = start_python(CLONE_AND_DIE, [url, self.ini, self.cache_dir], self.tmp)
        self.addCleanup(kill, child)
        out, err = child.communicate(timeout=60)
        self.assertEqual(child.returncode, -signal.SIGKILL, err)
        foreign, ours = json.loads(out)
        self.assertTrue(exists(self.admin, ours) and exists(self.admin, foreign))
        self.assertRegex(ours, rf"_{child.pid}_")
        [marker] = marker_rows(self.admin, foreign)
        marker["owner"] = "someone@%"
        write_marker(self.admin, foreign, marker)

        leftovers = database.backend.leftover_clones()
        self.assertIn(ours, leftovers)
        self.assertNotIn(foreign, leftovers)
        reaped = database.backend.reap()
        self.assertIn(ours, reaped)
        self.assertNotIn(foreign, reaped)
        self.assertFalse(exists(self.admin, ours))
        self.assertTrue(exists(self.admin, foreign), "reap() dropped another user's clone")
        self.assertEqual(marker_rows(self.admin, foreign)[0]["owner"], "someone@%")
        self.assertEqual(database.backend.leftover_clones(), [])

    def test_clone_of_a_live_process_is_not_a_leftover(self):
        url = self.dedicated_user_url([self.fingerprint_of(self.database())])
        database = self.database(url=url)
        with database.clone() as clone:
            self.assertNotIn(clone.name, database.backend.leftover_clones())
            self.assertNotIn(clone.name, database.backend.reap())
            self.assertTrue(exists(self.admin, clone.name))

    def test_prune_drops_the_other_goldens_of_this_user_and_keeps_the_current(self):
        current_ini, root_ini = self.project("current"), self.project("root")
        fingerprints = [self.fingerprint_of(self.database(alembic_ini=ini))
                        for ini in (self.ini, current_ini, root_ini)]
        # The user may touch the root's golden too, so a prune ignoring owners would drop it.
        url = self.dedicated_user_url(fingerprints)
        old = self.database(url=url)
        current = self.database(url=url, alembic_ini=current_ini)
        of_root = self.database(alembic_ini=root_ini)
        names = {}
        for label, database in (("old", old), ("current", current), ("root", of_root)):
            names[label] = self.golden_name(self.fingerprint_of(database))
            self.assertTrue(database.ensure_golden().built)
        self.assertEqual(sorted(golden.location for golden in current.backend.list_goldens()),
                         sorted([names["old"], names["current"]]))

        removed = current.backend.prune([current.fingerprint()])
        self.assertEqual(removed, [names["old"]])
        self.assertFalse(exists(self.admin, names["old"]))
        self.assertTrue(exists(self.admin, names["current"]))
        self.assertTrue(exists(self.admin, names["root"]), "prune() dropped another user's golden")
        self.assertFalse(self.database(url=url, alembic_ini=current_ini).ensure_golden().built)


# -- 9: bad inputs --------------------------------------------------------------------------------

BROKEN_STEP = ("0003", "broken step", 'op.execute("THIS IS NOT SQL")', "pass")


class UnreachableServerTest(TempProjectCase):
    """No server needed: these fail before any connection succeeds."""

    def test_unreachable_server_names_the_masked_url_and_how_to_start_it(self):
        url = "mysql+pymysql://root:s3cret-port1@127.0.0.1:1/mysql"
        database = self.database(url=url)
        with self.assertRaises(dbtestkit.BackendUnavailable) as caught:
            database.ensure_golden()
        message = str(caught.exception)
        self.assertIn("mysql+pymysql://root:***@127.0.0.1:1/mysql", message)
        self.assertIn("mariadbd", message)
        self.assertIn("start", message.lower())
        self.assertNotIn("s3cret-port1", full_text(caught.exception))

    def test_missing_driver_is_backend_unavailable_with_pip_advice(self):
        if importlib.util.find_spec("MySQLdb") is not None:
            self.skipTest("MySQLdb (mysqlclient) is installed, so mysql+mysqldb is not a missing driver")
        with self.assertRaises(dbtestkit.BackendUnavailable) as caught:
            self.database(url="mysql+mysqldb://root:s3cret-driver@127.0.0.1:3306/mysql")
        message = str(caught.exception)
        self.assertIn("pip install", message)
        self.assertIn("mysqldb", message.lower())
        self.assertNotIn("s3cret-driver", full_text(caught.exception))
        self.assertIsInstance(caught.exception.__cause__, ImportError)


class BadInputsOnMySQLTest(MySQLCase):

    def test_access_denied_mentions_user_and_password_but_not_the_password(self):
        url = make_url(self.server).set(username="nosuchuser", password="s3cret-denied")
        database = self.database(url=url.render_as_string(hide_password=False))
        with self.assertRaises(dbtestkit.BackendUnavailable) as caught:
            database.ensure_golden()
        message = str(caught.exception)
        self.assertIn("nosuchuser", message)
        self.assertIn("user and password", message)
        self.assertIn(url.render_as_string(hide_password=True), message)
        self.assertNotIn("s3cret-denied", full_text(caught.exception))

    def test_failing_migration_names_the_revision_and_leaves_no_golden(self):
        revisions = [*DEFAULT_REVISIONS[:2], BROKEN_STEP]
        self.ini = self.project("broken", revisions)
        database = self.database()
        fingerprint = self.fingerprint_of(database)
        with self.assertRaises(dbtestkit.MigrationError) as caught:
            database.ensure_golden()
        self.assertEqual(caught.exception.revision, "0003")
        self.assertIn("0003", str(caught.exception))
        self.assertIn("0003_broken_step.py", str(caught.exception))
        self.assertIsInstance(caught.exception.__cause__, sa.exc.DBAPIError)
        self.assertEqual(databases_of(self.admin, fingerprint), [])

    def test_password_never_appears_in_messages_of_a_user_with_one(self):
        revisions = [*DEFAULT_REVISIONS[:2], BROKEN_STEP]
        broken_ini = self.project("broken", revisions)
        url = self.dedicated_user_url([self.fingerprint_of(self.database(alembic_ini=ini))
                                       for ini in (self.ini, broken_ini)])
        password = make_url(url).password
        broken = self.database(url=url, alembic_ini=broken_ini)
        with self.assertRaises(dbtestkit.MigrationError) as caught:
            broken.ensure_golden()
        self.assertNotIn(password, full_text(caught.exception))
        # The other user's golden of the same project is refused with a message, password-free.
        golden = self.database().ensure_golden()
        with self.assertRaises(dbtestkit.DbtestkitError) as caught:
            self.database(url=url).ensure_golden()
        self.assertIn(make_url(golden.url).database, str(caught.exception))
        self.assertNotIn(password, full_text(caught.exception))


if __name__ == "__main__":
    unittest.main()
