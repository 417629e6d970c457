"""Per-test cost of database isolation strategies, dbtestkit against the floors.

Usage::

    python benchmarks/isolation.py [--sizes 10x10,40x60,150x300] [--rounds N]
                                   [--slow-rounds N] [--quick] [--no-dbtestkit]

Every strategy runs the same tiny test body (one SELECT, one INSERT, a
commit). Strategies are interleaved in rounds so machine noise hits all of
them alike. See benchmarks/README.rst for what each row means.
"""
import argparse
import contextlib
import gc
import hashlib
import io
import json
import math
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
# The benchmark measures the working tree, not an installed copy.
sys.path.insert(0, REPO)

import projectgen  # noqa: E402

UPGRADE = "upgrade per test"
DEFAULT_SIZES = "10x10,40x60,150x300"
# Slow strategies cost up to seconds per test at the largest size; these
# counts keep the default run within a few minutes on two cores.
DEFAULT_SLOW_ROUNDS = {(10, 10): 50, (40, 60): 40, (150, 300): 20}
# The targets the table is meant to make visible (README.rst, "Targets").
TARGET_FLOOR_RATIO = 1.25
TARGET_VS_UPGRADE = 200
TARGET_WARM_MS = 30.0
TARGET_ROWS = ("dbtestkit DatabaseTestCase", "dbtestkit memory clone")


# --------------------------------------------------------------------------
# The test body shared by every strategy.
# --------------------------------------------------------------------------

class Body:
    """The same tiny test body for every strategy: SELECT, INSERT, commit."""

    def __init__(self, table):
        self.select = sa.text("SELECT count(*) FROM %s" % table)
        self.insert = sa.text(
            "INSERT INTO %s (name, label, amount, created_on) "
            "VALUES (:name, :label, :amount, :created_on)" % table)
        self.params = {"name": "bench", "label": "b", "amount": 1.5,
                       "created_on": "2024-02-01"}

    def __call__(self, session):
        """Run the body in ``session``, committing like application code."""
        session.execute(self.select).scalar_one()
        session.execute(self.insert, self.params)
        session.commit()


def run_body_on_engine(body, engine):
    """Run ``body`` in a fresh Session on ``engine``."""
    with Session(engine) as session:
        body(session)


def pysqlite_savepoint_fix(engine):
    """Let pysqlite do SAVEPOINTs properly (SQLAlchemy docs, pysqlite section)."""
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, connection_record):
        # Stop pysqlite from issuing its own BEGIN (and COMMIT before DDL).
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection):
        # Emit our own BEGIN so the transaction starts where SQLAlchemy says.
        connection.exec_driver_sql("BEGIN")

    return engine


def memdb_uri(name):
    """sqlite3 URI of a named in-memory database shared inside the process."""
    return "file:/%s?vfs=memdb" % name


def memdb_url(name):
    """SQLAlchemy URL for the named in-memory database ``name``."""
    return "sqlite:///%s&uri=true" % memdb_uri(name)


# --------------------------------------------------------------------------
# Strategies. Each has setup() (untimed), run(n) (one timed test), close().
# --------------------------------------------------------------------------

def check_isolated(ctx, connection):
    """Fail loudly if the tests' INSERTs survived: a fast leak is no result."""
    rows = connection.execute(ctx.body.select).scalar_one()
    if rows != ctx.golden_rows:
        raise AssertionError("isolation leaked: %d rows in %s, golden has %d"
                             % (rows, ctx.project.body_table, ctx.golden_rows))


class Strategy:
    """One way of giving a test an isolated database."""

    name = ""
    floor = None  # name of the hand-written strategy this row is compared to
    slow = False  # slow strategies run in fewer (still interleaved) rounds

    def __init__(self, ctx):
        self.ctx = ctx

    def setup(self):
        """Prepare anything held across tests (not timed)."""

    def run(self, n):
        """Run test number ``n`` including its per-test setup and teardown."""
        raise NotImplementedError

    def close(self):
        """Release what setup() acquired."""


class UpgradePerTest(Strategy):
    """Fresh SQLite file, alembic upgrade head, body, delete."""

    name = UPGRADE
    slow = True

    def run(self, n):
        from alembic import command

        path = os.path.join(self.ctx.tmp, "upgrade-%d.sqlite" % n)
        url = "sqlite:///" + path
        command.upgrade(projectgen.alembic_config(self.ctx.project, url),
                        "head")
        engine = sa.create_engine(url)
        run_body_on_engine(self.ctx.body, engine)
        engine.dispose()
        os.unlink(path)


