"""Family "migrations": dbtestkit's MigrationTestCase against pytest-alembic's built-in tests.

One group per size and backend: both tools check the same generated history
(projectgen.py) with the same models. pytest-alembic is driven through its
runner API, one fresh empty database per test made outside the timing; it is
for this comparison only, not a dependency of dbtestkit. See README.rst,
"The rows: migrations".
"""
import os
import random
import time
import unittest
import warnings

import sqlalchemy as sa

import dbtestkit
import harness
import projectgen
from dbtestkit.migration_checks import MigrationRunner
from dbtestkit.migrations.history import History
from harness import Row, Strategy

NAME = "migrations"
CORE = ("single_head_revision", "upgrade", "model_definitions_match_ddl", "up_down_consistency")
TRACE = "downgrade_leaves_no_trace"
SIZES = {"full": [(40, 60), (150, 300)], "quick": [(10, 10)]}
BACKENDS = ("sqlite", "postgresql")
CORE_ROUNDS = {"full": 3, "quick": 1}
CORE_TARGET, TRACE_TARGET = 3.0, 10.0
# Seconds pytest-alembic's no-trace may take per group before it is
# estimated from a sample of its cycles instead of run in full.
TRACE_BUDGET = 300.0


class Ours:
    """dbtestkit: a MigrationTestCase subclass per round, its tests run through unittest."""

    prefix = "dbtk"

    def __init__(self, url, ini, metadata, cache_dir):
        self.database = dbtestkit.TestDatabase(url, alembic_ini=ini, cache_dir=cache_dir)
        self.metadata = metadata
        self.test_class = None

    def build_golden(self):
        """Build the golden cold (dropping a cached one first); return its build seconds."""
        self.database.discard_golden()
        golden = harness.quietly(self.database.ensure_golden)
        # The empty database no-trace starts from is a (tiny) golden too.
        harness.quietly(MigrationRunner(self.database).empty_golden().ensure)
        return golden.seconds

    def start_round(self):
        """A fresh class and a history read again: what one test process pays."""
        History.forget_all()
        self.test_class = type("Migrations", (dbtestkit.MigrationTestCase,), {
            "database": self.database, "metadata": self.metadata})

    def end_round(self):
        self.test_class.tearDownClass()

    def run(self, check):
        """Return (seconds of the whole unittest test, 0)."""
        result = unittest.TestResult()
        started = time.perf_counter()
        self.test_class(f"test_{check}").run(result)
        elapsed = time.perf_counter() - started
        problems = result.failures + result.errors + list(result.skipped)
        if problems:
            raise SystemExit(f"dbtestkit {check} did not pass:\n{problems[0][1]}")
        return elapsed, 0.0

    def close(self):
        # The empty golden is a twin with a pool of its own on the servers.
        MigrationRunner(self.database).empty_golden().close()
        self.database.close()


class Theirs:
    """pytest-alembic: its test functions on a runner over a fresh empty database per test."""

    prefix = "pa"

    def __init__(self, url, ini, metadata, floor=None):
        from pytest_alembic.tests import default
        from pytest_alembic.tests.experimental import test_downgrade_leaves_no_trace

        self.url, self.ini, self.metadata, self.floor = url, ini, metadata, floor
        self.tests = {check: getattr(default, f"test_{check}") for check in CORE}
        self.tests[TRACE] = test_downgrade_leaves_no_trace
        self.admin = None if url.startswith("sqlite") else sa.create_engine(url, isolation_level="AUTOCOMMIT")
        self.counter = 0

    def start_round(self):
        pass

    def end_round(self):
        pass

    def outcome(self, check):
        """Run ``check`` once; return the exception it failed with, or None."""
        try:
            self.run(check)
        except Exception as error:
            return error
        return None

    def run(self, check):
        """Return (test body seconds, fixture seconds); the database is made and dropped untimed."""
        from pytest_alembic.config import Config
        from pytest_alembic.runner import runner

        engine, drop = self.empty_database()
        try:
            options = {"file": self.ini, "target_metadata": self.metadata}
            if self.floor:
                options["minimum_downgrade_revision"] = self.floor
            started = time.perf_counter()
            with runner(config=Config.from_raw_config(options), engine=engine) as alembic_runner:
                fixture = time.perf_counter() - started
                started = time.perf_counter()
                self.tests[check](alembic_runner)
                body = time.perf_counter() - started
        finally:
            engine.dispose()
            drop()
        return body, fixture

    def empty_database(self):
        """(engine of a new empty database, function dropping it)."""
        if self.admin is None:
            # pytest-alembic's own default alembic_engine fixture.
            return sa.create_engine("sqlite:///"), lambda: None
        self.counter += 1
        name = f"dbtk_bench_pytest_alembic_{os.getpid()}_{self.counter}"
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')

        def drop():
            with self.admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        return sa.create_engine(sa.engine.make_url(self.url).set(database=name)), drop

    def close(self):
        if self.admin is not None:
            self.admin.dispose()


