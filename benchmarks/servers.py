"""Per-test cost of database isolation on PostgreSQL and MySQL/MariaDB servers.

Usage::

    python benchmarks/servers.py [--backends postgresql,mysql] [--sizes 40x60]
                                 [--rounds N] [--medium-rounds N] [--slow-rounds N]
                                 [--postgresql-url URL] [--mysql-url URL] [--quick]

For every backend and size: one table, measured in one run of interleaved,
shuffled rounds, of what one test costs under each strategy (the same tiny
body everywhere: SELECT, INSERT, commit through a Session). Everything the
script creates on the servers is dropped at the end, and the script checks
that nothing of this process is left behind. See benchmarks/README.rst.
"""
import argparse
import gc
import os
import random
import statistics
import sys
import tempfile
import time

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
# The benchmark measures the working tree, not an installed copy.
sys.path.insert(0, REPO)

import projectgen  # noqa: E402
from isolation import percentile, quietly  # noqa: E402

import dbtestkit  # noqa: E402
from dbtestkit.backends.clone import drop_live_clones, live_clones  # noqa: E402
from dbtestkit.backends.processes import owner_is_gone, process_tag, unique_suffix  # noqa: E402
from dbtestkit.backends.server import database_name  # noqa: E402

DEFAULT_URLS = {
    "postgresql": os.environ.get("DBTESTKIT_TEST_POSTGRESQL_URL")
    or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    "mysql": os.environ.get("DBTESTKIT_TEST_MYSQL_URL")
    or "mysql+pymysql://root@127.0.0.1:3306/",
}
DEFAULT_SIZES = "40x60"
DEFAULT_ROUNDS = 300
# Rounds for the clone rows (tens to hundreds of ms per test), and for
# "migrate per test" (hundreds of ms); spread evenly over the fast rounds so
# they stay interleaved with everything else. Chosen to keep the default run
# (both backends, 40x60) within about six minutes on two cores.
DEFAULT_MEDIUM_ROUNDS = {"postgresql": 30, "mysql": 16}
DEFAULT_SLOW_ROUNDS = 10
# The simulated longer test body of the second set of clone rows.
LONG_BODY_SECONDS = 0.05
# Pooled rows run bursts of back-to-back tests, as a suite does: the first
# POOL_WARMUP tests of a burst eat the clones the pool prepared while idle and
# are not recorded; the next POOL_RECORDED are. See README.rst.
POOL_WARMUP = 3
POOL_RECORDED = 4
# Targets (README.rst, "Targets").
TARGET_SAVEPOINT_RATIO = 1.25
TARGET_POOL_RATIO = 0.5
# Figures from the issue (40 revisions / 60 tables, ext4), for comparison.
REFERENCE_MS = {
    "postgresql": {"migrate": "537", "tmpl_WAL_LOG": "233-257", "tmpl_FILE_COPY": "233-257",
                   "truncate": "66", "recipe": "1.1", "bare": "0.2"},
    "mysql": {"migrate": "728", "like": "282", "recipe": "1.04"},
}
REFERENCE_SIZE = "40x60"


def now():
    return time.perf_counter_ns()


def ms_since(start):
    return (time.perf_counter_ns() - start) / 1e6


# --------------------------------------------------------------------------
# The test body shared by every strategy.
# --------------------------------------------------------------------------

class Body:
    """SELECT count(*), one INSERT, commit: the same body for every strategy.

    The count must equal the golden's: every test of every strategy checks
    that it started from the golden state, so a strategy that leaks cannot
    post a fast time.
    """

    def __init__(self, table, expected_rows, sleep=0.0):
        self.table = table
        self.expected_rows = expected_rows
        self.sleep = sleep
        self.select = sa.text("SELECT count(*) FROM %s" % table)
        self.insert = sa.text(
            "INSERT INTO %s (name, label, amount, created_on) "
            "VALUES (:name, :label, :amount, :created_on)" % table)
        self.params = {"name": "bench", "label": "b", "amount": 1.5,
                       "created_on": "2024-02-01"}

    def with_sleep(self, seconds):
        return Body(self.table, self.expected_rows, seconds)

    def __call__(self, session):
        rows = session.execute(self.select).scalar_one()
        if rows != self.expected_rows:
            raise AssertionError("isolation leaked: %d rows in %s, the golden has %d"
                                 % (rows, self.table, self.expected_rows))
        session.execute(self.insert, self.params)
        session.commit()
        if self.sleep:
            time.sleep(self.sleep)

    def on_engine(self, engine):
        with Session(engine) as session:
            self(session)


# --------------------------------------------------------------------------
# The servers: scratch databases of this process, created and dropped here.
# --------------------------------------------------------------------------

