"""Embedded PostgreSQL (tmpfs) against the system server, in one interleaved run.

Usage::

    python benchmarks/embedded.py [--size 40x60] [--rounds N] [--server-url URL] [--quick]

Rows: cluster start (cold: initdb and start; a stopped cluster; one already
running, which is what every run but the first pays), golden build, clone
per test without and with the background pool, savepoint per test, and the
example suite's wall time (warm golden). Each row's rounds alternate between
the two sides in shuffled order, so both see the same machine load. The
embedded side is a private cluster in /dev/shm (deleted at the end), so the
user's own cluster is never stopped; every golden and clone is dropped.
"""
import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
# The benchmark measures the working tree, not an installed copy.
sys.path.insert(0, REPO)

import projectgen  # noqa: E402
from isolation import quietly  # noqa: E402

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

import dbtestkit  # noqa: E402
from dbtestkit.backends import backend_for, embedded_cluster, embedded_watch  # noqa: E402
from dbtestkit.backends.processes import unique_suffix  # noqa: E402

SERVER_URL = os.environ.get("DBTESTKIT_TEST_POSTGRESQL_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BOOKSHOP = os.path.join(REPO, "examples", "bookshop")
# The pooled row's simulated test body: long enough for the pool to prepare the next clone.
POOLED_BODY_SECONDS = 0.02
POOL_BURST, POOL_WARMUP = 8, 3


def ms(seconds):
    return seconds * 1000


class Side:
    """One place to get PostgreSQL: its URL, and a TestDatabase per fingerprint made on it."""

    def __init__(self, label, url, tmp, project):
        self.label, self.url, self.tmp, self.project = label, url, tmp, project
        self.cache = os.path.join(tmp, "cache-" + label.split()[0])
        self.databases = []

    def database(self, fresh=False):
        """A TestDatabase over the project; ``fresh`` gives it a fingerprint of its own (a cold build)."""
        ini = self.project.alembic_ini
        if fresh:
            directory = os.path.join(self.tmp, "fresh-" + unique_suffix())
            shutil.copytree(self.project.directory, directory)
            with open(os.path.join(directory, "migrations", "env.py"), "a") as env_py:
                env_py.write("\n# embedded benchmark %s\n" % unique_suffix())
            ini = os.path.join(directory, "alembic.ini")
        database = dbtestkit.TestDatabase(self.url, alembic_ini=ini, cache_dir=self.cache)
        self.databases.append(database)
        return database

    def close(self):
        for database in self.databases:
            golden = database.backend.golden_name(database.fingerprint())
            database.close()
            if database.backend.read_record(database.fingerprint()) is not None:
                database.backend.delete_golden(golden)
            database.backend.dispose()


class Bench:
    def __init__(self, args, tmp):
        self.args, self.tmp = args, tmp
        revisions, tables = (int(n) for n in args.size.split("x"))
        self.project = projectgen.generate_project(os.path.join(tmp, "project"), revisions, tables)
        with open(os.path.join(self.project.directory, "migrations", "env.py"), "a") as env_py:
            env_py.write("\n# embedded benchmark run %s\n" % unique_suffix())
        self.shm = tempfile.mkdtemp(prefix="dbtestkit-bench-", dir=str(embedded_cluster.TMPFS))
        os.chmod(self.shm, 0o711)  # the server's system user passes through, as root
        self.embedded_url = "postgresql+embedded:///?data_dir=%s/pg" % self.shm
        self.sides = [Side("embedded (tmpfs)", self.embedded_url, tmp, self.project),
                      Side("system server", args.server_url, tmp, self.project)]
        self.rows = {}  # (row, side label) -> [milliseconds]
        embedded_watch.serve(embedded_cluster.cluster_for(make_url(self.embedded_url)))

    def record(self, row, side, value):
        self.rows.setdefault((row, side.label), []).append(value)

    def interleaved(self, rounds, measure):
        for _ in range(rounds):
            for side in random.sample(self.sides, len(self.sides)):
                measure(side)

    # -- rows --------------------------------------------------------------------

    def cluster_starts(self, rounds):
        embedded, server = self.sides

        def cold(side):
            if side is embedded:
                root = tempfile.mkdtemp(prefix="cold-", dir=self.shm)
                os.chmod(root, 0o711)
                cluster = embedded_cluster.Cluster(os.path.join(root, "pg"))
                began = time.perf_counter()
                embedded_watch.serve(cluster)
                self.record("cluster start, cold (initdb + start)", side, ms(time.perf_counter() - began))
                began = time.perf_counter()
                cluster.stop()
                cluster.ensure_running()
                self.record("cluster start, stopped cluster", side, ms(time.perf_counter() - began))
                cluster.stop()
                shutil.rmtree(root, ignore_errors=True)
            began = time.perf_counter()
            backend = backend_for(side.url, side.cache)
            with backend.admin.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            self.record("cluster start, already running (+ connect)", side, ms(time.perf_counter() - began))
            backend.dispose()

        self.interleaved(rounds, cold)

    def golden_builds(self, rounds):
        def build(side):
            database = side.database(fresh=True)
            database.fingerprint()  # connects: not part of the build
            began = time.perf_counter()
            golden = quietly(database.ensure_golden)
            self.record("golden build (%s, incl. strategy timing)" % self.args.size, side,
                        ms(time.perf_counter() - began))
            assert golden.built

        self.interleaved(rounds, build)

    def clones(self, rounds):
        databases = {}
        for side in self.sides:
            plain, pooled = side.database(), side.database()
            quietly(plain.ensure_golden)
            quietly(pooled.ensure_golden)
            plain.backend.pooled = False
            databases[side.label] = (plain, pooled)

        def unpooled(side):
            plain = databases[side.label][0]
            began = time.perf_counter()
            handle = plain.clone()
            with handle.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            handle.drop()
            self.record("clone per test, not pooled (create + drop)", side, ms(time.perf_counter() - began))

        def pooled_burst(side, record=True):
            # Back-to-back tests, as a suite runs them: the first ones eat what the
            # pool prepared while idle, so only the later ones are recorded.
            pooled = databases[side.label][1]
            for n in range(POOL_BURST):
                began = time.perf_counter()
                handle = pooled.clone()
                with handle.engine.connect() as connection:
                    connection.exec_driver_sql("SELECT 1")
                handed = time.perf_counter() - began
                time.sleep(POOLED_BODY_SECONDS)
                began = time.perf_counter()
                handle.drop()
                if record and n >= POOL_WARMUP:
                    self.record("clone per test, pooled (%d ms body)" % ms(POOLED_BODY_SECONDS), side,
                                ms(handed + time.perf_counter() - began))

        self.interleaved(2, unpooled)  # warm-up
        self.interleaved(1, lambda side: pooled_burst(side, record=False))
        self.rows = {key: values for key, values in self.rows.items() if not key[0].startswith("clone per")}
        self.interleaved(rounds, unpooled)
        self.interleaved(max(1, rounds // (POOL_BURST - POOL_WARMUP)), pooled_burst)
        strategies = []
        for side in self.sides:
            backend = databases[side.label][0].backend
            golden = backend.golden_name(databases[side.label][0].fingerprint())
            measured = backend._recorded_choice(golden)
            strategies.append("%s: %s" % (side.label, measured and "%s (%s)" % (
                measured["chosen"], ", ".join("%s %s ms" % kv for kv in sorted(measured["costs_ms"].items())))))
        self.strategies = strategies

    def savepoints(self, tests):
        def run(side):
            database = side.database()
            quietly(database.ensure_golden)
            table = self.project.body_table

            def test(self):
                self.session.execute(sa.text("SELECT count(*) FROM %s" % table)).scalar()

            case = type("SavepointBench", (dbtestkit.DatabaseTestCase,), {"database": database})
            for n in range(tests):
                setattr(case, "test_%04d" % n, test)
            suite = unittest.defaultTestLoader.loadTestsFromTestCase(case)
            result = unittest.TestResult()
            began = time.perf_counter()
            suite.run(result)
            elapsed = time.perf_counter() - began
            assert result.wasSuccessful(), result.errors + result.failures
            self.record("savepoint per test (%d tests, per test)" % tests, side, ms(elapsed / tests))

        self.interleaved(3, run)

    def example_suite(self, rounds):
        def run(side):
            env = dict(os.environ, DBTESTKIT_URL=side.url, DBTESTKIT_CACHE_DIR=side.cache,
                       PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
            began = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "unittest"], cwd=BOOKSHOP, env=env,
                                  capture_output=True, text=True)
            elapsed = time.perf_counter() - began
            assert done.returncode == 0, done.stderr
            self.record("example suite wall time (30 tests, warm golden)", side, ms(elapsed))

        for side in self.sides:  # build its golden first: the rows are warm runs
            subprocess.run([sys.executable, "-m", "unittest"], cwd=BOOKSHOP, capture_output=True, env=dict(
                os.environ, DBTESTKIT_URL=side.url, DBTESTKIT_CACHE_DIR=side.cache,
                PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", "")))
        self.interleaved(rounds, run)

    # -- the table -----------------------------------------------------------------

    def table(self):
        labels = [side.label for side in self.sides]
        rows = []
        for row in dict.fromkeys(key[0] for key in self.rows):
            cells = []
            for label in labels:
                values = self.rows.get((row, label))
                cells.append("%.1f ms (n=%d)" % (statistics.median(values), len(values)) if values else "n/a")
            rows.append((row, *cells))
        widths = [max(len(str(r[i])) for r in rows + [("row", *labels)]) for i in range(len(labels) + 1)]
        rule = "  ".join("=" * w for w in widths)
        lines = [rule, "  ".join(h.ljust(w) for h, w in zip(("median", *labels), widths)), rule]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
        return "\n".join(lines + [rule])

    def close(self):
        for side in self.sides:
            side.close()
        embedded_cluster.cluster_for(make_url(self.embedded_url)).stop()
        shutil.rmtree(self.shm, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="40x60", help="REVISIONSxTABLES of the generated project")
    parser.add_argument("--rounds", type=int, default=20, help="rounds of the clone rows")
    parser.add_argument("--server-url", default=SERVER_URL)
    parser.add_argument("--quick", action="store_true", help="few rounds: checks that it runs")
    args = parser.parse_args(argv)
    rounds = 3 if args.quick else args.rounds
    with tempfile.TemporaryDirectory(prefix="dbtestkit-bench-embedded-") as tmp:
        bench = Bench(args, tmp)
        try:
            started = time.monotonic()
            bench.cluster_starts(2 if args.quick else 5)
            bench.golden_builds(1 if args.quick else 3)
            bench.clones(rounds)
            bench.savepoints(50 if args.quick else 200)
            bench.example_suite(1 if args.quick else 3)
            print(bench.table())
            print("clone strategy measured per golden: " + "; ".join(bench.strategies))
            print("run took %.0f s" % (time.monotonic() - started))
        finally:
            bench.close()


if __name__ == "__main__":
    main()
