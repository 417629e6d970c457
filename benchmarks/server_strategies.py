"""The rows of family "servers": per-test isolation on PostgreSQL and MySQL/MariaDB.

Each strategy runs the same body (projectgen.Body) on ``ctx``, a
``servers.ServerGroup``. See README.rst, "The rows: servers".
"""
import threading
import time

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

import body
from harness import Row, Strategy, ms_since, now

MIGRATE = "migrate"
SAVEPOINT_TARGET = 1.25
# The simulated longer test body of the second set of clone rows.
LONG_BODY_SECONDS = 0.05


class ServerStrategy(Strategy):
    """A server row: compared with "migrate per test"; ``tier`` picks its rounds in the group."""

    baseline = MIGRATE
    tier = "fast"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.rounds = ctx.rounds[self.tier]

    def on_new_engine(self, url, body=None):
        """Run the body on a new engine for ``url``, then dispose of it."""
        engine = sa.create_engine(url)
        (body or self.ctx.body).on_engine(engine)
        engine.dispose()


class MigratePerTest(ServerStrategy):
    """CREATE DATABASE (empty), alembic upgrade head, the body, DROP DATABASE."""

    key, label, baseline, tier = MIGRATE, "migrate per test", None, "slow"

    def test(self, n):
        server = self.ctx.server
        name = server.scratch_name("mig")
        self.ctx.migrate_into_new(name)
        self.on_new_engine(server.url_of(name))
        server.drop(name)


class PgTemplateClone(ServerStrategy):
    """pytest-postgresql style: CREATE DATABASE … TEMPLATE [STRATEGY], the body, DROP DATABASE."""

    tier = "medium"

    def __init__(self, ctx, strategy):
        super().__init__(ctx)
        self.strategy = strategy
        self.key = "tmpl_%s" % strategy
        self.label = "CREATE DATABASE TEMPLATE %s + DROP" % (strategy or "")

    def rows(self):
        return super().rows() + [Row(self.key + "_create", "of which CREATE DATABASE", part=True)]

    def test(self, n):
        server = self.ctx.server
        name = server.scratch_name("tmpl")
        start = now()
        server.create(name, template=self.ctx.template, strategy=self.strategy)
        self.parts[self.key + "_create"] = ms_since(start)
        self.on_new_engine(server.url_of(name))
        server.drop(name)


class PgTruncateReseed(ServerStrategy):
    """One migrated database; per test the body, then TRUNCATE everything and re-seed."""

    key, label, tier = "truncate", "TRUNCATE all + re-seed", "medium"

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
            self.ctx.server.quote(t.name) for t in self.tables)

    def test(self, n):
        self.ctx.body.on_engine(self.engine)
        with self.engine.begin() as connection:
            connection.exec_driver_sql(self.truncate)
            for table, rows in self.seed:
                connection.execute(table.insert(), rows)

    def close(self):
        with self.engine.connect() as connection:
            for table, rows in self.seed:
                count = connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                if count != len(rows):
                    raise AssertionError("re-seed lost rows of %s" % table.name)
        self.engine.dispose()


class Burst:
    """Mixin: each round runs ``BURST`` back-to-back tests, one sample each.

    A sub-millisecond test timed once per round lands wherever the previous
    row's background work (a pool copying or dropping a clone) happens to
    be; a burst puts most samples after it, for every savepoint row alike.
    """

    BURST = 10

    def run(self, n):
        samples = []
        for _ in range(self.BURST):
            start = now()
            self.test(n)
            samples.append(ms_since(start))
        return {self.key: samples}


class SavepointRecipe(Burst, ServerStrategy):
    """One connection and outer transaction; per test a SAVEPOINT and a joined Session."""

    key, label = "recipe", "savepoint recipe (hand-written)"

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
        self.ctx.body.check(self.connection, self.label)
        self.outer.rollback()
        self.connection.close()
        self.engine.dispose()


class BareSavepoint(SavepointRecipe):
    """SAVEPOINT + ROLLBACK TO on a held connection, no Session and no body."""

    key, label = "bare", "bare SAVEPOINT + ROLLBACK TO"

    def test(self, n):
        self.connection.exec_driver_sql("SAVEPOINT bench_bare")
        self.connection.exec_driver_sql("ROLLBACK TO SAVEPOINT bench_bare")


class MysqlLikeClone(ServerStrategy):
    """CREATE DATABASE, CREATE TABLE … LIKE + INSERT … SELECT per table, body, DROP."""

    key, label, tier = "like", "CREATE TABLE LIKE + INSERT SELECT", "medium"

    def rows(self):
        return super().rows() + [Row("like_copy", "of which CREATE DATABASE + copy", part=True)]

    def setup(self):
        server = self.ctx.server
        with server.admin.connect() as connection:
            tables = connection.exec_driver_sql(
                "SELECT table_name FROM information_schema.TABLES WHERE table_schema = %s "
                "AND table_type = 'BASE TABLE' ORDER BY table_name",
                (self.ctx.source_db,)).scalars().all()
        source, quote = server.quote(self.ctx.source_db), server.quote
        self.statements = []
        for table in tables:
            self.statements += ["CREATE TABLE {db}.%s LIKE %s.%s" % (quote(table), source, quote(table)),
                                "INSERT INTO {db}.%s SELECT * FROM %s.%s" % (quote(table), source,
                                                                             quote(table))]

    def copy(self, name):
        server = self.ctx.server
        server.create(name)
        with server.admin.connect() as connection:
            for statement in self.statements:
                connection.exec_driver_sql(statement.format(db=server.quote(name)))

    def test(self, n):
        server = self.ctx.server
        name = server.scratch_name("like")
        start = now()
        self.copy(name)
        self.parts["like_copy"] = ms_since(start)
        self.on_new_engine(server.url_of(name))
        server.drop(name)