class Server:
    """Admin access to one server, and the scratch databases this run made on it."""

    backend = ""

    def __init__(self, url):
        self.url = make_url(url)
        self.url_text = url
        self.admin = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        self.tag = process_tag("_")
        # Scratch databases that may exist; every one is dropped in cleanup().
        self.tracked = set()
        # Goldens this run built (dropped by their Context).
        self.goldens = set()

    def url_of(self, name):
        return self.url.set(database=name).render_as_string(hide_password=False)

    def execute(self, statement):
        with self.admin.connect() as connection:
            connection.exec_driver_sql(statement)

    def scalar(self, statement):
        with self.admin.connect() as connection:
            return connection.exec_driver_sql(statement).scalar()

    def scratch_name(self, kind):
        """``dbtk_bench_<kind>_<host>_<pid>_<n>_<random>``: the library's naming."""
        return database_name("bench", kind, unique_suffix("_"))

    def names(self, like):
        raise NotImplementedError

    def mine(self):
        """Databases on the server whose name carries this process's host and pid."""
        return {name for name in self.names("dbtk\\_%")
                if "_%s_" % self.tag in name}

    def sweep_stale(self):
        """Drop benchmark scratch databases of processes that are gone (killed runs)."""
        swept = [name for name in self.names("dbtk\\_bench\\_%") if owner_is_gone(name)]
        for name in swept:
            self.drop_scratch(name)
        return swept

    def drop_scratch(self, name):
        raise NotImplementedError

    def cleanup(self):
        for name in sorted(self.tracked):
            self.drop_scratch(name)
        self.tracked.clear()

    def dispose(self):
        self.admin.dispose()


def quote_pg(name):
    return '"' + name.replace('"', '""') + '"'


def quote_my(name):
    return "`" + name.replace("`", "``") + "`"


class PostgresServer(Server):
    backend = "postgresql"

    @property
    def version_num(self):
        return int(self.scalar("SHOW server_version_num"))

    def describe(self):
        version = self.scalar("SHOW server_version")
        data = self.scalar("SHOW data_directory")
        return "PostgreSQL %s, data directory %s%s" % (version, data, filesystem_of(data))

    def names(self, like):
        with self.admin.connect() as connection:
            return connection.exec_driver_sql(
                "SELECT datname FROM pg_database WHERE datname LIKE %(p)s", {"p": like}
            ).scalars().all()

    def create(self, name, template=None, strategy=None):
        statement = "CREATE DATABASE %s" % quote_pg(name)
        if template:
            statement += " TEMPLATE %s" % quote_pg(template)
        if strategy:
            statement += " STRATEGY %s" % strategy
        self.tracked.add(name)
        self.execute(statement)

    def drop(self, name):
        self.execute("DROP DATABASE %s" % quote_pg(name))
        self.tracked.discard(name)

    def drop_scratch(self, name):
        self.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % quote_pg(name))
        self.tracked.discard(name)


class MysqlServer(Server):
    backend = "mysql"

    def describe(self):
        version = self.scalar("SELECT VERSION()")
        data = self.scalar("SELECT @@datadir")
        return "MySQL/MariaDB %s, data directory %s%s" % (version, data, filesystem_of(data))

    def names(self, like):
        with self.admin.connect() as connection:
            return connection.exec_driver_sql(
                "SELECT schema_name FROM information_schema.SCHEMATA WHERE schema_name LIKE %s",
                (like,)).scalars().all()

    def create(self, name):
        self.tracked.add(name)
        self.execute("CREATE DATABASE %s CHARACTER SET utf8mb4" % quote_my(name))

    def drop(self, name):
        self.execute("DROP DATABASE %s" % quote_my(name))
        self.tracked.discard(name)

    def drop_scratch(self, name):
        with self.admin.connect() as connection:
            for (pid,) in connection.exec_driver_sql(
                    "SELECT id FROM information_schema.PROCESSLIST WHERE db = %s "
                    "AND id <> CONNECTION_ID()", (name,)).all():
                try:
                    connection.exec_driver_sql("KILL %d" % int(pid))
                except sa.exc.DBAPIError:
                    pass
            connection.exec_driver_sql("DROP DATABASE IF EXISTS %s" % quote_my(name))
        self.tracked.discard(name)


def filesystem_of(path):
    """`` (ext4)``: the filesystem holding ``path`` if it is on this machine, else ''."""
    if not os.path.exists(path):
        return " (not on this machine)"
    best, kind = "", "?"
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                fields = line.split()
                mount, fstype = fields[1], fields[2]
                if (path == mount or path.startswith(mount.rstrip("/") + "/")) \
                        and len(mount) >= len(best):
                    best, kind = mount, fstype
    except OSError:
        return ""
    return " (%s)" % kind


# --------------------------------------------------------------------------
# Strategies. setup() and close() are untimed; run(n) runs one test (or a
# burst) and returns {row key: [ms, ...]}.
# --------------------------------------------------------------------------

class Strategy:
    """One way of giving a test an isolated database."""

    key = ""
    label = ""
    floor = None
    tier = "fast"  # fast, medium or slow: how many rounds it runs in

    def __init__(self, ctx):
        self.ctx = ctx
        self.parts = {}

    def rows(self):
        """(key, label, floor key) of every row this strategy reports."""
        return [(self.key, self.label, self.floor)]

    def setup(self):
        """Prepare what is held across tests (not timed)."""

    def test(self, n):
        """One whole test: per-test setup, body, per-test teardown."""
        raise NotImplementedError

    def run(self, n):
        self.parts = {}
        start = now()
        self.test(n)
        samples = {self.key: [ms_since(start)]}
        for key, value in self.parts.items():
            samples[key] = [value]
        return samples

    def close(self):
        """Release what setup() acquired."""


