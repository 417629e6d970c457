"""What only MySQL/MariaDB does: catalog entries as the record and the proof of ownership, DDL in savepoints.

The contract every backend keeps is in the other modules of tests/backends;
clone fidelity (routines, views, triggers, counters) is in test_mysql_fidelity.
"""

import json
import signal
import textwrap

from sqlalchemy.engine import make_url

import dbtestkit
from dbtestkit.backends.mysql_catalog import CATALOG, CREATE_TABLE, TABLE
from tests.backends import for_each_backend
from tests.backends.sides import run_sql
from tests.backends.suites import CaseModulesRun
from tests.support import DEFAULT_REVISIONS, kill, start_python, write_project

MARKER_TABLE = "dbtestkit_marker"  # where dbtestkit kept its marker before the catalog


def current_user(url):
    return run_sql(url, "SELECT CURRENT_USER()")[0][0]


def write_entry(url, name, kind, owner, fingerprint, record=None):
    """Write a dbtestkit-style catalog entry for ``name``, as another process or user would."""
    run_sql(url, f"CREATE DATABASE IF NOT EXISTS {CATALOG}")
    run_sql(url, CREATE_TABLE)
    run_sql(url, f"REPLACE INTO {TABLE} (name, kind, owner, host, pid, fingerprint, created_at, record) "
                 "VALUES (%s, %s, %s, 'elsewhere', 1, %s, UNIX_TIMESTAMP(), %s)",
            (name, kind, owner, fingerprint, json.dumps(record or {})))


@for_each_backend("mysql")
class CatalogEntries:
    """A golden's record is its catalog entry: kind, owner, fingerprint, heads"""

    def test_golden_is_a_database_named_after_the_fingerprint_with_a_golden_entry(self):
        database = self.make_database()
        golden = database.ensure_golden()
        name = make_url(golden.url).database
        self.assertRegex(name, r"^dbtk_golden_[0-9a-f]{40}$")
        self.assertEqual(name, database.backend.golden_name(golden.fingerprint))
        [entry] = self.side.entry(name)
        self.assertEqual(entry["kind"], "golden")
        self.assertEqual(entry["owner"], current_user(self.side.url))
        self.assertEqual(entry["record"]["fingerprint"], golden.fingerprint)
        self.assertEqual(entry["record"]["heads"], "0004")
        self.assertEqual(self.side.tables(golden.url), ["alembic_version", "author", "book"])

    def test_fingerprint_includes_the_server_flavour_and_version(self):
        version = run_sql(self.side.url, "SELECT VERSION()")[0][0]
        flavour = "mariadb" if "mariadb" in version.lower() else "mysql"
        major_minor = ".".join(version.split(".")[:2])
        self.assertEqual(self.make_database().backend.identity(), f"{flavour} {major_minor} catalog-1")

    def test_build_killed_before_its_publication_is_dropped_and_rebuilt(self):
        database = self.make_database()
        fingerprint = database.fingerprint()
        name = database.backend.golden_name(fingerprint)
        # What a build killed after its migrations but before publication leaves.
        run_sql(self.side.url, f"CREATE DATABASE `{name}`")
        run_sql(self.side.url, f"CREATE TABLE `{name}`.half_built (id INTEGER)")
        write_entry(self.side.url, name, "build", current_user(self.side.url), fingerprint[:40])
        golden = database.ensure_golden()
        self.assertTrue(golden.built)
        tables = self.side.tables(golden.url)
        self.assertNotIn("half_built", tables)
        self.assertLessEqual({"author", "book", "alembic_version"}, set(tables))
        [entry] = self.side.entry(name)
        self.assertEqual(entry["kind"], "golden")
        self.assertEqual(entry["record"]["fingerprint"], fingerprint)
        self.assertEqual(self.side.leftovers(fingerprint), [])

    def test_entry_of_a_clone_says_clone(self):
        database = self.make_database()
        fingerprint = database.ensure_golden().fingerprint
        with database.clone() as clone:
            [entry] = self.side.entry(clone.name)
            self.assertEqual(entry["kind"], "clone")
            self.assertEqual(entry["owner"], current_user(self.side.url))
            self.assertRegex(clone.name, rf"^dbtk_clone_{fingerprint[:12]}_")


