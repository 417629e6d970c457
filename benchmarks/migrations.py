"""dbtestkit's MigrationTestCase against pytest-alembic's built-in tests, side by side.

Usage::

    python benchmarks/migrations.py [--sizes 40x60,150x300] [--backends sqlite,postgresql]
                                    [--rounds N] [--trace-rounds N] [--trace-budget S]
                                    [--findings] [--quick]

Both tools check the same generated histories (benchmarks/projectgen.py) with
the same models, on the same backends, interleaved check by check. pytest-
alembic is driven through its runner API (``pytest_alembic.runner.runner`` and
the functions of ``pytest_alembic.tests``), one fresh empty database per test,
created outside the timing. ``--findings`` runs both on the broken histories
of tests/histories and prints what each reports. See benchmarks/README.rst.
"""
import argparse
import gc
import os
import random
import statistics
import sys
import tempfile
import time
import unittest
import warnings

import sqlalchemy as sa

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
# The benchmark measures the working tree, not an installed copy.
sys.path.insert(0, REPO)

import projectgen  # noqa: E402

import dbtestkit  # noqa: E402
from dbtestkit.migration_checks import MigrationRunner  # noqa: E402
from dbtestkit.migrations.history import History  # noqa: E402
from dbtestkit.testcases.migration import MigrationTestCase  # noqa: E402

CORE = ("single_head_revision", "upgrade", "model_definitions_match_ddl", "up_down_consistency")
TRACE = "downgrade_leaves_no_trace"
DEFAULT_URLS = {
    "sqlite": "sqlite://",
    "postgresql": os.environ.get("DBTESTKIT_TEST_POSTGRESQL_URL",
                                 "postgresql+psycopg://postgres@127.0.0.1/postgres"),
}
TARGET_CORE, TARGET_TRACE = 3.0, 10.0

# pytest-alembic hands env.py an Engine (or, in downgrade_leaves_no_trace, a
# connection wrapped to look like one) in config.attributes["connection"] and
# the models in config.attributes["target_metadata"]; dbtestkit hands it a
# Connection. This env.py, the generated one with its documented pattern,
# serves both, so both tools check byte-identical projects.
ENV_PATCHES = [
    ("from alembic import context\n",
     "from alembic import context\nfrom sqlalchemy.engine import Connection\n"),
    ("target_metadata = None\n", 'target_metadata = config.attributes.get("target_metadata")\n'),
    ('    connection = config.attributes.get("connection", None)\n'
     "    if connection is not None:\n"
     "        do_run_migrations(connection)\n"
     "        return\n",
     '    connectable = config.attributes.get("connection", None)\n'
     "    if isinstance(connectable, Connection):\n"
     "        do_run_migrations(connectable)\n"
     "        return\n"
     "    if connectable is not None:\n"
     "        with connectable.connect() as connection:\n"
     "            do_run_migrations(connection)\n"
     "        return\n"),
]

# The same env.py shape for the small histories of --findings.
FINDINGS_ENV_PY = '''\
from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlalchemy.engine import Connection

config = context.config
target_metadata = config.attributes.get("target_metadata")


def run(connection):
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


connectable = config.attributes.get("connection")
if connectable is None:
    connectable = engine_from_config(config.get_section(config.config_ini_section, {}),
                                     prefix="sqlalchemy.", poolclass=pool.NullPool)
if isinstance(connectable, Connection):
    run(connectable)
else:
    with connectable.connect() as connection:
        run(connection)
'''


def patch_env(project_dir):
    """Rewrite a generated env.py so that both tools can drive it."""
    path = os.path.join(project_dir, "migrations", "env.py")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for old, new in ENV_PATCHES:
        if old not in text:
            raise SystemExit("benchmarks/projectgen.py changed its env.py; update ENV_PATCHES")
        text = text.replace(old, new)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


# --------------------------------------------------------------------------
# The two tools, one check at a time.
# --------------------------------------------------------------------------

