"""Family "isolation": what one isolated test costs on SQLite, dbtestkit against the hand-written floors.

One group per project size. Every row runs the same body (projectgen.Body).
After the table: savepoint stack growth, fingerprint input cost, warm start.
See README.rst, "The rows: isolation".
"""
import hashlib
import os
import shutil
import sqlite3
import statistics
import sys

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

import dbtestkit
import harness
import projectgen
import body
from body import Body
from harness import Strategy

NAME = "isolation"
UPGRADE = "upgrade"
SIZES = {"full": [(10, 10), (40, 60), (150, 300)], "quick": [(10, 10)]}
# Slow rows cost up to seconds per test at the largest size; these counts
# keep the default run within a few minutes on two cores.
SLOW_ROUNDS = {(10, 10): 50, (40, 60): 40, (150, 300): 20}
QUICK_SLOW_ROUNDS = 3
FLOOR_TARGET, UPGRADE_TARGET, UPGRADE_TARGET_SIZE, WARM_TARGET_MS = 1.25, 200, "40x60", 30.0
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
    """sqlite3 URI of a named in-memory database shared inside the process (what dbtestkit uses)."""
    return "file:/%s?vfs=memdb" % name


class SlowStrategy(Strategy):
    """A row that costs a migration per test: it runs in fewer rounds."""

    def __init__(self, ctx):
        super().__init__(ctx)
        self.rounds = ctx.slow_rounds


class UpgradePerTest(SlowStrategy):
    """Fresh SQLite file, alembic upgrade head, body, delete."""

    key, label = UPGRADE, "upgrade per test"

    def test(self, n):
        from alembic import command

        path = os.path.join(self.ctx.tmp, "upgrade-%d.sqlite" % n)
        url = "sqlite:///" + path
        command.upgrade(projectgen.alembic_config(self.ctx.project, url), "head")
        engine = sa.create_engine(url)
        self.ctx.body.on_engine(engine)
        engine.dispose()
        os.unlink(path)


class CreateAllPerTest(SlowStrategy):
    """Fresh in-memory engine, metadata.create_all, body (it gets no seed rows)."""

    key, label, baseline = "create_all", "create_all per test", UPGRADE

    def __init__(self, ctx):
        super().__init__(ctx)
        self.body = Body(ctx.body.table, 0)  # create_all makes no seed rows

    def test(self, n):
        engine = sa.create_engine("sqlite://")
        self.ctx.metadata.create_all(engine)
        self.body.on_engine(engine)
        engine.dispose()


class SavepointRecipe(Strategy):
    """SQLAlchemy docs recipe: a Session joined into an outer transaction, a savepoint per test."""

    key, label, baseline = "recipe", "savepoint recipe (hand-written)", UPGRADE
    release = False

    def setup(self):
        # An in-memory copy of the upgraded database, held for all tests.
        name = "bench-%s-%s" % (type(self).__name__, self.ctx.label)
        self.keeper = sqlite3.connect(memdb_uri(name), uri=True)
        source = sqlite3.connect(self.ctx.golden)
        source.backup(self.keeper)
        source.close()
        self.engine = pysqlite_savepoint_fix(sa.create_engine("sqlite:///%s&uri=true" % memdb_uri(name)))
        self.connection = self.engine.connect()
        self.outer = self.connection.begin()

    def test(self, n):
        # The session's commit() only releases its own nested savepoint, so
        # this one is what undoes the test's writes.
        savepoint = self.connection.begin_nested()
        session = Session(bind=self.connection, join_transaction_mode="create_savepoint")
        self.ctx.body(session)
        session.close()
        savepoint.rollback()
        if self.release:
            # ROLLBACK TO keeps the savepoint open (SQL standard): without this
            # every test leaves one more on the stack. SQLAlchemy has no public
            # call for it; _savepoint is the name it generated.
            self.connection.exec_driver_sql("RELEASE SAVEPOINT %s" % savepoint._savepoint)

    def close(self):
        self.ctx.body.check(self.connection, self.label)
        self.outer.rollback()
        self.connection.close()
        self.engine.dispose()
        self.keeper.close()


class SavepointRecipeReleased(SavepointRecipe):
    """The recipe plus RELEASE of the rolled-back savepoint (stack growth note only)."""

    label, release = "savepoint recipe + RELEASE", True


class BackupIntoMemdb(Strategy):
    """sqlite3 backup of the golden into a named memdb, new engine, body."""

    key, label, baseline = "backup", "bare backup + first query", UPGRADE

    def test(self, n):
        name = "bench-backup-%s-%d" % (self.ctx.label, n)
        # The keeper holds the named memdb alive while the engine uses it.
        keeper = sqlite3.connect(memdb_uri(name), uri=True)
        source = sqlite3.connect("file:%s?mode=ro" % self.ctx.golden, uri=True)
        source.backup(keeper)
        source.close()
        engine = sa.create_engine("sqlite:///%s&uri=true" % memdb_uri(name))
        self.ctx.body.on_engine(engine)
        engine.dispose()
        keeper.close()


