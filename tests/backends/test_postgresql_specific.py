"""What only PostgreSQL does: closed template goldens, roles, a kill inside CREATE DATABASE, its own cases.

The contract every backend keeps is in the other modules of tests/backends.
"""

import json
import secrets
import textwrap

import sqlalchemy as sa
from sqlalchemy.engine import make_url

import dbtestkit
from dbtestkit.backends.processes import process_tag
from tests.backends import for_each_backend
from tests.backends.sides import drop_pg_database, drop_pg_role, run_sql
from tests.backends.suites import CaseModulesRun
from tests.support import dead_pid, kill, start_python, wait_until

HEAD = "0004"


def database_row(url, name):
    """Return ``(datistemplate, datallowconn, owner, comment, oid)`` of a database, or None."""
    rows = run_sql(url, "SELECT datistemplate, datallowconn, pg_get_userbyid(datdba), "
                        "shobj_description(oid, 'pg_database'), oid FROM pg_database WHERE datname = %(n)s",
                   {"n": name})
    return rows[0] if rows else None


def current_user(url):
    return run_sql(url, "SELECT current_user")[0][0]


@for_each_backend("postgresql")
class TemplateGoldens:
    """The golden is a closed template named after its fingerprint, marked in its comment"""

    def test_golden_is_a_closed_template_named_and_marked_by_its_fingerprint(self):
        golden = self.make_database().ensure_golden()
        name = make_url(golden.url).database
        self.assertEqual(name, f"dbtk_golden_{golden.fingerprint[:40]}")
        self.assertRegex(name, r"^dbtk_golden_[0-9a-f]{40}$")
        is_template, allows_connections, owner, comment, _ = database_row(self.side.url, name)
        self.assertTrue(is_template)
        self.assertFalse(allows_connections)
        self.assertEqual(owner, current_user(self.side.url))
        self.assertTrue(comment.startswith("dbtestkit:"), comment)
        marker = self.side.marker(name)
        self.assertEqual(marker["kind"], "golden")
        self.assertEqual(marker["record"]["fingerprint"], golden.fingerprint)
        self.assertEqual(marker["record"]["heads"], HEAD)
        self.assertEqual(marker["record"]["version_table"], "alembic_version")
        with self.assertRaises(sa.exc.OperationalError):
            run_sql(golden.url, "SELECT 1")  # nobody may connect to it, so nobody changes it

    def test_fingerprint_includes_the_server_major_version(self):
        database = self.make_database()
        major = int(run_sql(self.side.url, "SHOW server_version_num")[0][0]) // 10000
        self.assertEqual(database.backend.identity(), f"postgresql {major}")
        other_major = self.database(url=self.side.url)
        other_major.backend._server_version = (major + 1) * 10000
        self.assertNotEqual(other_major.fingerprint(), database.fingerprint())

    def assertReplaced(self, golden, old_oid):
        name = make_url(golden.url).database
        again = self.make_database().ensure_golden()
        self.assertTrue(again.built)
        is_template, allows_connections, _, _, oid = database_row(self.side.url, name)
        self.assertNotEqual(oid, old_oid, "the golden was not replaced")
        self.assertTrue(is_template)
        self.assertFalse(allows_connections)
        self.assertEqual(self.side.marker(name)["record"]["fingerprint"], golden.fingerprint)
        self.assertFalse(self.make_database().ensure_golden().built)
        self.assertEqual(self.side.leftovers(golden.fingerprint), [])

    def test_golden_left_not_a_template_or_open_to_connections_is_rebuilt(self):
        # What a publish cut short between its steps would leave.
        for change in ("IS_TEMPLATE false ALLOW_CONNECTIONS true", "ALLOW_CONNECTIONS true"):
            with self.subTest(change=change):
                golden = self.make_database().ensure_golden()
                name = make_url(golden.url).database
                oid = database_row(self.side.url, name)[4]
                run_sql(self.side.url, f'ALTER DATABASE "{name}" WITH {change}')
                self.assertReplaced(golden, oid)