class MigratePerTest(Strategy):
    """CREATE DATABASE (empty), alembic upgrade head, the body, DROP DATABASE."""

    key = "migrate"
    label = "migrate per test"
    tier = "slow"

    def test(self, n):
        from alembic import command

        server = self.ctx.server
        name = server.scratch_name("mig")
        server.create(name)
        url = server.url_of(name)
        command.upgrade(projectgen.alembic_config(self.ctx.project, url), "head")
        engine = sa.create_engine(url)
        self.ctx.body.on_engine(engine)
        engine.dispose()
        server.drop(name)


class PgTemplateClone(Strategy):
    """pytest-postgresql style: CREATE DATABASE … TEMPLATE, the body, DROP DATABASE."""

    tier = "medium"

    def __init__(self, ctx, strategy):
        super().__init__(ctx)
        self.strategy = strategy
        suffix = strategy or "default"
        self.key = "tmpl_%s" % strategy
        self.create_key = "tmpl_%s_create" % strategy
        self.label = "CREATE DATABASE TEMPLATE %s + DROP" % suffix
        if strategy is None:
            self.label = "CREATE DATABASE TEMPLATE + DROP"

    def rows(self):
        return [(self.key, self.label, None),
                (self.create_key, "  of which CREATE DATABASE", None)]

    def test(self, n):
        server = self.ctx.server
        name = server.scratch_name("tmpl")
        start = now()
        server.create(name, template=self.ctx.template, strategy=self.strategy)
        self.parts[self.create_key] = ms_since(start)
        engine = sa.create_engine(server.url_of(name))
        self.ctx.body.on_engine(engine)
        engine.dispose()
        server.drop(name)


class PgTruncateReseed(Strategy):
    """One migrated database; per test the body, then TRUNCATE everything and re-seed."""

    key = "truncate"
    label = "TRUNCATE all + re-seed"
    tier = "medium"

    def setup(self):
        self.engine = sa.create_engine(self.ctx.server.url_of(self.ctx.truncate_db))
        metadata = sa.MetaData()
        metadata.reflect(self.engine)
        self.tables = [t for t in metadata.sorted_tables if t.name != "alembic_version"]
        # The seed rows, captured once from the freshly migrated database.
        self.seed = []
        with self.engine.connect() as connection:
            for table in self.tables:
                rows = [dict(row._mapping) for row in connection.execute(table.select())]
                if rows:
                    self.seed.append((table, rows))
        self.truncate = "TRUNCATE %s RESTART IDENTITY CASCADE" % ", ".join(
            quote_pg(t.name) for t in self.tables)

    def test(self, n):
        self.ctx.body.on_engine(self.engine)
        with self.engine.begin() as connection:
            connection.exec_driver_sql(self.truncate)
            for table, rows in self.seed:
                connection.execute(table.insert(), rows)

    def close(self):
        with self.engine.connect() as connection:
            for table, rows in self.seed:
                count = connection.execute(
                    sa.select(sa.func.count()).select_from(table)).scalar_one()
                if count != len(rows):
                    raise AssertionError("re-seed lost rows of %s" % table.name)
        self.engine.dispose()


class SavepointRecipe(Strategy):
    """One connection and outer transaction; per test a SAVEPOINT and a joined Session."""

    key = "recipe"
    label = "savepoint recipe (hand-written)"

    def setup(self):
        self.engine = sa.create_engine(self.ctx.server.url_of(self.ctx.work_db))
        self.connection = self.engine.connect()
        self.outer = self.connection.begin()

    def test(self, n):
        connection = self.connection
        connection.exec_driver_sql("SAVEPOINT bench_test")
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        self.ctx.body(session)
        session.close()
        connection.exec_driver_sql("ROLLBACK TO SAVEPOINT bench_test")
        connection.exec_driver_sql("RELEASE SAVEPOINT bench_test")

    def close(self):
        rows = self.connection.execute(self.ctx.body.select).scalar_one()
        if rows != self.ctx.body.expected_rows:
            raise AssertionError("%s leaked: %d rows" % (self.label, rows))
        self.outer.rollback()
        self.connection.close()
        self.engine.dispose()


class BareSavepoint(SavepointRecipe):
    """SAVEPOINT + ROLLBACK TO on a held connection, no Session and no body."""

    key = "bare"
    label = "bare SAVEPOINT + ROLLBACK TO"

    def test(self, n):
        self.connection.exec_driver_sql("SAVEPOINT bench_bare")
        self.connection.exec_driver_sql("ROLLBACK TO SAVEPOINT bench_bare")