class DeserializeIntoMemory(Strategy):
    """Connection.deserialize(golden bytes), one-connection engine, body."""

    key, label, baseline = "deserialize", "bare deserialize + first query", UPGRADE

    def setup(self):
        # Reading the golden once is legitimate: it does not change.
        with open(self.ctx.golden, "rb") as f:
            self.image = f.read()

    def test(self, n):
        connection = sqlite3.connect(":memory:", check_same_thread=False)
        connection.deserialize(self.image)
        # A deserialized database is private to its connection, so the
        # engine must hand out exactly that connection.
        engine = sa.create_engine("sqlite://", creator=lambda: connection, poolclass=StaticPool)
        self.ctx.body.on_engine(engine)
        engine.dispose()
        connection.close()


class FileCopy(Strategy):
    """shutil.copyfile of the golden, new engine, body, dispose, unlink."""

    key, label, baseline = "copy", "file copy + new engine", UPGRADE

    def test(self, n):
        path = os.path.join(self.ctx.tmp, "copy-%d.sqlite" % n)
        shutil.copyfile(self.ctx.golden, path)
        engine = sa.create_engine("sqlite:///" + path)
        self.ctx.body.on_engine(engine)
        engine.dispose()
        os.unlink(path)


class DbtestkitSavepoint(body.DbtestkitSavepoint):
    """DatabaseTestCase's isolation on a memory clone."""

    label, baseline, max_floor = "dbtestkit DatabaseTestCase", UPGRADE, FLOOR_TARGET


class DbtestkitClone(Strategy):
    """``with db.clone(kind=...) as c``: the body on the clone's engine."""

    key, label, floor, baseline = "dbtk_memory", "dbtestkit memory clone", "backup", UPGRADE
    kind, max_floor = None, FLOOR_TARGET

    def test(self, n):
        with self.ctx.db.clone(kind=self.kind) as clone:
            self.ctx.body.on_engine(clone.engine)


class DbtestkitFileClone(DbtestkitClone):
    """``with db.clone(kind="file") as c``: the body on the clone's engine."""

    key, label, floor, kind, max_floor = "dbtk_file", "dbtestkit file clone", "copy", "file", None


STRATEGIES = [UpgradePerTest, CreateAllPerTest, SavepointRecipe, BackupIntoMemdb,
              DeserializeIntoMemory, FileCopy, DbtestkitSavepoint, DbtestkitClone,
              DbtestkitFileClone]


