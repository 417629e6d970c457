"""The PostgreSQL backend against a real server: template goldens, database clones, isolation,
crash recovery, ownership and bad inputs.

The server comes from DBTESTKIT_TEST_POSTGRESQL_URL (default: postgres on 127.0.0.1:5432);
without one these tests skip, or fail under DBTESTKIT_REQUIRE=postgresql.

Several runs may share one server, so every test works on a project of its own (a
unique comment in env.py makes its fingerprint unique), drops only the databases of
its own fingerprints, and does server-wide operations (reap, prune) as a role of its own.
"""

import importlib.util
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import traceback
import unittest
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

import dbtestkit
from dbtestkit.backends.processes import process_tag
from dbtestkit.golden.pool import ClonePool
from tests import support
from tests.support import (
    CONNECTION_ENV_PY, DEFAULT_REVISIONS, ENSURE_AND_READ, REPO, TempProjectCase, run_python,
)

HEAD = "0004"
SEEDED_AUTHOR = "Ursula K. Le Guin"


# -- talking to the server directly ------------------------------------------------------------


def query(url, statement, **params):
    """Run one statement in autocommit mode on ``url``; return its rows as tuples (or [])."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            result = connection.execute(sa.text(statement), params)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def quote(name):
    return '"' + name.replace('"', '""') + '"'


def database_row(url, name):
    """Return ``(datistemplate, datallowconn, owner, comment, oid)`` of a database, or None."""
    rows = query(
        url,
        "SELECT datistemplate, datallowconn, pg_get_userbyid(datdba), "
        "shobj_description(oid, 'pg_database'), oid FROM pg_database WHERE datname = :name",
        name=name,
    )
    return rows[0] if rows else None


def databases_of(url, fingerprint, kind="[a-z]+"):
    """Return the sorted names of dbtestkit databases of ``fingerprint`` (any owner)."""
    pattern = f"^dbtk_{kind}_{fingerprint[:12]}"
    return sorted(n for (n,) in query(url, "SELECT datname FROM pg_database WHERE datname ~ :p", p=pattern))


def drop_database(url, name):
    """Drop a database (a template too), disconnecting whoever is on it."""
    query(url, f"ALTER DATABASE {quote(name)} WITH IS_TEMPLATE false")
    query(url, f"DROP DATABASE IF EXISTS {quote(name)} WITH (FORCE)")


def drop_databases_of(url, fingerprints):
    for fingerprint in fingerprints:
        for name in databases_of(url, fingerprint):
            drop_database(url, name)


def marker_of(url, name):
    comment = database_row(url, name)[3]
    assert comment and comment.startswith("dbtestkit:"), comment
    return json.loads(comment[len("dbtestkit:"):])


def read(url, statement):
    """Return the first column of every row of ``statement`` run on database ``url``."""
    return [row[0] for row in query(url, statement)]


def dead_pid():
    """Return the pid of a process of this host that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def own_role(test, url):
    """Create a login role for ``test`` alone; return its URL. Dropped, with its databases, after the test.

    reap() and prune() act on every database of the connecting role; run as a
    role of its own, a test cannot touch databases of other tests or runs.
    """
    role = f"dbtk_t_{secrets.token_hex(6)}"
    password = secrets.token_hex(12)
    try:
        query(url, f"CREATE ROLE {quote(role)} LOGIN CREATEDB PASSWORD '{password}'")
    except sa.exc.DBAPIError as error:
        test.skipTest(
            f"this test needs a role of its own, and the test server's user may not create roles: "
            f"{str(error.orig).strip().splitlines()[0]}"
        )
    test.addCleanup(drop_role, url, role)
    return make_url(url).set(username=role, password=password).render_as_string(hide_password=False)


def other_role(test, url):
    """Create a role that owns nothing of dbtestkit's (NOLOGIN); dropped after the test."""
    role = f"dbtk_other_{secrets.token_hex(6)}"
    try:
        query(url, f"CREATE ROLE {quote(role)} NOLOGIN")
    except sa.exc.DBAPIError as error:
        test.skipTest(
            f"this test needs a second role, and the test server's user may not create roles: "
            f"{str(error.orig).strip().splitlines()[0]}"
        )
    test.addCleanup(drop_role, url, role)
    return role


def drop_role(url, role):
    owned = query(
        url,
        "SELECT datname FROM pg_database WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = :r)",
        r=role,
    )
    for (name,) in owned:
        drop_database(url, name)
    query(url, f"DROP ROLE IF EXISTS {quote(role)}")


def child_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBTESTKIT_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def start_python(code, *args, cwd=None, stdin=None, **env):
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)], cwd=cwd, env=child_env(**env), text=True,
        stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def kill(process):
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)  # reaps it: a zombie would still look alive