@for_each_backend("postgresql")
class Roles:
    """Databases with dbtestkit's names owned by another role are refused, kept and never reaped"""

    def setUp(self):
        super().setUp()
        self.other = f"dbtk_other_{secrets.token_hex(6)}"
        run_sql(self.side.url, f'CREATE ROLE "{self.other}" NOLOGIN')
        self.addCleanup(drop_pg_role, self.side.url, self.other)

    def squat_golden_name(self, owner, marker=None, template=False):
        database = self.make_database()
        fingerprint = database.fingerprint()
        name = database.backend.golden_name(fingerprint)
        run_sql(self.side.url, f'CREATE DATABASE "{name}" OWNER "{owner}"')
        self.addCleanup(drop_pg_database, self.side.url, name)
        if marker is not None:
            text = "dbtestkit:" + json.dumps(marker(fingerprint), sort_keys=True)
            run_sql(self.side.url, f"COMMENT ON DATABASE \"{name}\" IS '{text}'")
        if template:
            run_sql(self.side.url, f'ALTER DATABASE "{name}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false')
        return database, name

    def assertRefused(self, database, name, *phrases):
        with self.assertRaises(dbtestkit.DbtestkitError) as caught:
            database.ensure_golden()
        message = str(caught.exception)
        self.assertIn(name, message)
        for phrase in phrases:
            self.assertIn(phrase, message)
        self.assertIsNotNone(database_row(self.side.url, name), "a database dbtestkit did not make was dropped")
        self.assertEqual(self.side.clones(database.fingerprint()), [])
        self.assertEqual([a for a in self.side.leftovers(database.fingerprint()) if "build" in a], [])

    def test_golden_name_owned_by_another_role_without_marker_is_refused_and_kept(self):
        database, name = self.squat_golden_name(self.other)
        self.assertRefused(database, name, f"belongs to role {self.other}", "never uses or drops")

    def test_golden_name_owned_by_another_role_with_a_valid_marker_is_refused_and_kept(self):
        def marker(fingerprint):
            return {"kind": "golden", "record": {
                "fingerprint": fingerprint, "heads": HEAD, "version_table": "alembic_version",
                "dbtestkit_version": dbtestkit.__version__, "built_at": "2026-01-01T00:00:00+00:00",
            }}

        database, name = self.squat_golden_name(self.other, marker=marker, template=True)
        self.assertRefused(database, name, f"belongs to role {self.other}")
        self.assertEqual(database_row(self.side.url, name)[2], self.other)

    def test_golden_name_of_our_own_without_marker_is_refused_and_kept(self):
        database, name = self.squat_golden_name(current_user(self.side.url))
        self.assertRefused(database, name, "lacks dbtestkit's marker")

    def test_reap_leaves_a_marked_clone_named_database_of_another_role(self):
        database, own = self.database_of_own_account()
        fingerprint = database.fingerprint()
        tag = f"{process_tag('_').rpartition('_')[0]}_{dead_pid()}"
        foreign = f"dbtk_clone_{fingerprint[:12]}_{tag}_1_aaaaaa"
        ours = f"dbtk_clone_{fingerprint[:12]}_{tag}_2_bbbbbb"
        marker = 'dbtestkit:{"kind": "clone"}'
        run_sql(self.side.url, f'CREATE DATABASE "{foreign}" OWNER "{self.other}"')
        self.addCleanup(drop_pg_database, self.side.url, foreign)
        run_sql(self.side.url, f"COMMENT ON DATABASE \"{foreign}\" IS '{marker}'")
        run_sql(own, f'CREATE DATABASE "{ours}"')
        run_sql(own, f"COMMENT ON DATABASE \"{ours}\" IS '{marker}'")
        self.assertEqual(database.backend.leftover_clones(), [ours])
        self.assertEqual(database.backend.reap(), [ours])
        self.assertIsNone(database_row(self.side.url, ours))
        self.assertEqual(database_row(self.side.url, foreign)[2], self.other)


# Clones the golden of argv[4] through the backend, after saying so.
CLONE = textwrap.dedent("""
    import sys
    import dbtestkit
    database = dbtestkit.TestDatabase(sys.argv[1], alembic_ini=sys.argv[2], cache_dir=sys.argv[3])
    print("cloning", flush=True)
    database.backend.clone(sys.argv[4], "database")
""")