class SizeGroup(harness.Group):
    """One generated project on SQLite: its golden, its body and every row."""

    baseline_name = "upgrade per test"

    def __init__(self, size, root, quick, first, last):
        self.revisions, self.tables = size
        self.label = "%dx%d" % size
        self.title = "isolation sqlite %s" % self.label
        self.tmp = os.path.join(root, "isolation-" + self.label)
        self.quick = quick
        self.slow_rounds = QUICK_SLOW_ROUNDS if quick else SLOW_ROUNDS.get(size, 10)
        # Stack growth on the first size, the warm start on the largest, as before.
        self.first, self.last = first, last
        self.extra = {}

    def open(self):
        self.project = projectgen.generate_project(
            os.path.join(self.tmp, "project"), self.revisions, self.tables)
        self.golden = projectgen.build_database(self.project, os.path.join(self.tmp, "golden.sqlite"))
        self.metadata = projectgen.head_metadata(self.project, self.golden)
        golden = sqlite3.connect(self.golden)
        table = self.project.body_table
        rows = golden.execute("SELECT count(*) FROM %s" % table).fetchone()[0]
        golden.close()
        self.body = Body(table, rows)
        # cache_dir keeps the benchmark's goldens out of the user's cache.
        self.cache_dir = os.path.join(self.tmp, "dbtestkit-cache")
        self.db = dbtestkit.TestDatabase(alembic_ini=self.project.alembic_ini,
                                         cache_dir=self.cache_dir)
        harness.quietly(self.db.ensure_golden)
        self._strategies = [cls(self) for cls in STRATEGIES]
        if self.label == UPGRADE_TARGET_SIZE:
            for strategy in self._strategies[-3:-1]:
                strategy.min_baseline = UPGRADE_TARGET

    def strategies(self):
        return self._strategies

    def close(self):
        # Side measurements after the rounds, so they do not run among them.
        if self.first:
            self.extra["stacking"] = measure_stacking(self, 1000 if self.quick else 4000)
        self.extra["hashing"] = measure_hashing(self.project, 3 if self.quick else 7)
        if self.last:
            self.extra["warm"] = measure_warm_start(self, 3 if self.quick else 7)
        self.db.close()
        return []

    def notes(self, medians):
        lines = []
        stacking = self.extra.get("stacking")
        if stacking:
            tests, results = stacking
            lines.append("savepoint stack growth: %d tests in a row on one outer transaction, "
                         "median ms of the first vs the last %d:" % (tests, tests // 4))
            lines += ["  %-34s %8.3f -> %8.3f ms" % result for result in results]
        if "hashing" in self.extra:
            files, hashed, walked = self.extra["hashing"]
            lines.append("fingerprint input: sha256 of env.py + %d revision files %.3f ms, "
                         "ScriptDirectory.walk_revisions() %.3f ms (%.0fx)"
                         % (files - 1, hashed, walked, walked / hashed))
        warm = self.extra.get("warm")
        if warm:
            lines.append("warm start (fresh interpreter, golden built, median of runs); not "
                         "counted: import sqlalchemy %.1f ms, sqlalchemy.orm %.1f ms, gc %.1f ms"
                         % (warm["import sqlalchemy"], warm["import sqlalchemy.orm"],
                            warm["gc after import"]))
            lines += ["  %-34s %8.2f ms" % (step, warm[step]) for step in WARM_START_STEPS]
            total = warm_total(warm)
            lines.append("  %-34s %8.2f ms (%.2f without the sqlite dialect import)"
                         % ("warm start total", total, total - warm[DIALECT_STEP]))
            lines.append("  golden rebuilt during warm start: %s; alembic imported: %s"
                         % (warm["built"], warm["alembic imported"]))
        return lines

    def targets(self, medians):
        warm = self.extra.get("warm")
        if not warm:
            return []
        total = warm_total(warm)
        return [("%s: warm start < %.0f ms" % (self.title, WARM_TARGET_MS), "%.1f ms" % total,
                 total < WARM_TARGET_MS),
                ("%s: warm start does not import alembic" % self.title,
                 str(warm["alembic imported"]), not warm["alembic imported"])]


def groups(args, root):
    """(groups, reasons skipped): one group per size."""
    sizes = SIZES["quick" if args.quick else "full"]
    if "sqlite" not in args.backends:
        return [], ["sqlite is not among --backends"]
    return [SizeGroup(size, root, args.quick, size == sizes[0], size == sizes[-1]) for size in sizes], []


# --------------------------------------------------------------------------
# Side measurements: savepoint stack growth, hashing vs walking, warm start.
# --------------------------------------------------------------------------

def measure_stacking(group, tests):
    """(tests, [(row, median ms of the first quarter, of the last)]) of tests in a row."""
    results = []
    for cls in (SavepointRecipe, SavepointRecipeReleased, DbtestkitSavepoint):
        strategy = cls(group)
        strategy.setup()
        times = [strategy.run(n)[strategy.key][0] for n in range(tests)]
        strategy.close()
        quarter = tests // 4
        results.append((strategy.label, statistics.median(times[:quarter]),
                        statistics.median(times[-quarter:])))
    return tests, results


def measure_hashing(project, repeat):
    """(files, hash ms, walk ms): what a fingerprint hashes against asking Alembic."""
    from alembic.script import ScriptDirectory

    paths = [os.path.join(os.path.dirname(project.versions_dir), "env.py")] + sorted(
        os.path.join(project.versions_dir, f) for f in os.listdir(project.versions_dir)
        if f.endswith(".py"))

    def hash_files():
        digest = hashlib.sha256()
        for path in paths:
            with open(path, "rb") as f:
                digest.update(f.read())

    def walk():
        list(ScriptDirectory.from_config(projectgen.alembic_config(project)).walk_revisions())

    return len(paths), harness.median_ms(hash_files, repeat * 4), harness.median_ms(walk, repeat)


WARM_START_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "warm_start_child.py")
# The SQLite dialect is timed on its own: dbtestkit needs it on a warm start,
# but so does the first SQLite engine of the code under test.
DIALECT_STEP = "import sqlalchemy.dialects.sqlite"
WARM_START_STEPS = (DIALECT_STEP, "import dbtestkit", "TestDatabase()", "fingerprint()",
                    "ensure_golden()", "first clone()", "first query")


def measure_warm_start(group, repeat):
    """Median per-step warm-start timings from fresh interpreters (the golden is built)."""
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
               # Cached bytecode, as on a developer's machine, kept in the
               # temp dir so the working tree gets no __pycache__.
               PYTHONPYCACHEPREFIX=os.path.join(group.tmp, "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    # The first run only fills the bytecode cache.
    runs = harness.json_runs([sys.executable, WARM_START_SCRIPT, group.project.alembic_ini,
                              group.cache_dir, group.body.select.text],
                             repeat, env=env, cwd=group.tmp)
    result = {key: statistics.median(r[key] for r in runs)
              for key in runs[0] if not isinstance(runs[0][key], bool)}
    result["built"] = any(r["built"] for r in runs)
    result["alembic imported"] = any(r["alembic imported"] for r in runs)
    return result


def warm_total(warm):
    """Warm-start total: every step after SQLAlchemy and its ORM are imported."""
    return sum(warm[step] for step in WARM_START_STEPS)