class MysqlLikeClone(Strategy):
    """CREATE DATABASE, CREATE TABLE … LIKE + INSERT … SELECT per table, body, DROP."""

    key = "like"
    label = "CREATE TABLE LIKE + INSERT SELECT"
    tier = "medium"

    def rows(self):
        return [(self.key, self.label, None),
                ("like_copy", "  of which CREATE DATABASE + copy", None)]

    def setup(self):
        server = self.ctx.server
        with server.admin.connect() as connection:
            self.tables = connection.exec_driver_sql(
                "SELECT table_name FROM information_schema.TABLES WHERE table_schema = %s "
                "AND table_type = 'BASE TABLE' ORDER BY table_name",
                (self.ctx.source_db,)).scalars().all()
        source = quote_my(self.ctx.source_db)
        self.statements = []
        for table in self.tables:
            self.statements.append("CREATE TABLE {db}.%s LIKE %s.%s"
                                   % (quote_my(table), source, quote_my(table)))
            self.statements.append("INSERT INTO {db}.%s SELECT * FROM %s.%s"
                                   % (quote_my(table), source, quote_my(table)))

    def copy(self, name):
        server = self.ctx.server
        server.create(name)
        target = quote_my(name)
        with server.admin.connect() as connection:
            for statement in self.statements:
                connection.exec_driver_sql(statement.format(db=target))

    def test(self, n):
        server = self.ctx.server
        name = server.scratch_name("like")
        start = now()
        self.copy(name)
        self.parts["like_copy"] = ms_since(start)
        engine = sa.create_engine(server.url_of(name))
        self.ctx.body.on_engine(engine)
        engine.dispose()
        server.drop(name)


class DbtestkitSavepoint(Strategy):
    """DatabaseTestCase's isolation: ClassScope.open(), per test begin_test() … end()."""

    key = "dbtk_savepoint"
    label = "dbtestkit savepoint"
    floor = "recipe"

    def setup(self):
        self.scope = self.ctx.sync_db.class_scope()
        self.scope.open()

    def test(self, n):
        test = self.scope.begin_test()
        self.ctx.body(test.session)
        test.end()

    def close(self):
        rows = self.scope.outer.connection.execute(self.ctx.body.select).scalar_one()
        if rows != self.ctx.body.expected_rows:
            raise AssertionError("%s leaked: %d rows" % (self.label, rows))
        self.scope.close()


class DbtestkitClone(Strategy):
    """``db.clone()`` from a TestDatabase whose pool is switched off, body, ``drop()``."""

    tier = "medium"

    def __init__(self, ctx, sleep):
        super().__init__(ctx)
        self.body = ctx.body.with_sleep(sleep)
        suffix = "" if not sleep else "_long"
        long_label = "" if not sleep else ", +%d ms body" % (sleep * 1000)
        self.key = "sync" + suffix
        self.wait_key = "sync_wait" + suffix
        self.label = "dbtestkit clone, no pool" + long_label
        self.floors = (ctx.clone_floor if not sleep else None, ctx.clone_wait_floor)

    @property
    def database(self):
        return self.ctx.sync_db

    def rows(self):
        return [(self.key, self.label, self.floors[0]),
                (self.wait_key, "  wait in clone()", self.floors[1])]

    def one(self):
        start = now()
        clone = self.database.clone()
        waited = ms_since(start)
        try:
            self.body.on_engine(clone.engine)
        finally:
            clone.drop()
        return ms_since(start), waited

    def run(self, n):
        whole, waited = self.one()
        return {self.key: [whole], self.wait_key: [waited]}


class DbtestkitPooledClone(DbtestkitClone):
    """``db.clone()`` from a pooled TestDatabase, in bursts of back-to-back tests."""

    def __init__(self, ctx, sleep):
        super().__init__(ctx, sleep)
        long_label = "" if not sleep else ", +%d ms body" % (sleep * 1000)
        suffix = "" if not sleep else "_long"
        # Compared with the synchronous clone running the same body.
        self.floors = ("sync" + suffix, "sync_wait" + suffix)
        self.key = "pool" + suffix
        self.wait_key = "pool_wait" + suffix
        self.label = "dbtestkit clone, pool" + long_label

    @property
    def database(self):
        return self.ctx.pooled_db

    def setup(self):
        # The pool starts on the first clone(): start it, then let it fill.
        self.database.clone().drop()
        self.ctx.settle_pool()

    def run(self, n):
        samples = {self.key: [], self.wait_key: []}
        status, = self.database.pool_status()
        self.ctx.stock.append((status["ready"], status["size"]))
        for i in range(POOL_WARMUP + POOL_RECORDED):
            whole, waited = self.one()
            if i >= POOL_WARMUP:
                samples[self.key].append(whole)
                samples[self.wait_key].append(waited)
        # Untimed: let the pool finish its background CREATE/DROP work so it
        # does not run during (and get charged to) the next strategy.
        self.ctx.settle_pool()
        return samples


class CloneTimer:
    """Times a TestDatabase backend's clone() and drop_clone(), and their server statements.

    Wraps the two methods on the backend *instance* (the library is not
    edited) and listens to CREATE/DROP DATABASE on its admin engine through
    SQLAlchemy events. On the pooled TestDatabase both run in the pool's
    worker threads, concurrently; on the other, synchronously in the test.
    """

    STATEMENTS = ("CREATE DATABASE", "DROP DATABASE")

    def __init__(self, backend):
        self.times = {key: [] for key in ("make", "drop") + self.STATEMENTS}
        make, drop = backend.clone, backend.drop_clone

        def clone(*args, **kwargs):
            started = now()
            result = make(*args, **kwargs)
            self.times["make"].append(ms_since(started))
            return result

        def drop_clone(clone):
            started = now()
            drop(clone)
            self.times["drop"].append(ms_since(started))

        backend.clone, backend.drop_clone = clone, drop_clone
        event.listen(backend.admin.engine, "before_cursor_execute", self.before)
        event.listen(backend.admin.engine, "after_cursor_execute", self.after)

    def before(self, connection, cursor, statement, *args):
        connection.info["bench_started"] = now()

    def after(self, connection, cursor, statement, *args):
        started = connection.info.pop("bench_started", None)
        for prefix in self.STATEMENTS:
            if started is not None and statement.startswith(prefix):
                self.times[prefix].append(ms_since(started))

    def reset(self):
        for values in self.times.values():
            values.clear()

    def snapshot(self):
        return {key: list(values) for key, values in self.times.items()}