@for_each_backend("mysql")
class ForeignEntries:
    """Golden-named databases without our entry, with an old marker table, or another user's, are refused"""

    def plant(self, ini=None):
        database = self.make_database(alembic_ini=ini or self.ini)
        name = database.backend.golden_name(database.fingerprint())
        self.side.plant(self.side.url, name)
        return database, name

    def assertRefusedAndKept(self, database, name, *expected):
        with self.assertRaises(dbtestkit.DbtestkitError) as caught:
            database.ensure_golden()
        message = str(caught.exception)
        self.assertIn("not by this user", message)
        self.assertIn(name, message)
        for text in expected:
            self.assertIn(text, message)
        self.assertEqual(self.side.precious(name), [42], "dbtestkit dropped a database it did not make")

    def test_golden_named_database_without_an_entry_or_with_an_old_marker_table_is_refused(self):
        database, name = self.plant()
        self.assertRefusedAndKept(database, name)
        run_sql(self.side.url, f"CREATE TABLE `{name}`.{MARKER_TABLE} (marker TEXT)")
        run_sql(self.side.url, f"INSERT INTO `{name}`.{MARKER_TABLE} VALUES ('mine, not yours')")
        self.assertRefusedAndKept(self.make_database(), name)

    def test_an_entry_of_another_user_is_refused_and_kept(self):
        for kind in ("golden", "build"):
            with self.subTest(kind=kind):
                # A project of its own for each kind, so each gets a fingerprint of its own.
                ini = write_project(self.tmp / kind, DEFAULT_REVISIONS, self.env_py + f"# {kind}\n")
                database, name = self.plant(ini)
                fingerprint = database.fingerprint()
                write_entry(self.side.url, name, kind, "someone@%", fingerprint[:40], {
                    "fingerprint": fingerprint, "heads": "0004", "version_table": "alembic_version"})
                self.assertRefusedAndKept(database, name, "someone@%")
                self.assertRefusedAndKept(self.make_database(alembic_ini=ini), name, "someone@%")


# Takes two clones, prints their names, then dies without cleaning up.
CLONE_TWO_AND_DIE = textwrap.dedent("""
    import json, os, signal, sys
    import dbtestkit
    database = dbtestkit.TestDatabase(sys.argv[1], alembic_ini=sys.argv[2], cache_dir=sys.argv[3])
    clones = [database.clone(), database.clone()]
    print(json.dumps([clone.name for clone in clones]), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


@for_each_backend("mysql")
class ReapByEntryOwner:
    """reap trusts the entry's owner: a dead process's clone recorded for another user stays"""

    def test_reap_drops_clones_of_killed_processes_but_never_another_users(self):
        database, url = self.database_of_own_account()
        database.ensure_golden()
        child = start_python(CLONE_TWO_AND_DIE, url, self.ini, self.cache_dir, cwd=self.tmp)
        self.addCleanup(kill, child)
        out, err = child.communicate(timeout=60)
        self.assertEqual(child.returncode, -signal.SIGKILL, err)
        foreign, ours = json.loads(out)
        self.assertTrue(self.side.exists(ours) and self.side.exists(foreign))
        self.assertRegex(ours, rf"_{child.pid}_")
        self.side.set_entry(foreign, owner="someone@%")

        leftovers = database.backend.leftover_clones()
        self.assertIn(ours, leftovers)
        self.assertNotIn(foreign, leftovers)
        reaped = database.backend.reap()
        self.assertIn(ours, reaped)
        self.assertNotIn(foreign, reaped)
        self.assertFalse(self.side.exists(ours))
        self.assertTrue(self.side.exists(foreign), "reap() dropped another user's clone")
        self.assertEqual(self.side.entry(foreign)[0]["owner"], "someone@%")
        self.assertEqual(database.backend.leftover_clones(), [])


@for_each_backend("mysql")
class DdlInSavepoints(CaseModulesRun):
    """tests/cases/mysql_ddl: DDL in a savepoint test is IsolationBroken, the next tests pristine"""

    plan = [["forward", ["tests.cases.mysql_ddl"]]]

    def test_ddl_in_a_savepoint_test_is_isolation_broken_and_the_next_tests_are_pristine(self):
        (only,) = self.outcome["passes"]
        failing = ["test_1_create_table_on_the_connection", "test_1_insert_then_create_table"]
        self.assertEqual(sorted(only["problems"]), failing, self.stderr())
        self.assertEqual(only["run"], 5)
        for name in failing:
            message = only["problems"][name]
            self.assertIn("dbtestkit.exceptions.IsolationBroken", message, name)
            self.assertIn("GoldenFileTestCase", message, name)
            self.assertIn("DDL", message, name)
        self.assertEqual(self.outcome["left_behind"], {})