class CreateAllPerTest(Strategy):
    """Fresh in-memory engine, metadata.create_all, body."""

    name = "create_all per test"
    slow = True

    def run(self, n):
        engine = sa.create_engine("sqlite://")
        self.ctx.metadata.create_all(engine)
        run_body_on_engine(self.ctx.body, engine)
        engine.dispose()


class SavepointRecipe(Strategy):
    """SQLAlchemy docs recipe: Session joined into an outer transaction."""

    name = "savepoint recipe (hand-written)"

    def setup(self):
        # An in-memory copy of the upgraded database, held for all tests.
        name = "bench-%s-%s" % (type(self).__name__, self.ctx.label)
        self.keeper = sqlite3.connect(memdb_uri(name), uri=True)
        source = sqlite3.connect(self.ctx.golden)
        source.backup(self.keeper)
        source.close()
        self.engine = pysqlite_savepoint_fix(sa.create_engine(memdb_url(name)))
        self.connection = self.engine.connect()
        self.outer = self.connection.begin()

    def run(self, n):
        # Per-test savepoint: the session's commit() only releases its own
        # nested savepoint, so this one is what undoes the test's writes.
        savepoint = self.connection.begin_nested()
        session = Session(bind=self.connection,
                          join_transaction_mode="create_savepoint")
        self.ctx.body(session)
        session.close()
        savepoint.rollback()

    def close(self):
        check_isolated(self.ctx, self.connection)
        self.outer.rollback()
        self.connection.close()
        self.engine.dispose()
        self.keeper.close()


class SavepointRecipeReleased(SavepointRecipe):
    """The recipe plus RELEASE of the rolled-back per-test savepoint."""

    name = "savepoint recipe + RELEASE"

    def run(self, n):
        savepoint = self.connection.begin_nested()
        session = Session(bind=self.connection,
                          join_transaction_mode="create_savepoint")
        self.ctx.body(session)
        session.close()
        savepoint.rollback()
        # ROLLBACK TO keeps the savepoint open (SQL standard), so without
        # this every test leaves one more on the stack and, on SQLite, each
        # statement gets slower as the outer transaction ages. SQLAlchemy
        # has no public call for it; _savepoint is the name it generated.
        self.connection.exec_driver_sql(
            "RELEASE SAVEPOINT %s" % savepoint._savepoint)


class BackupIntoMemdb(Strategy):
    """sqlite3 backup of the golden into a named memdb, new engine, body."""

    name = "bare backup + first query"

    def run(self, n):
        name = "bench-backup-%s-%d" % (self.ctx.label, n)
        # The keeper holds the named memdb alive while the engine uses it.
        keeper = sqlite3.connect(memdb_uri(name), uri=True)
        source = sqlite3.connect("file:%s?mode=ro" % self.ctx.golden, uri=True)
        source.backup(keeper)
        source.close()
        engine = sa.create_engine(memdb_url(name))
        run_body_on_engine(self.ctx.body, engine)
        engine.dispose()
        keeper.close()


class DeserializeIntoMemory(Strategy):
    """Connection.deserialize(golden bytes), one-connection engine, body."""

    name = "bare deserialize + first query"

    def setup(self):
        # Reading the golden once is legitimate: it does not change.
        with open(self.ctx.golden, "rb") as f:
            self.image = f.read()

    def run(self, n):
        connection = sqlite3.connect(":memory:", check_same_thread=False)
        connection.deserialize(self.image)
        # A deserialized database is private to its connection, so the
        # engine must hand out exactly that connection.
        engine = sa.create_engine("sqlite://", creator=lambda: connection,
                                  poolclass=StaticPool)
        run_body_on_engine(self.ctx.body, engine)
        engine.dispose()
        connection.close()


class FileCopy(Strategy):
    """shutil.copyfile of the golden, new engine, body, dispose, unlink."""

    name = "file copy + new engine"

    def run(self, n):
        path = os.path.join(self.ctx.tmp, "copy-%d.sqlite" % n)
        shutil.copyfile(self.ctx.golden, path)
        engine = sa.create_engine("sqlite:///" + path)
        run_body_on_engine(self.ctx.body, engine)
        engine.dispose()
        os.unlink(path)


BASELINES = [UpgradePerTest, CreateAllPerTest, SavepointRecipe,
             BackupIntoMemdb, DeserializeIntoMemory, FileCopy]