class Checks(Strategy):
    """Both tools running ``checks`` in a round, check by check, the tools in a shuffled order.

    dbtestkit's times are whole unittest tests of a class made per round;
    pytest-alembic's are test bodies, its runner fixture shown apart.
    """

    def __init__(self, ctx, tools, checks, rounds, warmup=True):
        super().__init__(ctx)
        self.tools, self.checks, self.rounds, self.warmup = tools, checks, rounds, warmup
        self.rng = random.Random(20240601)

    def rows(self):
        rows = []
        for check in self.checks:
            if len(self.tools) == 2:
                rows += [Row("pa_" + check, "pytest-alembic " + check),
                         Row("pa_fixture_" + check, "its runner fixture (not counted)", part=True)]
            rows.append(Row("dbtk_" + check, "dbtestkit " + check, baseline="pa_" + check))
        return rows

    def run(self, n):
        samples = {}
        for tool in self.tools:
            tool.start_round()
        for check in self.checks:
            order = list(self.tools)
            self.rng.shuffle(order)
            for tool in order:
                body, fixture = tool.run(check)
                samples[tool.prefix + "_" + check] = [body * 1000]
                if tool.prefix == "pa":
                    samples["pa_fixture_" + check] = [fixture * 1000]
        for tool in self.tools:
            tool.end_round()
        return samples