class Ours:
    """dbtestkit: a MigrationTestCase subclass per round, its tests run through unittest."""

    name = "dbtestkit"

    def __init__(self, url, ini, metadata, cache_dir):
        self.database = dbtestkit.TestDatabase(url, alembic_ini=ini, cache_dir=cache_dir)
        self.metadata = metadata
        self.test_class = None

    def build_golden(self, cold):
        """Build the golden (dropping an existing one first when ``cold``); return seconds or None."""
        if cold:
            backend = self.database.backend
            fingerprint = self.database.fingerprint()
            if backend.read_record(fingerprint) is not None:
                backend.discard_golden(fingerprint)
        golden = self.database.ensure_golden()
        # The empty database no-trace starts from is a (tiny) golden too.
        MigrationRunner(self.database).empty_golden().ensure()
        return golden.seconds if golden.built else None

    def start_round(self):
        """A fresh class and a history read again: what one test process pays."""
        History.forget_all()
        self.test_class = type("Migrations", (MigrationTestCase,), {
            "database": self.database, "metadata": self.metadata})

    def end_round(self):
        self.test_class.tearDownClass()

    def run(self, check):
        result = unittest.TestResult()
        started = time.perf_counter()
        self.test_class(f"test_{check}").run(result)
        elapsed = time.perf_counter() - started
        problems = result.failures + result.errors + [(t, r) for t, r in result.skipped]
        if problems:
            raise SystemExit(f"dbtestkit {check} did not pass:\n{problems[0][1]}")
        return elapsed, 0.0


class Theirs:
    """pytest-alembic: its test functions on a runner over a fresh empty database per test."""

    name = "pytest-alembic"

    def __init__(self, url, ini, metadata, floor=None):
        from pytest_alembic.tests import default
        from pytest_alembic.tests.experimental import test_downgrade_leaves_no_trace

        self.url, self.ini, self.metadata, self.floor = url, ini, metadata, floor
        self.tests = {
            "single_head_revision": default.test_single_head_revision,
            "upgrade": default.test_upgrade,
            "model_definitions_match_ddl": default.test_model_definitions_match_ddl,
            "up_down_consistency": default.test_up_down_consistency,
            TRACE: test_downgrade_leaves_no_trace,
        }
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

        engine, drop = self._empty_database()
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

    def _empty_database(self):
        if self.admin is None:
            # pytest-alembic's own default alembic_engine fixture.
            return sa.create_engine("sqlite:///"), lambda: None
        self.counter += 1
        name = f"bench_pytest_alembic_{os.getpid()}_{self.counter}"
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')

        def drop():
            with self.admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        return sa.create_engine(sa.engine.make_url(self.url).set(database=name)), drop


# --------------------------------------------------------------------------
# pytest-alembic's no-trace test, sampled, for when it would take too long.
# --------------------------------------------------------------------------

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

    engine, drop = theirs._empty_database()
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


# --------------------------------------------------------------------------
# Rounds and the table.
# --------------------------------------------------------------------------

def interleave(tools, checks, rounds, rng, samples, warmup=True):
    """Run ``checks`` with every tool, round by round, tools shuffled per check."""
    for round_no in range(-1 if warmup else 0, rounds):  # round -1: untimed warm-up
        gc.collect()
        for tool in tools:
            tool.start_round()
        for check in checks:
            order = list(tools)
            rng.shuffle(order)
            for tool in order:
                body, fixture = tool.run(check)
                if round_no >= 0:
                    samples.setdefault((tool.name, check), []).append((body, fixture))
        for tool in tools:
            tool.end_round()