def quietly(func):
    """Call ``func()`` hiding its stderr (build progress), unless it fails."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            return func()
    except BaseException:
        sys.stderr.write(captured.getvalue())
        raise


class _DbtestkitStrategy(Strategy):
    """Common setup: a TestDatabase whose golden is built before timing."""

    def setup(self):
        import dbtestkit

        # cache_dir keeps the benchmark's goldens out of the user's cache.
        self.db = dbtestkit.TestDatabase(
            alembic_ini=self.ctx.project.alembic_ini,
            cache_dir=self.ctx.cache_dir)
        quietly(self.db.ensure_golden)


class DbtestkitSavepoint(_DbtestkitStrategy):
    """DatabaseTestCase's isolation layer, without unittest's own overhead."""

    name = "dbtestkit DatabaseTestCase"
    floor = SavepointRecipe.name

    def setup(self):
        super().setup()
        # What DatabaseTestCase.setUpClass does: a class-wide connection and
        # outer transaction on a memory clone, with (empty) class data.
        self.scope = self.db.class_scope()
        self.scope.open()

    def run(self, n):
        # What DatabaseTestCase.setUp and its cleanup do around each test.
        test = self.scope.begin_test()
        self.ctx.body(test.session)
        test.end()

    def close(self):
        check_isolated(self.ctx, self.scope.outer.connection)
        self.scope.close()


class DbtestkitMemoryClone(_DbtestkitStrategy):
    """``with db.clone() as c``: the body on the clone's engine."""

    name = "dbtestkit memory clone"
    floor = BackupIntoMemdb.name

    def run(self, n):
        with self.db.clone() as clone:
            run_body_on_engine(self.ctx.body, clone.engine)


class DbtestkitFileClone(_DbtestkitStrategy):
    """``with db.clone(kind="file") as c``: the body on the clone's engine."""

    name = "dbtestkit file clone"
    floor = FileCopy.name

    def run(self, n):
        with self.db.clone(kind="file") as clone:
            run_body_on_engine(self.ctx.body, clone.engine)


DBTESTKIT_ROWS = [DbtestkitSavepoint, DbtestkitMemoryClone,
                  DbtestkitFileClone]


# --------------------------------------------------------------------------
# Running and reporting.
# --------------------------------------------------------------------------

class Context:
    """Everything the strategies share for one project size."""

    def __init__(self, revisions, tables, root):
        self.label = "%dx%d" % (revisions, tables)
        self.tmp = os.path.join(root, self.label)
        self.project = projectgen.generate_project(
            os.path.join(self.tmp, "project"), revisions, tables)
        self.golden = projectgen.build_database(
            self.project, os.path.join(self.tmp, "golden.sqlite"))
        self.metadata = projectgen.head_metadata(self.project, self.golden)
        self.body = Body(self.project.body_table)
        golden = sqlite3.connect(self.golden)
        self.golden_rows = golden.execute(self.body.select.text).fetchone()[0]
        golden.close()
        self.cache_dir = os.path.join(self.tmp, "dbtestkit-cache")