# --------------------------------------------------------------------------
# One backend at one size.
# --------------------------------------------------------------------------

class Context:
    """A generated project, the scratch databases and TestDatabases for one table."""

    def __init__(self, server, revisions, tables, tmp):
        self.server = server
        self.label = "%dx%d" % (revisions, tables)
        self.tmp = tmp
        self.project = projectgen.generate_project(
            os.path.join(tmp, "project"), revisions, tables)
        # A comment unique to this run makes the fingerprint, hence the
        # golden, this run's own: dropping it at the end cannot pull a
        # golden from under another process using the same generated project.
        env_py = os.path.join(self.project.directory, "migrations", "env.py")
        with open(env_py, "a", encoding="utf-8") as f:
            f.write("\n# dbtestkit server benchmark run %s\n" % unique_suffix("_"))
        self.sync_db = self.pooled_db = None
        self.golden = None

    def prepare(self):
        """Create the scratch databases and the golden (untimed)."""
        server = self.server
        if isinstance(server, PostgresServer):
            self.template = server.scratch_name("template")
            self.migrate_into_new(self.template)
            self.work_db = server.scratch_name("work")
            server.create(self.work_db, template=self.template)
            self.truncate_db = server.scratch_name("trunc")
            server.create(self.truncate_db, template=self.template)
            # A template cannot be copied while anyone is connected to it.
            server.execute("ALTER DATABASE %s ALLOW_CONNECTIONS false"
                           % quote_pg(self.template))
            new = server.version_num >= 150000
            self.strategies_sql = ["WAL_LOG", "FILE_COPY"] if new else [None]
            # dbtestkit uses the server default: WAL_LOG on 15+.
            self.clone_floor = "tmpl_%s" % self.strategies_sql[0]
            self.clone_wait_floor = "tmpl_%s_create" % self.strategies_sql[0]
        else:
            self.source_db = server.scratch_name("source")
            self.migrate_into_new(self.source_db)
            self.work_db = server.scratch_name("work")
            self.migrate_into_new(self.work_db)
            self.clone_floor, self.clone_wait_floor = "like", "like_copy"
        table, rows = self.body_table()
        self.body = Body(table, rows)
        cache = os.path.join(self.tmp, "dbtestkit-cache")
        self.sync_db = dbtestkit.TestDatabase(
            server.url_text, alembic_ini=self.project.alembic_ini, cache_dir=cache)
        self.golden = quietly(self.sync_db.ensure_golden)
        if self.golden.built:
            server.goldens.add(self.sync_db.backend.golden_name(self.golden.fingerprint))
        self.sync_db.backend.pooled = False
        self.pooled_db = dbtestkit.TestDatabase(
            server.url_text, alembic_ini=self.project.alembic_ini, cache_dir=cache)
        quietly(self.pooled_db.ensure_golden)
        self.timers = {"synchronous": CloneTimer(self.sync_db.backend),
                       "pool workers": CloneTimer(self.pooled_db.backend)}
        # Clones ready in the pool when a burst starts, after it went idle.
        self.stock = []

    def forget_warmup(self):
        """Called after the untimed warm-up round: count only timed rounds."""
        for timer in self.timers.values():
            timer.reset()
        self.stock.clear()

    def migrate_into_new(self, name):
        self.server.create(name)
        from alembic import command

        command.upgrade(projectgen.alembic_config(self.project, self.server.url_of(name)),
                        "head")

    def body_table(self):
        """The first generated table that holds no seed rows (and its row count, 0).

        The seeded tables get their rows with explicit ids, which leaves a
        PostgreSQL sequence at 1: an INSERT without an id would collide.
        """
        engine = sa.create_engine(self.server.url_of(self.work_db), poolclass=NullPool)
        try:
            with engine.connect() as connection:
                for table in self.project.tables:
                    rows = connection.exec_driver_sql(
                        "SELECT count(*) FROM %s" % table).scalar()
                    if rows == 0:
                        return table, rows
        finally:
            engine.dispose()
        raise RuntimeError("every generated table holds seed rows")

    def strategies(self):
        if isinstance(self.server, PostgresServer):
            rows = [MigratePerTest(self)]
            rows += [PgTemplateClone(self, s) for s in self.strategies_sql]
            rows += [PgTruncateReseed(self), SavepointRecipe(self), BareSavepoint(self)]
        else:
            rows = [MigratePerTest(self), MysqlLikeClone(self), SavepointRecipe(self),
                    BareSavepoint(self)]
        rows += [DbtestkitSavepoint(self),
                 DbtestkitClone(self, 0.0), DbtestkitClone(self, LONG_BODY_SECONDS),
                 DbtestkitPooledClone(self, 0.0),
                 DbtestkitPooledClone(self, LONG_BODY_SECONDS)]
        return rows

    def settle_pool(self, timeout=120):
        """Wait until the pool has no work left: nothing being made, every released clone dropped.

        Reads the pools' status (TestDatabase.pool_status()) and the server's list of this
        process's databases.
        """
        deadline = time.monotonic() + timeout
        quiet = 0
        while True:
            held = {c.name for c in live_clones()}
            # Not "ready == size": the pool can settle below its size (README,
            # "What the benchmark found"), so wait for no work at all instead.
            statuses = self.pooled_db.pool_status()
            busy = any(st["making"] or st["pending_drops"] for st in statuses)
            stray = self.server.mine() - held - self.scratch_names()
            # Twice in a row: a worker may have taken an item off the queue
            # and not yet counted it as making.
            quiet = quiet + 1 if not busy and not stray else 0
            if quiet >= 2:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the clone pool did not settle within %ds: making=%s, "
                                   "drops pending=%s, databases not held by anyone: %s"
                                   % (timeout, [st["making"] for st in statuses],
                                      [st["pending_drops"] for st in statuses], sorted(stray)))
            time.sleep(0.005)

    def scratch_names(self):
        return set(self.server.tracked)

    def close(self):
        """Drop everything this context made; return the errors met on the way."""
        errors = []

        def attempt(func, *a):
            try:
                func(*a)
            except Exception as error:  # keep cleaning up; report at the end
                errors.append("%s: %s" % (getattr(func, "__qualname__", func), error))

        for db in (self.pooled_db, self.sync_db):
            if db is not None:
                attempt(db.close)  # closes its clone pools, dropping their clones
        attempt(drop_live_clones)
        if self.golden is not None and self.golden.built:
            attempt(self.sync_db.backend.discard_golden, self.golden.fingerprint)
        for db in (self.pooled_db, self.sync_db):
            if db is not None:
                attempt(db.backend.admin.dispose)
                copier = getattr(db.backend, "_copier", None)
                if copier is not None:
                    attempt(copier.dispose)
        attempt(self.server.cleanup)
        return errors