def wait_until(condition, timeout=10, interval=0.02):
    """Poll ``condition`` until it returns something true; return that, or the last false value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# -- test bases ----------------------------------------------------------------------------------


class PostgresCase(TempProjectCase):
    """A TempProjectCase on the test server, with a fingerprint no other test or run shares."""

    def setUp(self):
        # Before TempProjectCase.setUp, which hides DBTESTKIT_* (DBTESTKIT_REQUIRE too).
        self.url = support.server_url(self, "postgresql")
        self.token = secrets.token_hex(8)
        super().setUp()
        self.fingerprints = set()
        self.addCleanup(drop_databases_of, self.url, self.fingerprints)

    @property
    def env_py(self):
        return CONNECTION_ENV_PY + f"# dbtestkit test {self.id()} {self.token}\n"

    def pg_database(self, **kwargs):
        """Return a TestDatabase over this test's project on the server; cleaned up after the test."""
        kwargs.setdefault("url", self.url)
        database = self.database(**kwargs)
        self.fingerprints.add(database.fingerprint())
        self.addCleanup(close_database, database)
        return database

    def assertNoDatabasesOf(self, fingerprint, kind="[a-z]+"):
        self.assertEqual(databases_of(self.url, fingerprint, kind), [])


def close_database(database):
    """Drop a TestDatabase's clones prepared ahead and close its admin connections."""
    database.close()
    database.backend.admin.dispose()


# -- 1. the isolation suites, as on SQLite -------------------------------------------------------

# Runs case modules in passes (forward or reverse order); prints one JSON line with
# each pass's outcome and the fingerprints of every TestDatabase the modules define.
# Every project tests.support.write_project writes gets a unique comment in env.py,
# so this run's goldens are its own.
CASES_RUNNER = textwrap.dedent('''
    import importlib, json, os, sys, unittest
    from pathlib import Path
    from tests import support

    TOKEN = os.environ["DBTK_TEST_TOKEN"]
    write_project = support.write_project

    def unique_project(root, *args, **kwargs):
        ini = write_project(root, *args, **kwargs)
        env_py = Path(root) / "migrations" / "env.py"
        env_py.write_text(env_py.read_text() + "\\n# dbtestkit test run " + TOKEN + "\\n")
        return ini

    support.write_project = unique_project
    import dbtestkit

    def flatten(suite):
        for item in suite:
            if isinstance(item, unittest.TestSuite):
                yield from flatten(item)
            else:
                yield item

    plan = json.loads(sys.argv[1])
    modules = sorted({name for _, names in plan for name in names})
    databases = {id(v): v for m in modules for v in vars(importlib.import_module(m)).values()
                 if isinstance(v, dbtestkit.TestDatabase)}
    # Written before anything is built, so the parent can clean up even after a crash.
    Path(os.environ["DBTK_TEST_FINGERPRINTS"]).write_text(
        json.dumps(sorted({d.fingerprint() for d in databases.values()})))
    passes = []
    for order, names in plan:
        tests = list(flatten(unittest.TestLoader().loadTestsFromNames(names)))
        if order == "reverse":
            tests.reverse()
        print(f"== {order} {names}", file=sys.stderr)
        result = unittest.TextTestRunner(stream=sys.stderr, verbosity=2).run(unittest.TestSuite(tests))
        passes.append({
            "order": order,
            "run": result.testsRun,
            "skipped": {test.id(): reason for test, reason in result.skipped},
            "problems": {test.id(): text for test, text in result.errors + result.failures},
        })
    print(json.dumps({"passes": passes, "backends": sorted({d.backend.name for d in databases.values()})}))
''')

SAVEPOINT_FAILURES = sorted([
    "test_1_commits_connection", "test_1_never_runs", "test_1_raises_after_writing",
    "test_reports_missing_super",
])