class MigrationGroup(harness.Group):
    """One generated history on one backend, checked by both tools."""

    baseline_name = "pytest-alembic"

    def __init__(self, size, backend, url, root, quick):
        self.revisions, self.tables = size
        self.label = "%dx%d" % size
        self.backend, self.url, self.root, self.quick = backend, url, root, quick
        self.title = "migrations %s %s" % (backend, self.label)
        self.ours = self.theirs = None
        self.probe = self.estimated = None

    def open(self):
        project = projectgen.generate_project(
            os.path.join(self.root, "migrations-%s-%s" % (self.label, self.backend)),
            self.revisions, self.tables)
        metadata = projectgen.head_metadata(project)
        self.ours = Ours(self.url, project.alembic_ini, metadata, os.path.join(self.root, "cache"))
        self.theirs = Theirs(self.url, project.alembic_ini, metadata)
        self.golden_seconds = self.ours.build_golden()
        rounds = CORE_ROUNDS["quick" if self.quick else "full"]
        self._strategies = [Checks(self, [self.ours, self.theirs], CORE, rounds)]
        trace_rounds = 1 if self.quick or self.revisions > 40 else 3
        # A probe of pytest-alembic's no-trace (a tenth of its cycles) decides
        # whether it runs in full; when it does, the probe checks the estimate.
        every = max(1, self.revisions // 10)
        estimate, measured = sampled_pytest_alembic_trace(self.theirs, every)
        self.probe = (every, estimate, measured)
        tools = [self.ours, self.theirs]
        if estimate * trace_rounds > TRACE_BUDGET:
            tools, self.estimated = [self.ours], estimate
        self._strategies.append(Checks(self, tools, (TRACE,), trace_rounds, warmup=False))

    def strategies(self):
        return self._strategies

    def derived_rows(self, medians):
        rows = []
        if self.estimated is not None:
            # Placed after the measured rows; dbtestkit's no-trace row refers to it.
            rows.append((Row("pa_" + TRACE, "pytest-alembic %s (ESTIMATED)" % TRACE, derived=True),
                         self.estimated * 1000))
        ours = sum(medians["dbtk_" + check] for check in CORE)
        theirs = sum(medians["pa_" + check] for check in CORE)
        rows.append((Row("pa_core", "pytest-alembic 4 core checks (sum)", derived=True), theirs))
        rows.append((Row("dbtk_core", "dbtestkit 4 core checks (sum)", baseline="pa_core",
                         min_baseline=CORE_TARGET, derived=True), ours))
        rows.append((Row("dbtk_cold", "dbtestkit 4 core checks, cold: + golden build",
                         baseline="pa_core", derived=True), ours + self.golden_seconds * 1000))
        return rows

    def notes(self, medians):
        every, estimate, measured = self.probe
        lines = ["cold: what the first run after a migration changes pays, once, for these checks "
                 "and every other test of the suite"]
        if self.estimated is not None:
            lines.append("pytest-alembic %s ESTIMATED %.0f s, not run in full (over %.0f s): its own "
                         "loop with check_revision_cycle timed at every %dth revision, counted %d "
                         "times (%.0f s measured)" % (TRACE, estimate, TRACE_BUDGET, every, every,
                                                      measured))
        else:
            lines.append("estimate check: sampling every %dth cycle estimated %.1f s; measured in "
                         "full: %.1f s" % (every, estimate, medians["pa_" + TRACE] / 1000))
        return lines

    def targets(self, medians):
        ratio = medians["pa_" + TRACE] / medians["dbtk_" + TRACE]
        return [("%s: dbtestkit %s >= %.0fx cheaper than pytest-alembic" % (self.title, TRACE,
                                                                          TRACE_TARGET),
                 harness.ratio_text(ratio), ratio >= TRACE_TARGET)]

    def close(self):
        for tool in (self.ours, self.theirs):
            if tool is not None:
                tool.close()
        return []


def groups(args, root):
    """(groups, reasons skipped): one group per size and backend among --backends."""
    try:
        import pytest_alembic  # noqa: F401
    except ImportError:
        return [], ["pytest-alembic is not installed (pip install pytest-alembic to compare with it)"]
    # --quick checks that every row runs: SQLite is enough for that, and fast.
    backends = [b for b in BACKENDS if b in args.backends and not (args.quick and b != "sqlite")]
    return [MigrationGroup(size, backend, args.urls[backend], root, args.quick)
            for size in SIZES["quick" if args.quick else "full"] for backend in backends], []


def sampled_pytest_alembic_trace(theirs, every):
    """Estimate pytest-alembic's downgrade_leaves_no_trace from every ``every``-th revision.

    Runs its own loop (tests/experimental/downgrade_leaves_no_trace.py): walk
    up one revision at a time with ``migrate_up_to`` (all timed), but call its
    ``check_revision_cycle`` only at every ``every``-th revision and count each
    measured cycle ``every`` times. Returns (estimated seconds, measured seconds).
    """
    import dataclasses

    from pytest_alembic.config import Config, duplicate_alembic_config
    from pytest_alembic.runner import runner
    from pytest_alembic.tests.experimental.downgrade_leaves_no_trace import (
        WrappingConnection, check_revision_cycle,
    )

    engine, drop = theirs.empty_database()
    estimate = measured = 0.0
    try:
        config = Config.from_raw_config({"file": theirs.ini, "target_metadata": theirs.metadata})
        with runner(config=config, engine=engine) as alembic_runner, engine.connect() as connection:
            alembic_config = duplicate_alembic_config(alembic_runner.command_executor.alembic_config)
            alembic_config.attributes["connection"] = WrappingConnection(connection)
            alembic_runner = dataclasses.replace(
                alembic_runner,
                connection_executor=dataclasses.replace(alembic_runner.connection_executor,
                                                        connection=connection),
                command_executor=dataclasses.replace(alembic_runner.command_executor,
                                                     alembic_config=alembic_config),
            )
            for index, revision in enumerate(alembic_runner.history.revisions[:-1]):
                if index % every == 0:
                    started = time.perf_counter()
                    check_revision_cycle(alembic_runner, connection, revision)
                    cycle = time.perf_counter() - started
                    estimate += cycle * every
                    measured += cycle
                started = time.perf_counter()
                alembic_runner.migrate_up_to(revision)
                step = time.perf_counter() - started
                estimate += step
                measured += step
    finally:
        engine.dispose()
        drop()
    return estimate, measured


def findings(root):
    """Run both tools on tests/histories over SQLite; print one line per check and tool."""
    from tests.histories import HISTORIES, head_metadata, write_history

    cases = [(name, None) for name in HISTORIES] + [("missing_downgrade", "0001")]
    print("Findings on tests/histories (SQLite); first line of each failure")
    for name, floor in cases:
        folder = os.path.join(root, f"findings-{name}-{floor}")
        ini = str(write_history(name, folder))
        projectgen.write_env_py(os.path.join(folder, "migrations", "env.py"))
        metadata = head_metadata(name)
        ours = dbtestkit.TestDatabase("sqlite://", alembic_ini=ini, cache_dir=os.path.join(root, "cache"))
        test_class = type("Migrations", (dbtestkit.MigrationTestCase,), {
            "database": ours, "metadata": metadata, "minimum_downgrade_revision": floor})
        theirs = Theirs("sqlite://", ini, metadata, floor)
        print()
        print(f"{name}" + (f" (minimum_downgrade_revision = {floor!r})" if floor else ""))
        for check in CORE + (TRACE,):
            result = unittest.TestResult()
            test_class(f"test_{check}").run(result)
            problems = result.failures + result.errors
            mine = "pass" if not problems else "FAIL " + _first_message_line(problems[0][1])
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                error = theirs.outcome(check)
            if error is None:
                other = "pass" + (" (warning: %s)" % str(caught[0].message)[:70] if caught else "")
            else:
                other = "FAIL " + " ".join(str(error).split())[:110]
            print(f"  {check:28} dbtestkit:      {mine}")
            print(f"  {'':28} pytest-alembic: {other}")
        test_class.tearDownClass()


def _first_message_line(traceback_text):
    text = traceback_text[traceback_text.rfind("AssertionError:"):] if "AssertionError:" in traceback_text \
        else traceback_text.strip().splitlines()[-1]
    return " ".join(text.split())[:110]