# --------------------------------------------------------------------------
# Running and reporting.
# --------------------------------------------------------------------------

def spread(rounds, count):
    """``count`` round numbers spread evenly over ``rounds``."""
    count = max(1, min(count, rounds))
    return {i * rounds // count for i in range(count)}


def run_rounds(strategies, rounds, medium, slow, label, after_warmup=None):
    """Interleave strategies in shuffled rounds; return {row key: [ms, ...]}."""
    samples = {}
    tiers = {"fast": set(range(rounds)), "medium": spread(rounds, medium),
             "slow": spread(rounds, slow)}
    rng = random.Random(len(strategies) * 1000 + rounds)  # same orders on reruns
    counter = 0
    started = time.perf_counter()
    # Round -1 is an untimed warm-up (imports, statement caches, copy scripts).
    for round_no in range(-1, rounds):
        gc.collect()
        order = list(strategies)
        rng.shuffle(order)
        for strategy in order:
            if round_no >= 0 and round_no not in tiers[strategy.tier]:
                continue
            counter += 1
            result = strategy.run(counter)
            if round_no >= 0:
                for key, values in result.items():
                    samples.setdefault(key, []).extend(values)
        if round_no == -1 and after_warmup is not None:
            after_warmup()
        if round_no >= 0 and (round_no + 1) % 50 == 0:
            print("#   %s: round %d/%d after %.0f s" % (label, round_no + 1, rounds,
                                                       time.perf_counter() - started),
                  file=sys.stderr, flush=True)
    return samples


def build_rows(backend, size, strategies, samples):
    """[(number, key, label, n, median, p90, migrate/this, this/floor, floor number, ref)]."""
    specs = [spec for strategy in strategies for spec in strategy.rows()]
    numbers = {key: i + 1 for i, (key, _, _) in enumerate(specs)}
    medians = {key: statistics.median(values) for key, values in samples.items()}
    references = REFERENCE_MS.get(backend, {}) if size == REFERENCE_SIZE else {}
    rows = []
    for key, label, floor in specs:
        values = samples[key]
        median = medians[key]
        vs_migrate = medians["migrate"] / median
        vs_floor = median / medians[floor] if floor else None
        rows.append((numbers[key], key, label, len(values), median, percentile(values, 0.9),
                     vs_migrate, vs_floor, numbers.get(floor), references.get(key, "-")))
    return rows, medians


def print_table(rows):
    header = ("#", "strategy", "n", "median ms", "p90 ms", "migrate/this",
              "this/floor", "issue ms")
    print("%3s  %-42s %5s %10s %10s %13s %14s %9s" % header)
    print("-" * 114)
    for number, _, label, n, median, p90, vs_migrate, vs_floor, floor_no, ref in rows:
        floor = "%.2fx of #%d" % (vs_floor, floor_no) if vs_floor is not None else "-"
        # Parts of a test (indented rows) are not tests: no ratio to one.
        migrate = "-" if label.startswith(" ") else "%.1fx" % vs_migrate
        print("%3d  %-42s %5d %10.3f %10.3f %13s %14s %9s"
              % (number, label, n, median, p90, migrate, floor, ref))


def print_findings(ctx, medians):
    """Print the comparisons the issue asks for, each with its target."""
    lines = []
    if "tmpl_WAL_LOG" in medians and "tmpl_FILE_COPY" in medians:
        wal, copy = medians["tmpl_WAL_LOG"], medians["tmpl_FILE_COPY"]
        wal_c, copy_c = medians["tmpl_WAL_LOG_create"], medians["tmpl_FILE_COPY_create"]
        faster = "WAL_LOG" if wal_c <= copy_c else "FILE_COPY"
        print("CREATE DATABASE strategy: WAL_LOG %.1f ms vs FILE_COPY %.1f ms (CREATE alone), "
              "%.1f vs %.1f ms with body and DROP: %s is faster on this server%s."
              % (wal_c, copy_c, wal, copy, faster,
                 " (dbtestkit uses the server default, WAL_LOG: right choice here)"
                 if faster == "WAL_LOG" else
                 " -- dbtestkit uses the server default WAL_LOG; FILE_COPY would be "
                 "%.1fx faster" % (wal_c / copy_c)))
    if isinstance(ctx.server, MysqlServer):
        print("Foreign keys: the migrated database has %d, a CREATE TABLE LIKE copy keeps %d, "
              "a dbtestkit clone keeps %d." % ctx.foreign_keys)
    print("Pool, wait inside clone(): pooled / synchronous (the issue's target: <= %.2fx)"
          % TARGET_POOL_RATIO)
    for suffix, text in (("", "short body"),
                         ("_long", "+%d ms body" % (LONG_BODY_SECONDS * 1000))):
        pooled, sync = medians["pool_wait" + suffix], medians["sync_wait" + suffix]
        whole_p, whole_s = medians["pool" + suffix], medians["sync" + suffix]
        ratio = pooled / sync
        lines.append(("pooled wait / synchronous wait, %s" % text, ratio,
                      ratio <= TARGET_POOL_RATIO))
        print("  %-12s wait %8.2f ms vs %8.2f ms = %5.2fx   whole test %8.2f ms vs %8.2f ms "
              "= %5.2fx" % (text, pooled, sync, ratio, whole_p, whole_s, whole_p / whole_s))
    stock = ctx.stock
    sizes = {size for _, size in stock}
    counts = {}
    for ready, _ in stock:
        counts[ready] = counts.get(ready, 0) + 1
    print("  clones ready in the pool (size %s) when a burst began, after it had gone idle: %s"
          % ("/".join(map(str, sorted(sizes))), ", ".join(
              "%d ready in %d of %d bursts" % (ready, count, len(stock))
              for ready, count in sorted(counts.items()))))
    print("Inside dbtestkit clones, median ms (n): synchronous (the no-pool rows) vs in the "
          "pool's worker threads")
    labels = (("make", "make a clone (backend.clone)"),
              ("CREATE DATABASE", "  of which CREATE DATABASE"),
              ("drop", "drop a clone (backend.drop_clone)"),
              ("DROP DATABASE", "  of which DROP DATABASE"))
    for key, label in labels:
        cells = []
        for where, times in ctx.clone_times.items():
            values = times[key]
            cells.append("%s %8.2f (%3d)" % (where, statistics.median(values), len(values))
                         if values else "%s %8s (%3d)" % (where, "-", 0))
        print("  %-34s %s" % (label, "   ".join(cells)))
    ratio = medians["dbtk_savepoint"] / medians["recipe"]
    lines.insert(0, ("dbtestkit savepoint / hand-written recipe", ratio,
                     ratio <= TARGET_SAVEPOINT_RATIO))
    print("Targets:")
    targets = {True: "met", False: "MISSED"}
    for (text, ratio, met), limit in zip(lines, (TARGET_SAVEPOINT_RATIO, TARGET_POOL_RATIO,
                                                 TARGET_POOL_RATIO)):
        print("  %-55s %6.2fx (<= %.2fx)  %s" % (text, ratio, limit, targets[met]))


def count_foreign_keys(ctx):
    """(migrated, LIKE copy, dbtestkit clone) foreign-key counts on MySQL/MariaDB."""
    server = ctx.server

    def count(schema):
        with server.admin.connect() as connection:
            return connection.exec_driver_sql(
                "SELECT count(*) FROM information_schema.REFERENTIAL_CONSTRAINTS "
                "WHERE constraint_schema = %s", (schema,)).scalar()

    like = MysqlLikeClone(ctx)
    like.setup()
    name = server.scratch_name("fkcheck")
    like.copy(name)
    try:
        like_count = count(name)
    finally:
        server.drop_scratch(name)
    clone = ctx.sync_db.clone()
    try:
        clone_count = count(clone.name)
    finally:
        clone.drop()
    return count(ctx.source_db), like_count, clone_count


def bench(server, size, args, tmp):
    """Measure one backend at one size; print its table."""
    ctx = Context(server, size[0], size[1], tmp)
    strategies = []
    opened = []
    try:
        ctx.prepare()
        if isinstance(server, MysqlServer):
            ctx.foreign_keys = count_foreign_keys(ctx)
        strategies = ctx.strategies()
        for strategy in strategies:
            strategy.setup()
            opened.append(strategy)
        medium = args.medium_rounds or DEFAULT_MEDIUM_ROUNDS[server.backend]
        started = time.perf_counter()
        samples = run_rounds(strategies, args.rounds, medium, args.slow_rounds,
                             "%s %s" % (server.backend, ctx.label),
                             after_warmup=ctx.forget_warmup)
        seconds = time.perf_counter() - started
        # Copied now: cleanup below runs DROP DATABASE on these engines too.
        ctx.clone_times = {where: timer.snapshot() for where, timer in ctx.timers.items()}
        for strategy in reversed(opened):
            strategy.close()
        opened = []
    finally:
        errors = []
        for strategy in reversed(opened):
            try:
                strategy.close()
            except Exception as error:
                errors.append("%s.close: %s" % (type(strategy).__name__, error))
        errors += ctx.close()
    rows, medians = build_rows(server.backend, ctx.label, strategies, samples)
    print()
    print("%s, %s (%d revisions / %d tables), body table %s; rounds: fast %d, clone rows %d "
          "(pooled: %d recorded tests of %d per round), migrate %d; %.0f s"
          % (server.backend, ctx.label, size[0], size[1], ctx.body.table, args.rounds, medium,
             POOL_RECORDED, POOL_WARMUP + POOL_RECORDED, args.slow_rounds, seconds))
    print(server.describe())
    print()
    print_table(rows)
    print()
    print_findings(ctx, medians)
    if errors:
        print("Errors while cleaning up: %s" % "; ".join(errors))
    return not errors


# --------------------------------------------------------------------------
# Command line.
# --------------------------------------------------------------------------

def parse_sizes(text):
    sizes = []
    for item in text.split(","):
        revisions, tables = item.lower().split("x")
        sizes.append((int(revisions), int(tables)))
    return sizes


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="postgresql,mysql",
                        help="comma-separated: postgresql, mysql (default both)")
    parser.add_argument("--sizes", default=DEFAULT_SIZES,
                        help="REVISIONSxTABLES list (default %s)" % DEFAULT_SIZES)
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds of the fast rows (default %d)" % DEFAULT_ROUNDS)
    parser.add_argument("--medium-rounds", type=int, default=None,
                        help="rounds of the clone, template and TRUNCATE rows "
                        "(default %s)" % DEFAULT_MEDIUM_ROUNDS)
    parser.add_argument("--slow-rounds", type=int, default=None,
                        help="rounds of migrate per test (default %d)" % DEFAULT_SLOW_ROUNDS)
    parser.add_argument("--postgresql-url", default=DEFAULT_URLS["postgresql"])
    parser.add_argument("--mysql-url", default=DEFAULT_URLS["mysql"])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: few rounds; checks that everything runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds = args.rounds or 20
        args.medium_rounds = args.medium_rounds or 3
        args.slow_rounds = args.slow_rounds or 2
    args.rounds = args.rounds or DEFAULT_ROUNDS
    args.slow_rounds = args.slow_rounds or DEFAULT_SLOW_ROUNDS
    args.sizes = parse_sizes(args.sizes)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - {"postgresql", "mysql"}
    if unknown:
        parser.error("unknown backend(s): %s" % ", ".join(sorted(unknown)))
    return args