@for_each_backend("postgresql")
class KilledInsideCreateDatabase:
    """A process killed while its CREATE DATABASE … TEMPLATE waits leaves nothing reap misses"""

    def test_clone_of_a_process_killed_during_create_database_is_reaped(self):
        # CREATE DATABASE … TEMPLATE waits for a share lock on the golden; an open
        # COMMENT ON DATABASE on the golden holds a conflicting lock, so the child is
        # caught inside CREATE DATABASE, where a kill -9 is most likely to land.
        db, own = self.database_of_own_account()
        fingerprint = db.ensure_golden().fingerprint
        golden = db.backend.golden_name(fingerprint)
        blocker = sa.create_engine(self.side.url, poolclass=sa.pool.NullPool)
        self.addCleanup(blocker.dispose)
        with blocker.connect() as connection:
            comment = database_row(self.side.url, golden)[3]
            connection.exec_driver_sql(f"COMMENT ON DATABASE \"{golden}\" IS '{comment}'")
            child = start_python(CLONE, own, self.ini, self.cache_dir, fingerprint, cwd=self.tmp)
            self.addCleanup(kill, child)
            self.assertEqual(child.stdout.readline().strip(), "cloning")
            waiting = wait_until(lambda: run_sql(
                self.side.url, "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE %(q)s", {"q": f'CREATE DATABASE %TEMPLATE "{golden}"%'}), timeout=20)
            self.assertTrue(waiting, "the child never waited in CREATE DATABASE: nothing was tested")
            kill(child)
            connection.rollback()
        # The server finishes the CREATE DATABASE its dead client sent (unless it
        # checks for lost clients), then ends that session.
        backend_pid = waiting[0][0]
        gone = wait_until(lambda: not run_sql(
            self.side.url, "SELECT 1 FROM pg_stat_activity WHERE pid = %(p)s", {"p": backend_pid}))
        self.assertTrue(gone, "the dead child's session is still on the server")
        created = [n for n in self.side.databases(fingerprint) if n.startswith("dbtk_clone_")]
        self.assertLessEqual(len(created), 1)
        self.assertTrue(all(f"_{child.pid}_" in name for name in created), created)
        self.assertEqual(db.backend.reap(), created, "a clone of a killed process was left behind")
        self.assertEqual(self.side.clones(fingerprint), [])


@for_each_backend("postgresql")
class PostgresqlCases(CaseModulesRun):
    """tests/cases/postgresql_specific: DDL rolled back, deferred constraints checked, on a clone"""

    plan = [["forward", ["tests.cases.postgresql_specific"]]]

    def test_ddl_rolled_back_deferred_constraints_checked_and_outer_on_a_clone(self):
        (only,) = self.outcome["passes"]
        self.assertEqual(only["run"], 9, self.stderr())
        self.assertEqual(only["skipped"], {})
        self.assertEqual(sorted(only["problems"]), ["test_1_violates_deferred_foreign_key"], self.stderr())
        message = only["problems"]["test_1_violates_deferred_foreign_key"]
        # The body passed; the violation surfaced at teardown, as the real commit would raise it.
        self.assertIn("IntegrityError", message)
        self.assertIn("fk_child_parent", message)
        self.assertIn("SET CONSTRAINTS ALL IMMEDIATE", message)
        self.assertEqual(self.outcome["left_behind"], {})


@for_each_backend("postgresql")
class BuildLocks:
    """A fingerprint's build lock is one per server, whatever database a run's URL names."""

    def test_runs_whose_urls_name_different_databases_share_the_build_lock(self):
        other = f"dbtk_test_lockdb_{secrets.token_hex(4)}"
        run_sql(self.side.url, f'CREATE DATABASE "{other}"')
        self.addCleanup(drop_pg_database, self.side.url, other)
        backends = []
        for url in (self.side.url, make_url(self.side.url).set(database=other).render_as_string(False)):
            database = self.database(url=url)
            self.addCleanup(database.close)
            backends.append(database.golden.backend)
            self.addCleanup(database.golden.backend.dispose)
        here, there = backends
        self.assertNotEqual(make_url(here.url).database, make_url(there.url).database)
        fingerprint = secrets.token_hex(32)
        with here.build_lock(fingerprint):
            with there._lock_if_free(fingerprint) as free:
                self.assertFalse(free, "a run on another database could build or drop at the same time")
        with there._lock_if_free(fingerprint) as free:
            self.assertTrue(free)