def bench(size, backend, root, args, rng):
    """Measure one size on one backend; return its result dict."""
    revisions, tables = size
    label = f"{revisions}x{tables}"
    project_dir = os.path.join(root, f"{label}-{backend}")
    project = projectgen.generate_project(project_dir, revisions, tables)
    patch_env(project_dir)
    metadata = projectgen.head_metadata(project)
    url = args.urls[backend]
    ours = Ours(url, project.alembic_ini, metadata, os.path.join(root, "cache"))
    theirs = Theirs(url, project.alembic_ini, metadata)
    golden_seconds = ours.build_golden(cold=True)
    samples = {}
    started = time.perf_counter()
    interleave([ours, theirs], CORE, args.rounds, rng, samples)
    trace_rounds = args.trace_rounds if args.trace_rounds is not None else (3 if revisions <= 40 else 1)
    probe = sampled = None
    if trace_rounds:
        # A probe of pytest-alembic's no-trace (a tenth of its cycles) decides
        # whether it runs in full; when it does, the probe checks the estimate.
        every = max(1, revisions // 10)
        estimate, measured = sampled_pytest_alembic_trace(theirs, every)
        probe = (every, estimate, measured)
        if estimate * trace_rounds <= args.trace_budget:
            interleave([ours, theirs], (TRACE,), trace_rounds, rng, samples, warmup=False)
        else:
            sampled = probe
            for _ in range(trace_rounds):
                ours.start_round()
                samples.setdefault((ours.name, TRACE), []).append(ours.run(TRACE))
                ours.end_round()
            samples[(theirs.name, TRACE)] = [(estimate, 0.0)]
    print(f"# {label} on {backend} done in {time.perf_counter() - started:.0f} s",
          file=sys.stderr, flush=True)
    return {"label": label, "backend": backend, "samples": samples, "golden": golden_seconds,
            "sampled": sampled, "probe": probe}


def median(values):
    return statistics.median(values) if values else float("nan")


def print_results(results, args):
    print("MigrationTestCase (dbtestkit) vs pytest-alembic %s built-in tests; medians in seconds"
          % _pytest_alembic_version())
    print("dbtestkit: whole unittest test (clones, history load included); pytest-alembic: test")
    print("body (its runner fixture shown apart; the empty database made outside the timing).")
    print("Python %s, SQLAlchemy %s, Alembic %s, core rounds=%d"
          % (sys.version.split()[0], sa.__version__, _version("alembic"), args.rounds))
    print()
    header = "%-8s %-10s %-28s %3s %11s %11s %11s %8s"
    print(header % ("size", "backend", "check", "n", "dbtestkit", "pa body", "pa fixture", "ratio"))
    print("-" * 97)
    verdicts = []
    for result in results:
        samples = result["samples"]
        core_ours = core_theirs = 0.0
        for check in CORE + (TRACE,):
            ours = samples.get(("dbtestkit", check))
            theirs = samples.get(("pytest-alembic", check))
            if not ours or not theirs:
                continue
            ours_median = median([b for b, _ in ours])
            theirs_median = median([b for b, _ in theirs])
            fixture = median([f for _, f in theirs])
            note = ""
            if check == TRACE and result["sampled"]:
                note = "  (pytest-alembic estimated, see below)"
            print(header % (result["label"], result["backend"], check, len(ours), "%.3f" % ours_median,
                            "%.3f" % theirs_median, "%.3f" % fixture,
                            _ratio(theirs_median, ours_median)) + note)
            if check in CORE:
                core_ours += ours_median
                core_theirs += theirs_median
            else:
                verdicts.append((result, "no-trace", theirs_median / ours_median, TARGET_TRACE))
        print(header % (result["label"], result["backend"], "4 core checks (sum)", "", "%.3f" % core_ours,
                        "%.3f" % core_theirs, "", _ratio(core_theirs, core_ours)))
        verdicts.append((result, "4 core", core_theirs / core_ours, TARGET_CORE))
        if result["golden"] is not None:
            cold = core_ours + result["golden"]
            print(header % (result["label"], result["backend"], "  cold: + golden build", "",
                            "%.3f" % cold, "%.3f" % core_theirs, "", _ratio(core_theirs, cold)))
        print()
    for result in results:
        if not result["probe"]:
            continue
        every, estimate, measured = result["probe"]
        where = f"{result['label']} on {result['backend']}"
        if result["sampled"]:
            print(f"pytest-alembic downgrade_leaves_no_trace at {where}: ESTIMATED {estimate:.0f} s, "
                  f"not measured in full (that would exceed --trace-budget {args.trace_budget:.0f} s). "
                  f"Its own loop ran over every revision, with its check_revision_cycle timed at "
                  f"every {every}th revision and counted {every} times ({measured:.0f} s measured).")
        else:
            full = median([b for b, _ in result["samples"][("pytest-alembic", TRACE)]])
            print(f"Estimate check at {where}: sampling every {every}th cycle estimated "
                  f"{estimate:.1f} s; measured in full: {full:.1f} s.")
    print()
    print("Targets: the 4 core checks >= %.0fx faster than pytest-alembic's, no-trace >= %.0fx faster:"
          % (TARGET_CORE, TARGET_TRACE))
    for result, what, ratio, target in verdicts:
        print("  %-8s %-10s %-9s %6.1fx  %s" % (result["label"], result["backend"], what, ratio,
                                               "met" if ratio >= target else "MISSED"))


def _ratio(theirs, ours):
    ratio = theirs / ours
    return "%.1fx" % ratio if ratio >= 1 else "%.2fx" % ratio


def _version(module):
    from importlib.metadata import version

    return version(module)


def _pytest_alembic_version():
    try:
        return _version("pytest-alembic")
    except Exception:
        return "?"


# --------------------------------------------------------------------------
# --findings: what each tool reports on the broken histories.
# --------------------------------------------------------------------------

def findings(root):
    """Run both tools on tests/histories over SQLite; print one line per check and tool."""
    from tests.histories import HISTORIES, head_metadata, write_history

    cases = [(name, None) for name in HISTORIES] + [("missing_downgrade", "0001")]
    print("Findings on tests/histories (SQLite); first line of each failure")
    for name, floor in cases:
        folder = os.path.join(root, f"findings-{name}-{floor}")
        ini = str(write_history(name, folder))
        with open(os.path.join(folder, "migrations", "env.py"), "w") as f:
            f.write(FINDINGS_ENV_PY)
        metadata = head_metadata(name)
        ours = dbtestkit.TestDatabase("sqlite://", alembic_ini=ini, cache_dir=os.path.join(root, "cache"))
        test_class = type("Migrations", (MigrationTestCase,), {
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


# --------------------------------------------------------------------------
# Command line.
# --------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="40x60,150x300", help="revisions x tables list")
    parser.add_argument("--backends", default="sqlite,postgresql", help="sqlite, postgresql")
    parser.add_argument("--postgresql-url", default=DEFAULT_URLS["postgresql"])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the 4 core checks (default 3)")
    parser.add_argument("--trace-rounds", type=int, default=None,
                        help="rounds of downgrade_leaves_no_trace (default 3 up to 40 revisions, "
                             "else 1; 0 skips it)")
    parser.add_argument("--trace-budget", type=float, default=300.0,
                        help="seconds pytest-alembic's no-trace may take per size and backend "
                             "before it is sampled instead of run in full (default 300)")
    parser.add_argument("--findings", action="store_true",
                        help="only compare findings on tests/histories")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10x10, one round")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.rounds, args.trace_rounds = "10x10", 1, 1
    args.sizes = [tuple(int(n) for n in item.lower().split("x")) for item in args.sizes.split(",")]
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    args.urls = dict(DEFAULT_URLS, postgresql=args.postgresql_url)
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        import pytest_alembic  # noqa: F401
    except ImportError:
        raise SystemExit("pip install pytest-alembic to compare with it (it is not a dbtestkit dependency)")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dbtestkit-bench-migrations-") as root:
        if args.findings:
            findings(root)
            return
        rng = random.Random(20240601)
        results = [bench(size, backend, root, args, rng)
                   for size in args.sizes for backend in args.backends]
    print_results(results, args)
    print()
    print("Total benchmark time: %.0f s" % (time.perf_counter() - started), flush=True)


if __name__ == "__main__":
    main()