def make_server(backend, args):
    if backend == "postgresql":
        return PostgresServer(args.postgresql_url)
    return MysqlServer(args.mysql_url)


def source_state():
    """`` at <commit>`` of the working tree, noting uncommitted changes in dbtestkit/."""
    import subprocess

    try:
        commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "dbtestkit"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return " at %s%s" % (commit, " + uncommitted changes in dbtestkit/" if dirty else "")


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    print("Per-test cost of isolation on database servers, same body (SELECT, INSERT, "
          "commit); Python %s, SQLAlchemy %s, dbtestkit from %s%s, %d CPUs"
          % (sys.version.split()[0], sa.__version__, REPO, source_state(),
             os.cpu_count() or 0))
    ok = True
    with tempfile.TemporaryDirectory(prefix="dbtestkit-servers-") as root:
        for backend in args.backends:
            server = make_server(backend, args)
            try:
                server.scalar("SELECT 1")
            except sa.exc.DBAPIError as error:
                print("\n%s: skipped, server not reachable (%s)"
                      % (backend, str(error.orig).strip().splitlines()[0]))
                ok = False
                continue
            before = server.mine()
            swept = server.sweep_stale()
            if swept:
                print("# dropped scratch databases of dead benchmark runs: %s"
                      % ", ".join(swept), file=sys.stderr)
            try:
                for size in args.sizes:
                    tmp = os.path.join(root, "%s-%dx%d" % (backend, size[0], size[1]))
                    ok = bench(server, size, args, tmp) and ok
            finally:
                server.cleanup()
                left = (server.mine() - before) | {
                    name for name in server.goldens if name in server.names(name)}
                server.dispose()
            print("Databases of this process left on the %s server: %s"
                  % (backend, ", ".join(sorted(left)) if left else "none"))
            if left:
                ok = False
    print()
    print("Total benchmark time: %.0f s" % (time.perf_counter() - started), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