class CasesOnServer(unittest.TestCase):
    """Runs tests/cases modules in a subprocess whose DBTESTKIT_URL names the test server."""

    def setUp(self):
        super().setUp()
        self.url = support.server_url(self, "postgresql")
        self.cache = Path(tempfile.mkdtemp(prefix="dbtestkit-pg-cache-"))
        self.addCleanup(support._rmtree, self.cache)

    def run_cases(self, passes, driver="psycopg"):
        url = make_url(self.url).set(drivername=f"postgresql+{driver}")
        fingerprints_file = self.cache / "fingerprints.json"
        env = {k: "" for k in os.environ if k.startswith("DBTESTKIT_")}
        env.update(
            DBTESTKIT_URL=url.render_as_string(hide_password=False),
            DBTESTKIT_CACHE_DIR=str(self.cache / "dbtestkit"),
            DBTK_TEST_TOKEN=secrets.token_hex(8),
            DBTK_TEST_FINGERPRINTS=str(fingerprints_file),
        )
        self.addCleanup(self.drop_databases_listed_in, fingerprints_file)
        result = run_python(["-c", CASES_RUNNER, json.dumps(passes)], cwd=REPO, env=env, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        outcome = json.loads(result.stdout.strip().splitlines()[-1])
        outcome["stderr"] = result.stderr
        outcome["fingerprints"] = json.loads(fingerprints_file.read_text())
        self.assertEqual(outcome["backends"], ["postgresql"], "the cases did not run on PostgreSQL")
        # The child exited normally: its clone pools and live clones are gone with it.
        for fingerprint in outcome["fingerprints"]:
            self.assertEqual(databases_of(self.url, fingerprint, "(clone|build)"), [])
            self.assertEqual(databases_of(self.url, fingerprint, "golden"),
                             [f"dbtk_golden_{fingerprint[:40]}"])
        return outcome

    def drop_databases_listed_in(self, fingerprints_file):
        if fingerprints_file.exists():
            drop_databases_of(self.url, json.loads(fingerprints_file.read_text()))

    @staticmethod
    def problems(one_pass):
        return {name.rsplit(".", 1)[-1]: text for name, text in one_pass["problems"].items()}


class IsolationSuitesTest(CasesOnServer):
    SUITES = [
        ["forward", ["tests.cases.savepoint_module", "tests.cases.savepoint_class",
                     "tests.cases.savepoint_failures", "tests.cases.golden_file_cases"]],
        ["reverse", ["tests.cases.savepoint_module", "tests.cases.savepoint_class",
                     "tests.cases.golden_file_cases"]],
    ]

    def check(self, outcome):
        forward, reverse = outcome["passes"]
        problems = self.problems(forward)
        self.assertEqual(sorted(problems), SAVEPOINT_FAILURES, outcome["stderr"][-3000:])
        self.assertTrue(all(".savepoint_failures." in name for name in forward["problems"]))
        self.assertIn("IsolationBroken", problems["test_1_commits_connection"])
        self.assertIn("GoldenFileTestCase", problems["test_1_commits_connection"])
        self.assertIn("super().setUpClass()", problems["test_reports_missing_super"])
        self.assertIn("boom in setUp", problems["test_1_never_runs"])
        self.assertIn("boom after commit", problems["test_1_raises_after_writing"])
        # 16 + 16 savepoint tests, 10 in savepoint_failures, 7 clone-per-test (file and
        # shared clones too: a suite written for SQLite runs unchanged).
        self.assertEqual(forward["run"], 49)
        self.assertEqual(forward["skipped"], {})
        self.assertEqual(reverse["problems"], {}, outcome["stderr"][-3000:])
        self.assertEqual(reverse["run"], 39)

    def test_suites_pass_with_psycopg(self):
        self.check(self.run_cases(self.SUITES, driver="psycopg"))

    def test_suites_pass_with_psycopg2(self):
        self.check(self.run_cases(self.SUITES, driver="psycopg2"))


# -- 6. what only PostgreSQL does ---------------------------------------------------------------


class PostgresqlSpecificCasesTest(CasesOnServer):
    def test_ddl_rolled_back_deferred_constraints_checked_and_outer_on_a_clone(self):
        outcome = self.run_cases([["forward", ["tests.cases.postgresql_specific"]]])
        (only,) = outcome["passes"]
        self.assertEqual(only["run"], 9, outcome["stderr"][-3000:])
        self.assertEqual(only["skipped"], {})
        problems = self.problems(only)
        self.assertEqual(sorted(problems), ["test_1_violates_deferred_foreign_key"],
                         outcome["stderr"][-3000:])
        message = problems["test_1_violates_deferred_foreign_key"]
        # The body passed; the violation surfaced at teardown, as the real commit would raise it.
        self.assertIn("IntegrityError", message)
        self.assertIn("fk_child_parent", message)
        self.assertIn("SET CONSTRAINTS ALL IMMEDIATE", message)


# -- 2. the golden ---------------------------------------------------------------------------------


def user_tables(url):
    """Return every table and view outside the system schemas of the database at ``url``."""
    return query(
        url,
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2",
    )


class GoldenTest(PostgresCase):
    def test_built_once_then_reused_by_another_instance(self):
        first = self.pg_database().ensure_golden()
        self.assertTrue(first.built)
        second = self.pg_database().ensure_golden()
        self.assertFalse(second.built)
        self.assertEqual((second.fingerprint, second.url), (first.fingerprint, first.url))

    def test_golden_is_a_closed_template_named_and_marked_by_its_fingerprint(self):
        golden = self.pg_database().ensure_golden()
        name = make_url(golden.url).database
        self.assertEqual(name, f"dbtk_golden_{golden.fingerprint[:40]}")
        self.assertRegex(name, r"^dbtk_golden_[0-9a-f]{40}$")
        self.assertLessEqual(len(name), 63)
        is_template, allows_connections, owner, comment, _ = database_row(self.url, name)
        self.assertTrue(is_template)
        self.assertFalse(allows_connections)
        self.assertEqual(owner, read(self.url, "SELECT current_user")[0])
        self.assertTrue(comment.startswith("dbtestkit:"), comment)
        marker = marker_of(self.url, name)
        self.assertEqual(marker["kind"], "golden")
        self.assertEqual(marker["record"]["fingerprint"], golden.fingerprint)
        self.assertEqual(marker["record"]["heads"], HEAD)
        self.assertEqual(marker["record"]["version_table"], "alembic_version")
        with self.assertRaises(sa.exc.OperationalError):
            query(golden.url, "SELECT 1")  # nobody may connect to it, so nobody changes it

    def test_fingerprint_includes_the_server_major_version(self):
        database = self.pg_database()
        (version,) = read(self.url, "SHOW server_version_num")
        major = int(version) // 10000
        self.assertEqual(database.backend.identity(), f"postgresql {major}")
        on_sqlite = self.database(url="sqlite://").fingerprint()
        self.assertNotEqual(database.fingerprint(), on_sqlite)
        other_major = self.database(url=self.url)
        other_major.backend._server_version = (major + 1) * 10000
        self.assertNotEqual(other_major.fingerprint(), database.fingerprint())

    def test_the_database_named_in_the_url_gets_no_tables(self):
        before = user_tables(self.url)
        database = self.pg_database()
        database.ensure_golden()
        with database.clone() as clone, clone.engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE scratch (id INTEGER)"))
        self.assertEqual(user_tables(self.url), before)
        self.assertNotIn(("public", "alembic_version"), user_tables(self.url))


# -- 3. verify on reuse ----------------------------------------------------------------------------


class VerifyOnReuseTest(PostgresCase):
    def golden(self):
        golden = self.pg_database().ensure_golden()
        name = make_url(golden.url).database
        return golden, name, database_row(self.url, name)[4]

    def assertRebuilt(self, fingerprint, name, old_oid):
        again = self.pg_database().ensure_golden()
        self.assertTrue(again.built)
        self.assertEqual(again.fingerprint, fingerprint)
        is_template, allows_connections, _, _, oid = database_row(self.url, name)
        self.assertNotEqual(oid, old_oid, "the golden was not replaced")
        self.assertTrue(is_template)
        self.assertFalse(allows_connections)
        self.assertEqual(marker_of(self.url, name)["record"]["fingerprint"], fingerprint)
        self.assertFalse(self.pg_database().ensure_golden().built)
        self.assertNoDatabasesOf(fingerprint, "build")

    def test_tampered_marker_fingerprint_is_rebuilt(self):
        golden, name, oid = self.golden()
        marker = marker_of(self.url, name)
        marker["record"]["fingerprint"] = "0" * 64
        text = "dbtestkit:" + json.dumps(marker, sort_keys=True)
        query(self.url, f"ALTER DATABASE {quote(name)} WITH IS_TEMPLATE false")
        query(self.url, f"COMMENT ON DATABASE {quote(name)} IS '{text}'")
        query(self.url, f"ALTER DATABASE {quote(name)} WITH IS_TEMPLATE true")
        self.assertRebuilt(golden.fingerprint, name, oid)

    def test_golden_left_not_a_template_is_rebuilt(self):
        # What a publish cut short between its steps would leave.
        golden, name, oid = self.golden()
        query(self.url, f"ALTER DATABASE {quote(name)} WITH IS_TEMPLATE false ALLOW_CONNECTIONS true")
        self.assertRebuilt(golden.fingerprint, name, oid)

    def test_golden_left_open_to_connections_is_rebuilt(self):
        golden, name, oid = self.golden()
        query(self.url, f"ALTER DATABASE {quote(name)} WITH ALLOW_CONNECTIONS true")
        self.assertRebuilt(golden.fingerprint, name, oid)


# -- 4. databases dbtestkit did not make --------------------------------------------------------


class OwnershipTest(PostgresCase):
    def setUp(self):
        super().setUp()
        self.other = other_role(self, self.url)

    def squat_golden_name(self, owner, marker=None, template=False):
        database = self.pg_database()
        fingerprint = database.fingerprint()
        name = database.backend.golden_name(fingerprint)
        query(self.url, f"CREATE DATABASE {quote(name)} OWNER {quote(owner)}")
        self.addCleanup(drop_database, self.url, name)
        if marker is not None:
            text = "dbtestkit:" + json.dumps(marker(fingerprint), sort_keys=True)
            query(self.url, f"COMMENT ON DATABASE {quote(name)} IS '{text}'")
        if template:
            query(self.url, f"ALTER DATABASE {quote(name)} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false")
        return database, name

    def assertRefused(self, database, name, *phrases):
        with self.assertRaises(dbtestkit.DbtestkitError) as caught:
            database.ensure_golden()
        message = str(caught.exception)
        self.assertIn(name, message)
        for phrase in phrases:
            self.assertIn(phrase, message)
        self.assertIsNotNone(database_row(self.url, name), "a database dbtestkit did not make was dropped")
        self.assertNoDatabasesOf(database.fingerprint(), "(build|clone)")
        return message

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
        self.assertEqual(database_row(self.url, name)[2], self.other)

    def test_golden_name_of_our_own_without_marker_is_refused_and_kept(self):
        database, name = self.squat_golden_name(read(self.url, "SELECT current_user")[0])
        self.assertRefused(database, name, "lacks dbtestkit's marker")

    def test_reap_leaves_clone_named_database_of_another_role(self):
        own = own_role(self, self.url)
        database = self.pg_database(url=own)
        fingerprint = database.fingerprint()
        tag = f"{process_tag('_').rpartition('_')[0]}_{dead_pid()}"
        foreign = f"dbtk_clone_{fingerprint[:12]}_{tag}_1_aaaaaa"
        ours = f"dbtk_clone_{fingerprint[:12]}_{tag}_2_bbbbbb"
        marker = 'dbtestkit:{"kind": "clone"}'
        query(self.url, f"CREATE DATABASE {quote(foreign)} OWNER {quote(self.other)}")
        self.addCleanup(drop_database, self.url, foreign)
        query(self.url, f"COMMENT ON DATABASE {quote(foreign)} IS '{marker}'")
        query(own, f"CREATE DATABASE {quote(ours)}")
        query(own, f"COMMENT ON DATABASE {quote(ours)} IS '{marker}'")
        self.assertEqual(database.backend.leftover_clones(), [ours])
        self.assertEqual(database.backend.reap(), [ours])
        self.assertIsNone(database_row(self.url, ours))
        self.assertEqual(database_row(self.url, foreign)[2], self.other)


# -- 5. clones ----------------------------------------------------------------------------------------


class ClonesTest(PostgresCase):
    def setUp(self):
        super().setUp()
        self.db = self.pg_database()
        self.golden = self.db.ensure_golden()
        self.fingerprint = self.golden.fingerprint

    def test_clones_hold_the_golden_and_writes_stay_private(self):
        with self.db.clone() as first, self.db.clone() as second:
            self.assertNotEqual(first.name, second.name)
            for clone in (first, second):
                self.assertEqual(read(clone.url, "SELECT version_num FROM alembic_version"), [HEAD])
                self.assertEqual(read(clone.url, "SELECT name FROM author"), [SEEDED_AUTHOR])
            with first.engine.begin() as connection:
                connection.execute(sa.text("INSERT INTO author (name) VALUES ('Only in first')"))
                connection.execute(sa.text("CREATE TABLE scratch (id INTEGER)"))
            self.assertEqual(read(second.url, "SELECT name FROM author"), [SEEDED_AUTHOR])
            self.assertNotIn("scratch", read(second.url, "SELECT tablename FROM pg_tables"))
            with self.db.clone() as third:
                self.assertEqual(read(third.url, "SELECT name FROM author"), [SEEDED_AUTHOR])
            self.assertEqual(sorted(read(first.url, "SELECT name FROM author")),
                             ["Only in first", SEEDED_AUTHOR])

    def test_drop_removes_the_database_despite_an_open_connection(self):
        clone = self.db.backend.clone(self.fingerprint, "database")
        self.assertIsNotNone(database_row(self.url, clone.name))
        leftover = sa.create_engine(clone.url, poolclass=sa.pool.NullPool)
        self.addCleanup(leftover.dispose)
        connection = leftover.connect()
        self.addCleanup(connection.invalidate)
        connection.execute(sa.text("INSERT INTO author (name) VALUES ('uncommitted')"))
        clone.drop()
        self.assertIsNone(database_row(self.url, clone.name))
        with self.assertRaises(sa.exc.DBAPIError):
            connection.execute(sa.text("SELECT 1"))

    def test_pooled_clone_is_dropped_despite_an_open_connection(self):
        clone = self.db.clone()
        connection = sa.create_engine(clone.url, poolclass=sa.pool.NullPool).connect()
        self.addCleanup(connection.invalidate)
        connection.execute(sa.text("SELECT 1"))
        clone.drop()
        gone = wait_until(lambda: database_row(self.url, clone.name) is None)
        self.assertTrue(gone, f"{clone.name} still exists 10 s after drop()")

    def test_twenty_clones_have_distinct_names_and_are_all_dropped(self):
        clones = [self.db.backend.clone(self.fingerprint, "database") for _ in range(20)]
        names = [clone.name for clone in clones]
        self.assertEqual(len(set(names)), 20)
        for name in names:
            self.assertRegex(name, rf"^dbtk_clone_{self.fingerprint[:12]}_")
            self.assertLessEqual(len(name), 63)
        self.assertEqual(databases_of(self.url, self.fingerprint, "clone"), sorted(names))
        for clone in clones:
            clone.drop()
        self.assertNoDatabasesOf(self.fingerprint, "clone")

    def take_clones(self, threads, each):
        """Take ``threads * each`` clones through TestDatabase.clone() from ``threads`` threads.

        Returns the clones taken within 10 s; a taker that starves is left
        behind (a daemon thread) rather than hanging the run.
        """
        taken, lock = [], threading.Lock()
        self.addCleanup(lambda: [clone.drop() for clone in list(taken)])
        pool_ready = self.db.clone()  # creates the pool in this thread: _pool_for is not locked
        taken.append(pool_ready)

        def take():
            for _ in range(each):
                clone = self.db.clone()
                with lock:
                    taken.append(clone)

        workers = [threading.Thread(target=take, daemon=True) for _ in range(threads)]
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 10
        for worker in workers:
            worker.join(timeout=max(0.0, deadline - time.monotonic()))
        with lock:
            return list(taken)

    def check_pool(self, taken, expected):
        names = [clone.name for clone in taken]
        self.assertEqual(len(names), expected, f"only {len(names)} of {expected} clones were handed out")
        self.assertEqual(len(set(names)), expected, names)
        pools = {clone.releaser.__self__ for clone in taken}
        self.assertEqual(len(pools), 1)
        (pool,) = pools
        self.assertIsInstance(pool, ClonePool)
        self.assertLessEqual(set(names), set(databases_of(self.url, self.fingerprint, "clone")))
        half = len(taken) // 2
        for clone in taken[:half]:
            clone.drop()  # released to the pool, dropped in the background
        pool.close()
        for clone in taken[half:]:
            clone.drop()  # after close: dropped at once
        self.assertNoDatabasesOf(self.fingerprint, "clone")

    def test_pool_never_hands_out_a_clone_twice_and_close_drops_everything(self):
        self.check_pool(self.take_clones(threads=1, each=9), expected=10)

    def test_pool_serves_concurrent_takers(self):
        # Five threads share one TestDatabase (a threaded test runner, or a test
        # that clones from worker threads): each must get its clones.
        self.check_pool(self.take_clones(threads=5, each=2), expected=11)

    def test_process_exiting_normally_leaves_no_clones(self):
        code = textwrap.dedent("""
            import sys
            import dbtestkit
            database = dbtestkit.TestDatabase(sys.argv[1], alembic_ini=sys.argv[2], cache_dir=sys.argv[3])
            clones = [database.clone() for _ in range(3)]
            clones[0].drop()
            with clones[1].engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            kept_open = clones[2].engine.connect()
            print(" ".join(clone.name for clone in clones), flush=True)
            # Exits with two clones undropped and a connection open: atexit must clean up.
        """)
        child = start_python(code, self.url, self.ini, self.cache_dir, cwd=self.tmp)
        self.addCleanup(kill, child)
        out, err = child.communicate(timeout=60)
        self.assertEqual(child.returncode, 0, err)
        self.assertEqual(len(set(out.split())), 3)
        self.assertNoDatabasesOf(self.fingerprint, "clone")


# -- 7. several processes, and kills -----------------------------------------------------------

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
STALLING = ("0002", "stall then create book", (
    "import os, pathlib, time\n"
    'marker = os.environ.get("KILLTEST_MARKER")\n'
    "if marker:\n"
    '    pathlib.Path(marker).write_text("building")\n'
    "    time.sleep(30)\n"
    'op.create_table("book", sa.Column("id", sa.Integer, primary_key=True))'
), 'op.drop_table("book")')

SHELF = ("0003", "create shelf", 'op.create_table("shelf", sa.Column("id", sa.Integer, primary_key=True))',
         'op.drop_table("shelf")')


class ColdStartTest(PostgresCase):
    revisions = [AUTHOR, SLOW_SHELF]
    processes = 5

    def test_processes_starting_together_build_the_golden_exactly_once(self):
        fingerprint = self.pg_database().fingerprint()
        go = self.tmp / "go"
        children = [
            start_python(ENSURE_AND_READ, self.url, self.ini, self.cache_dir, go, cwd=self.tmp)
            for _ in range(self.processes)
        ]
        for child in children:
            self.addCleanup(kill, child)
        for child in children:
            ready = Path(f"{go}.ready-{child.pid}")
            if not wait_until(lambda: ready.exists() or child.poll() is not None, timeout=30) \
                    or not ready.exists():
                self.fail(f"child did not get ready: {child.communicate(timeout=10)}")
        go.touch()
        reports = []
        for child in children:
            out, err = child.communicate(timeout=60)
            self.assertEqual(child.returncode, 0, err)
            reports.append(json.loads(out))
        self.assertEqual(sum(r["built"] for r in reports), 1, reports)
        self.assertEqual({r["fingerprint"] for r in reports}, {fingerprint})
        self.assertEqual(len({r["clone"] for r in reports}), self.processes)
        for report in reports:
            self.assertEqual(report["heads"], ["0002"])
            self.assertEqual(report["authors"], [SEEDED_AUTHOR])
            self.assertTrue({"author", "shelf", "alembic_version"} <= set(report["tables"]))
        self.assertEqual(databases_of(self.url, fingerprint), [f"dbtk_golden_{fingerprint[:40]}"])


class KilledBuildTest(PostgresCase):
    revisions = [AUTHOR, STALLING, SHELF]

    def test_build_killed_mid_migration_is_cleaned_up_and_rebuilt_by_the_next_process(self):
        fingerprint = self.pg_database().fingerprint()
        marker = self.tmp / "marker"
        child = start_python(ENSURE_AND_READ, self.url, self.ini, self.cache_dir, cwd=self.tmp,
                             KILLTEST_MARKER=str(marker))
        self.addCleanup(kill, child)
        if not wait_until(lambda: marker.exists() or child.poll() is not None, timeout=30) \
                or not marker.exists():
            self.fail(f"the builder never reached the stalling migration: {child.communicate(timeout=10)}")
        killed_builds = databases_of(self.url, fingerprint, "build")
        self.assertEqual(len(killed_builds), 1, "the builder's database was not found: nothing was tested")
        self.assertIn(f"_{child.pid}_", killed_builds[0])
        kill(child)
        self.assertEqual(databases_of(self.url, fingerprint, "golden"), [])

        started = time.monotonic()
        result = run_python(["-c", ENSURE_AND_READ, self.url, str(self.ini), str(self.cache_dir)],
                            cwd=self.tmp, env={k: "" for k in os.environ if k.startswith("DBTESTKIT_")})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertLess(time.monotonic() - started, 20, "the next process waited for a dead builder")
        report = json.loads(result.stdout)
        self.assertTrue(report["built"])
        self.assertEqual(report["heads"], ["0003"])
        self.assertTrue({"author", "book", "shelf"} <= set(report["tables"]))
        self.assertEqual(databases_of(self.url, fingerprint), [f"dbtk_golden_{fingerprint[:40]}"])


# -- 8. leftovers: reap and prune ----------------------------------------------------------------------

# Takes a clone, prints its name, then dies (SIGKILL) or waits for stdin to close.
CLONE_AND_DIE = textwrap.dedent("""
    import os, signal, sys, time
    import dbtestkit
    database = dbtestkit.TestDatabase(sys.argv[1], alembic_ini=sys.argv[2], cache_dir=sys.argv[3])
    clone = database.clone()
    time.sleep(1)  # let the pool finish preparing the next clones
    print(clone.name, flush=True)
    if sys.argv[4] == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    sys.stdin.read()
""")


class LeftoversTest(PostgresCase):
    def setUp(self):
        super().setUp()
        # reap() and prune() act on every database of the connecting role: give them one of their own.
        self.own = own_role(self, self.url)
        self.db = self.pg_database(url=self.own)
        self.fingerprint = self.db.ensure_golden().fingerprint

    def test_clone_of_killed_process_is_reaped_and_clone_of_live_process_is_not(self):
        holder = start_python(CLONE_AND_DIE, self.own, self.ini, self.cache_dir, "hold",
                              cwd=self.tmp, stdin=subprocess.PIPE)
        self.addCleanup(kill, holder)
        held = holder.stdout.readline().strip()
        self.assertTrue(held, holder.stderr.read() if holder.poll() is not None else "no output")

        dying = start_python(CLONE_AND_DIE, self.own, self.ini, self.cache_dir, "die", cwd=self.tmp)
        self.addCleanup(kill, dying)
        name = dying.stdout.readline().strip()
        dying.wait(timeout=30)
        self.assertEqual(dying.returncode, -signal.SIGKILL)
        self.assertIn(f"_{dying.pid}_", name)

        left = set(databases_of(self.url, self.fingerprint, "clone"))
        of_dead = {n for n in left if f"_{dying.pid}_" in n}
        self.assertIn(name, of_dead)
        self.assertEqual(sorted(self.db.backend.leftover_clones()), sorted(of_dead))
        self.assertEqual(sorted(self.db.backend.reap()), sorted(of_dead))
        remaining = databases_of(self.url, self.fingerprint, "clone")
        self.assertIn(held, remaining)
        self.assertEqual([n for n in remaining if f"_{dying.pid}_" in n], [])
        self.assertEqual(self.db.backend.leftover_clones(), [])

        holder.communicate("", timeout=30)
        self.assertEqual(holder.returncode, 0)
        self.assertNoDatabasesOf(self.fingerprint, "clone")

    def test_clone_of_process_killed_during_create_database_is_reaped(self):
        # CREATE DATABASE … TEMPLATE waits for a share lock on the golden; an open
        # COMMENT ON DATABASE on the golden holds a conflicting lock, so the child is
        # caught inside CREATE DATABASE, where a kill -9 is most likely to land.
        golden = self.db.backend.golden_name(self.fingerprint)
        code = textwrap.dedent("""
            import sys
            import dbtestkit
            database = dbtestkit.TestDatabase(sys.argv[1], alembic_ini=sys.argv[2], cache_dir=sys.argv[3])
            print("cloning", flush=True)
            database.backend.clone(sys.argv[4], "database")
        """)
        blocker = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        self.addCleanup(blocker.dispose)
        with blocker.connect() as connection:
            comment = database_row(self.url, golden)[3]
            connection.exec_driver_sql(f"COMMENT ON DATABASE {quote(golden)} IS '{comment}'")
            child = start_python(code, self.own, self.ini, self.cache_dir, self.fingerprint, cwd=self.tmp)
            self.addCleanup(kill, child)
            self.assertEqual(child.stdout.readline().strip(), "cloning")
            waiting = wait_until(lambda: query(
                self.url,
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE :q", q=f"CREATE DATABASE %TEMPLATE {quote(golden)}%",
            ), timeout=20)
            self.assertTrue(waiting, "the child never waited in CREATE DATABASE: nothing was tested")
            kill(child)
            connection.rollback()
        # The server finishes the CREATE DATABASE its dead client sent (unless it
        # checks for lost clients), then ends that session.
        backend_pid = waiting[0][0]
        gone = wait_until(lambda: not query(
            self.url, "SELECT 1 FROM pg_stat_activity WHERE pid = :pid", pid=backend_pid))
        self.assertTrue(gone, "the dead child's session is still on the server")
        created = databases_of(self.url, self.fingerprint, "clone")
        self.assertLessEqual(len(created), 1)
        self.assertTrue(all(f"_{child.pid}_" in name for name in created), created)
        self.assertEqual(self.db.backend.reap(), created, "a clone of a killed process was left behind")
        self.assertNoDatabasesOf(self.fingerprint, "clone")

    def test_prune_drops_our_goldens_of_other_fingerprints_and_keeps_the_current_one(self):
        old = self.fingerprint
        # A golden of another role (the test server's user) is not ours to prune.
        shelf = support.write_revision(self.versions, "0005", "add shelf", (
            'op.create_table("shelf", sa.Column("id", sa.Integer, primary_key=True))'
        ), 'op.drop_table("shelf")', HEAD)
        foreign = self.pg_database(url=self.url).ensure_golden().fingerprint
        shelf.unlink()
        support.write_revision(self.versions, "0005", "add desk", (
            'op.create_table("desk", sa.Column("id", sa.Integer, primary_key=True))'
        ), 'op.drop_table("desk")', HEAD)
        current_db = self.pg_database(url=self.own)
        current = current_db.ensure_golden().fingerprint
        self.assertEqual(len({old, foreign, current}), 3)

        removed = current_db.backend.prune({current})
        self.assertEqual(removed, [f"dbtk_golden_{old[:40]}"])
        self.assertIsNone(database_row(self.url, f"dbtk_golden_{old[:40]}"))
        self.assertIsNotNone(database_row(self.url, f"dbtk_golden_{current[:40]}"))
        self.assertIsNotNone(database_row(self.url, f"dbtk_golden_{foreign[:40]}"))
        self.assertEqual(current_db.backend.prune({current}), [])
        self.assertFalse(self.pg_database(url=self.own).ensure_golden().built)


# -- 9. bad inputs -------------------------------------------------------------------------------------


class UnreachableServerTest(TempProjectCase):
    """Needs no server: nothing listens on port 1."""

    def error(self, url):
        with self.assertRaises(dbtestkit.BackendUnavailable) as caught:
            self.database(url=url).ensure_golden()
        return caught.exception

    def test_unreachable_server_names_the_url_and_how_to_start_it(self):
        error = self.error("postgresql+psycopg://postgres@127.0.0.1:1/postgres")
        message = str(error)
        self.assertIn("postgresql+psycopg://postgres@127.0.0.1:1/postgres", message)
        self.assertIn("pg_ctlcluster", message)
        self.assertIn("or fix TestDatabase(url=...)", message)
        self.assertIsInstance(error.__cause__, sa.exc.OperationalError)

    def test_password_is_masked_in_the_message_and_the_whole_traceback(self):
        for driver in ("psycopg", "psycopg2"):
            with self.subTest(driver=driver):
                error = self.error(f"postgresql+{driver}://postgres:s3cret@127.0.0.1:1/postgres")
                self.assertNotIn("s3cret", str(error))
                self.assertIn(f"postgresql+{driver}://postgres:***@127.0.0.1:1/postgres", str(error))
                self.assertNotIn("s3cret", "".join(traceback.format_exception(error)))

    def test_missing_driver_is_backend_unavailable_with_pip_advice(self):
        if importlib.util.find_spec("pg8000") is not None:
            self.skipTest("pg8000 is installed here, so it cannot stand in for a missing driver")
        with self.assertRaises(dbtestkit.BackendUnavailable) as caught:
            self.database(url="postgresql+pg8000://postgres:s3cret@127.0.0.1/postgres")
        message = str(caught.exception)
        self.assertIn("pg8000", message)
        self.assertIn("pip install pg8000", message)
        self.assertNotIn("s3cret", message)
        self.assertIsInstance(caught.exception.__cause__, ImportError)


class BadInputsOnServerTest(PostgresCase):
    def test_role_that_does_not_exist_is_backend_unavailable(self):
        role = f"nosuchrole_{self.token}"
        url = make_url(self.url).set(username=role, password=None).render_as_string(hide_password=False)
        with self.assertRaises(dbtestkit.BackendUnavailable) as caught:
            self.database(url=url).ensure_golden()
        message = str(caught.exception)
        self.assertIn(make_url(url).render_as_string(hide_password=True), message)
        self.assertIn(role, message)


class FailingMigrationTest(PostgresCase):
    revisions = [*DEFAULT_REVISIONS[:2], ("0003", "broken step", 'op.execute("THIS IS NOT SQL")', "pass")]

    def test_error_names_the_revision_and_nothing_is_left_on_the_server(self):
        database = self.pg_database()
        with self.assertRaises(dbtestkit.MigrationError) as caught:
            database.ensure_golden()
        error = caught.exception
        self.assertEqual(error.revision, "0003")
        self.assertIn("0003", str(error))
        self.assertIn(str(self.versions / "0003_broken_step.py"), str(error))
        self.assertIsInstance(error.__cause__, sa.exc.ProgrammingError)
        self.assertIn("THIS IS NOT SQL", str(error.__cause__))
        self.assertNoDatabasesOf(database.fingerprint())

        support.write_revision(self.versions, "0003", "broken step",
                               'op.execute("INSERT INTO author (name) VALUES (\'Fixed\')")', "pass", "0002")
        fixed = self.pg_database()
        self.assertTrue(fixed.ensure_golden().built)
        with fixed.clone() as clone:
            self.assertEqual(read(clone.url, "SELECT name FROM author"), ["Fixed"])


if __name__ == "__main__":
    unittest.main()