class DbtestkitSavepoint(Burst, body.DbtestkitSavepoint):
    """DatabaseTestCase's isolation on a server clone."""

    label, baseline, max_floor = "dbtestkit savepoint", MIGRATE, SAVEPOINT_TARGET


class DbtestkitClone(ServerStrategy):
    """``db.clone()`` from a TestDatabase that makes clones when asked (no pool), body, ``drop()``."""

    tier = "medium"
    prefix, label_text = "sync", "dbtestkit clone, no pool"

    def __init__(self, ctx, sleep):
        super().__init__(ctx)
        self.body = ctx.body.with_sleep(sleep)
        suffix = "_long" if sleep else ""
        self.key, self.wait_key = self.prefix + suffix, self.prefix + "_wait" + suffix
        self.label = self.label_text + (", +%d ms body" % (sleep * 1000) if sleep else "")
        self.floors = (None if sleep else ctx.clone_floor, ctx.clone_wait_floor)

    @property
    def database(self):
        return self.ctx.sync_db

    def rows(self):
        return [Row(self.key, self.label, self.floors[0], MIGRATE),
                Row(self.wait_key, "wait in clone()", self.floors[1], part=True)]

    def one(self):
        """One test: (whole ms, ms waited in clone())."""
        start = now()
        clone = self.database.clone()
        waited = ms_since(start)
        try:
            self.body.on_engine(clone.engine)
        finally:
            dropping = now()
            clone.drop()
            self.ctx.drops[self.prefix].append(ms_since(dropping))
        return ms_since(start), waited

    def run(self, n):
        whole, waited = self.one()
        return {self.key: [whole], self.wait_key: [waited]}


class DbtestkitPooledClone(DbtestkitClone):
    """``db.clone()`` from a pooled TestDatabase, in bursts of back-to-back tests."""

    prefix, label_text = "pool", "dbtestkit clone, pool"

    def __init__(self, ctx, sleep):
        super().__init__(ctx, sleep)
        # Compared with the synchronous clone running the same body.
        suffix = "_long" if sleep else ""
        self.floors = ("sync" + suffix, "sync_wait" + suffix)

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
        warmup, recorded = self.ctx.pool_burst
        for i in range(warmup + recorded):
            whole, waited = self.one()
            if i >= warmup:
                samples[self.key].append(whole)
                samples[self.wait_key].append(waited)
        # Untimed: let the pool finish its background CREATE/DROP work so it
        # does not run during (and get charged to) the next strategy.
        self.ctx.settle_pool()
        return samples


class StatementTimer:
    """Times the CREATE/DROP DATABASE of this group's clones, in this thread or in pool workers.

    Listens on every SQLAlchemy Engine (public events) for statements naming
    ``mark`` (the golden's fingerprint prefix, which its clones' names carry):
    dbtestkit's synchronous clones run in the main thread, the pool's in its
    worker threads.
    """

    STATEMENTS = ("CREATE DATABASE", "DROP DATABASE")

    def __init__(self, mark):
        self.mark = mark
        self.key = "bench_started_%d" % id(self)  # one per timer: several listen at once
        self.times = {}
        event.listen(sa.engine.Engine, "before_cursor_execute", self.before)
        event.listen(sa.engine.Engine, "after_cursor_execute", self.after)

    def before(self, connection, cursor, statement, *args):
        connection.info[self.key] = now()

    def after(self, connection, cursor, statement, *args):
        started = connection.info.pop(self.key, None)
        if started is None or self.mark not in statement:
            return
        for prefix in self.STATEMENTS:
            if statement.startswith(prefix):
                where = ("synchronous" if threading.current_thread() is threading.main_thread()
                         else "pool workers")
                self.times.setdefault((where, prefix), []).append(ms_since(started))

    def reset(self):
        self.times.clear()

    def close(self):
        event.remove(sa.engine.Engine, "before_cursor_execute", self.before)
        event.remove(sa.engine.Engine, "after_cursor_execute", self.after)


def strategies(ctx):
    """The rows of ``ctx``'s backend, in table order."""
    if ctx.server.backend == "postgresql":
        rows = [MigratePerTest(ctx)] + [PgTemplateClone(ctx, s) for s in ctx.create_strategies]
        rows += [PgTruncateReseed(ctx), SavepointRecipe(ctx), BareSavepoint(ctx)]
    else:
        rows = [MigratePerTest(ctx), MysqlLikeClone(ctx), SavepointRecipe(ctx), BareSavepoint(ctx)]
    return rows + [DbtestkitSavepoint(ctx), DbtestkitClone(ctx, 0.0),
                   DbtestkitClone(ctx, LONG_BODY_SECONDS), DbtestkitPooledClone(ctx, 0.0),
                   DbtestkitPooledClone(ctx, LONG_BODY_SECONDS)]


def wait_until(check, timeout, describe):
    """Poll ``check()`` until it is true twice in a row; raise RuntimeError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 2:
        # Twice in a row: a worker may have taken an item off the queue and
        # not yet counted it as making.
        quiet = quiet + 1 if check() else 0
        if time.monotonic() > deadline:
            raise RuntimeError("the clone pool did not settle within %ds: %s" % (timeout, describe()))
        time.sleep(0.005)