def slow_round_set(rounds, slow_rounds):
    """Rounds (spread evenly) in which the slow strategies also run."""
    slow_rounds = max(1, min(slow_rounds, rounds))
    return {i * rounds // slow_rounds for i in range(slow_rounds)}


def run_rounds(strategies, rounds, slow_rounds):
    """Interleave strategies round by round; return ms samples per name."""
    samples = {s.name: [] for s in strategies}
    slow_set = slow_round_set(rounds, slow_rounds)
    # Seeded, so reruns use the same orders.
    rng = random.Random(len(strategies) * 1000 + rounds)
    counter = 0
    # Round -1 is an untimed warm-up (imports, statement caches, page cache).
    for round_no in range(-1, rounds):
        gc.collect()  # so one strategy's garbage is not charged to the next
        # Shuffle, not rotate: a test runs measurably slower right after a
        # heavy one (file copy, new engine), and rotating keeps each
        # strategy's predecessor the same in every round.
        order = list(strategies)
        rng.shuffle(order)
        for strategy in order:
            if strategy.slow and round_no >= 0 and round_no not in slow_set:
                continue
            counter += 1
            start = time.perf_counter_ns()
            strategy.run(counter)
            elapsed = (time.perf_counter_ns() - start) / 1e6
            if round_no >= 0:
                samples[strategy.name].append(elapsed)
    return samples


def percentile(values, fraction):
    """Nearest-rank percentile of ``values``."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def summarise(label, strategies, samples):
    """Rows of (size, name, n, median, p90, upgrade/this, this/floor)."""
    medians = {name: statistics.median(v) for name, v in samples.items()}
    rows = []
    for strategy in strategies:
        values = samples[strategy.name]
        median = medians[strategy.name]
        vs_upgrade = medians[UPGRADE] / median
        vs_floor = median / medians[strategy.floor] if strategy.floor else None
        rows.append((label, strategy.name, len(values), median,
                     percentile(values, 0.9), vs_upgrade, vs_floor))
    return rows


def print_table(rows):
    """Print the one result table."""
    header = ("size", "strategy", "n", "median ms", "p90 ms",
              "upgrade/this", "this/floor")
    print("%-8s %-34s %5s %10s %10s %13s %11s" % header)
    print("-" * 97)
    previous = None
    for size, name, n, median, p90, vs_up, vs_floor in rows:
        if previous is not None and size != previous:
            print()
        previous = size
        floor = "%.2fx" % vs_floor if vs_floor is not None else "-"
        print("%-8s %-34s %5d %10.3f %10.3f %12.0fx %11s"
              % (size, name, n, median, p90, vs_up, floor))


# --------------------------------------------------------------------------
# Side measurements: hashing vs walking, warm start.
# --------------------------------------------------------------------------

def migration_files(project):
    """env.py plus every revision file, in a stable order."""
    versions = sorted(os.path.join(project.versions_dir, f)
                      for f in os.listdir(project.versions_dir)
                      if f.endswith(".py"))
    return [os.path.join(os.path.dirname(project.versions_dir), "env.py")] \
        + versions


def hash_files(paths):
    """sha256 over the bytes of ``paths``: what a fingerprint has to do."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()


def walk_revisions(project):
    """What asking alembic for the revision list costs."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(projectgen.alembic_config(project))
    return list(script.walk_revisions())


def median_ms(func, repeat):
    """Median wall time of ``func()`` over ``repeat`` calls, in ms."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        func()
        times.append((time.perf_counter_ns() - start) / 1e6)
    return statistics.median(times)


def measure_hashing(ctx, repeat):
    """Return (files, hash ms, walk ms) for one project."""
    paths = migration_files(ctx.project)
    hashed = median_ms(lambda: hash_files(paths), repeat * 4)
    walked = median_ms(lambda: walk_revisions(ctx.project), repeat)
    return len(paths), hashed, walked


WARM_START_SCRIPT = r"""
import gc, json, sys, time
ns = time.perf_counter_ns
t0 = ns()
import sqlalchemy
t1 = ns()
import sqlalchemy.orm
t1o = ns()
# The first full collection after importing SQLAlchemy walks its ~50k new
# objects (over 10 ms); charge it to SQLAlchemy rather than to whichever
# import happens to trigger it.
gc.collect()
t2 = ns()
import sqlalchemy.dialects.sqlite
t2d = ns()
import dbtestkit
t3 = ns()
db = dbtestkit.TestDatabase(alembic_ini=sys.argv[1], cache_dir=sys.argv[2])
t4 = ns()
db.fingerprint()
t5 = ns()
golden = db.ensure_golden()
t6 = ns()
with db.clone() as clone:
    t7 = ns()
    with clone.engine.connect() as connection:
        connection.exec_driver_sql(sys.argv[3]).scalar()
    t8 = ns()
ms = lambda a, b: (b - a) / 1e6
print(json.dumps({
    "import sqlalchemy": ms(t0, t1),
    "import sqlalchemy.orm": ms(t1, t1o),
    "gc after import": ms(t1o, t2),
    "import sqlalchemy.dialects.sqlite": ms(t2, t2d),
    "import dbtestkit": ms(t2d, t3),
    "TestDatabase()": ms(t3, t4),
    "fingerprint()": ms(t4, t5),
    "ensure_golden()": ms(t5, t6),
    "first clone()": ms(t6, t7),
    "first query": ms(t7, t8),
    "built": golden.built,
    "alembic imported": "alembic" in sys.modules,
}))
"""

# The SQLite dialect is imported first and timed on its own: dbtestkit needs
# it on a warm start, but so does the first SQLite engine the code under test
# creates, so the table shows the total with and without it.
DIALECT_STEP = "import sqlalchemy.dialects.sqlite"
WARM_START_STEPS = (DIALECT_STEP, "import dbtestkit", "TestDatabase()",
                    "fingerprint()", "ensure_golden()", "first clone()",
                    "first query")


def measure_warm_start(ctx, repeat):
    """Median per-step warm-start timings from fresh interpreters."""
    import dbtestkit

    # Build the golden first so the subprocesses measure a warm start.
    quietly(dbtestkit.TestDatabase(alembic_ini=ctx.project.alembic_ini,
                                   cache_dir=ctx.cache_dir).ensure_golden)
    query = "SELECT count(*) FROM %s" % ctx.project.body_table
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep
               + os.environ.get("PYTHONPATH", ""),
               # Cached bytecode, as on a developer's machine, kept in the
               # temp dir so the working tree gets no __pycache__.
               PYTHONPYCACHEPREFIX=os.path.join(ctx.tmp, "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    runs = []
    # The first run only fills the bytecode cache.
    for _ in range(repeat + 1):
        out = subprocess.run(
            [sys.executable, "-c", WARM_START_SCRIPT, ctx.project.alembic_ini,
             ctx.cache_dir, query],
            check=True, capture_output=True, text=True, env=env, cwd=ctx.tmp)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    runs = runs[1:]
    result = {key: statistics.median(r[key] for r in runs)
              for key in runs[0] if not isinstance(runs[0][key], bool)}
    result["built"] = any(r["built"] for r in runs)
    result["alembic imported"] = any(r["alembic imported"] for r in runs)
    return result


def measure_stacking(ctx, tests, with_dbtestkit):
    """Median ms of the first and last quarter of ``tests`` savepoint tests."""
    classes = [SavepointRecipe, SavepointRecipeReleased]
    classes += [DbtestkitSavepoint] if with_dbtestkit else []
    results = []
    for cls in classes:
        strategy = cls(ctx)
        strategy.setup()
        times = []
        for n in range(tests):
            start = time.perf_counter_ns()
            strategy.run(n)
            times.append((time.perf_counter_ns() - start) / 1e6)
        strategy.close()
        quarter = tests // 4
        results.append((strategy.name, statistics.median(times[:quarter]),
                        statistics.median(times[-quarter:])))
    return results


def print_stacking(stacking, label, tests):
    """Print how per-test savepoint cost grows with tests already run."""
    print()
    print("Savepoint stack growth at %s: %d tests in a row on one outer "
          "transaction, median ms of the first vs the last %d:"
          % (label, tests, tests // 4))
    for name, first, last in stacking:
        print("  %-34s %8.3f -> %8.3f ms" % (name, first, last))


def warm_total(warm):
    """Warm-start total: every step after SQLAlchemy and its ORM are imported."""
    return sum(warm[step] for step in WARM_START_STEPS)


def print_side_measurements(hashing, warm, label):
    """Print hashing-vs-walking and warm-start results."""
    print()
    print("Fingerprint input cost: sha256 of env.py + revision files vs "
          "ScriptDirectory.walk_revisions()")
    for size, files, hashed, walked in hashing:
        print("  %-8s %4d files: hash %8.3f ms   walk %8.3f ms   (%.0fx)"
              % (size, files, hashed, walked, walked / hashed))
    if warm is None:
        return
    print()
    print("Warm start at %s (fresh interpreter, golden already built, "
          "median of runs):" % label)
    print("  not counted: import sqlalchemy %.1f ms, import sqlalchemy.orm "
          "%.1f ms, gc.collect() of their objects %.1f ms"
          % (warm["import sqlalchemy"], warm["import sqlalchemy.orm"],
             warm["gc after import"]))
    for step in WARM_START_STEPS:
        print("  %-34s %8.2f ms" % (step, warm[step]))
    total = warm_total(warm)
    print("  %-34s %8.2f ms   (target < %.0f ms)"
          % ("warm start total", total, TARGET_WARM_MS))
    print("  %-34s %8.2f ms" % ("  without the sqlite dialect import",
                                total - warm[DIALECT_STEP]))
    print("  golden rebuilt during warm start: %s" % warm["built"])
    print('  "alembic" in sys.modules afterwards: %s (should be False)'
          % warm["alembic imported"])


def target_lines(rows, warm):
    """Yield (description, measured, met) for each stated target."""
    for size, name, _, _, _, vs_upgrade, vs_floor in rows:
        if name not in TARGET_ROWS:
            continue
        yield ("%s %s within %.2fx of its floor" % (size, name,
                                                     TARGET_FLOOR_RATIO),
               "%.2fx" % vs_floor, vs_floor <= TARGET_FLOOR_RATIO)
        if size == "40x60":
            yield ("%s %s >= %dx cheaper than upgrade" % (
                size, name, TARGET_VS_UPGRADE), "%.0fx" % vs_upgrade,
                vs_upgrade >= TARGET_VS_UPGRADE)
    if warm is not None:
        total = warm_total(warm)
        yield ("warm start < %.0f ms" % TARGET_WARM_MS, "%.1f ms" % total,
               total < TARGET_WARM_MS)
        yield ("warm start does not import alembic",
               str(warm["alembic imported"]), not warm["alembic imported"])


def print_targets(rows, warm):
    """Print whether each target is met, so a miss cannot hide in the table."""
    lines = list(target_lines(rows, warm))
    if not lines:
        return
    print()
    print("Targets:")
    for description, measured, met in lines:
        print("  %-62s %10s  %s" % (description, measured,
                                    "met" if met else "MISSED"))


# --------------------------------------------------------------------------
# Command line.
# --------------------------------------------------------------------------

def parse_sizes(text):
    """Parse ``10x10,40x60`` into [(10, 10), (40, 60)]."""
    sizes = []
    for item in text.split(","):
        revisions, tables = item.lower().split("x")
        sizes.append((int(revisions), int(tables)))
    return sizes


def parse_args(argv):
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=None,
                        help="revisions x tables list (default %s)"
                        % DEFAULT_SIZES)
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds for the fast strategies (default 500)")
    parser.add_argument("--slow-rounds", type=int, default=None,
                        help="rounds for upgrade/create_all per test "
                        "(default depends on size)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: small sizes, few rounds")
    parser.add_argument("--no-dbtestkit", action="store_true",
                        help="only the hand-written strategies")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = args.sizes or "10x10,40x60"
        args.rounds = args.rounds or 30
        args.slow_rounds = args.slow_rounds or 3
    args.sizes = parse_sizes(args.sizes or DEFAULT_SIZES)
    args.rounds = args.rounds or 500
    return args


def strategy_classes(with_dbtestkit):
    """Hand-written strategies, plus the dbtestkit rows when requested."""
    return list(BASELINES) + (DBTESTKIT_ROWS if with_dbtestkit else [])


def bench_size(size, root, args, classes):
    """Benchmark one project size; return its table rows and context."""
    ctx = Context(size[0], size[1], root)
    strategies = [cls(ctx) for cls in classes]
    for strategy in strategies:
        strategy.setup()
    try:
        slow = args.slow_rounds or DEFAULT_SLOW_ROUNDS.get(size, 10)
        samples = run_rounds(strategies, args.rounds, slow)
    finally:
        for strategy in strategies:
            strategy.close()
    return summarise(ctx.label, strategies, samples), ctx


def main(argv=None):
    """Run every size, then print the table and the side measurements."""
    args = parse_args(argv)
    classes = strategy_classes(not args.no_dbtestkit)
    started = time.perf_counter()
    rows, hashing, ctx = [], [], None
    with tempfile.TemporaryDirectory(prefix="dbtestkit-bench-") as root:
        for size in args.sizes:
            size_rows, ctx = bench_size(size, root, args, classes)
            rows += size_rows
            files, hashed, walked = measure_hashing(ctx, 3 if args.quick
                                                    else 7)
            hashing.append((ctx.label, files, hashed, walked))
            print("# %s done after %.0f s" % (ctx.label,
                                              time.perf_counter() - started),
                  file=sys.stderr, flush=True)
        stack_tests = 1000 if args.quick else 4000
        first = Context(args.sizes[0][0], args.sizes[0][1], root + "/stack")
        stacking = measure_stacking(first, stack_tests, not args.no_dbtestkit)
        warm = None
        if not args.no_dbtestkit:
            warm = measure_warm_start(ctx, 3 if args.quick else 7)
    print("Per-test cost on SQLite, same body (SELECT, INSERT, commit); "
          "fast rounds=%d, Python %s, SQLAlchemy %s, SQLite %s"
          % (args.rounds, sys.version.split()[0], sa.__version__,
             sqlite3.sqlite_version))
    print()
    print_table(rows)
    print_stacking(stacking, first.label, stack_tests)
    print_side_measurements(hashing, warm, ctx.label)
    print_targets(rows, warm)
    print()
    print("Total benchmark time: %.0f s" % (time.perf_counter() - started),
          flush=True)


if __name__ == "__main__":
    main()
