"""Per-test cost of async savepoint isolation: AsyncDatabaseTestCase against the hand-written recipe.

Usage::

    python benchmarks/async_isolation.py [--backends sqlite,postgresql] [--rounds N] [--tests N]
                                         [--postgresql-url URL]

Rows, each a real unittest class whose tests run the same body (a SELECT,
an INSERT, a commit through the session):

* ``async recipe (hand-written)``: IsolatedAsyncioTestCase; per test
  ``engine.connect()`` + ``begin()`` + ``begin_nested()`` + ``AsyncSession(bind=conn,
  join_transaction_mode="create_savepoint")``, rolled back and closed after it
  (NullPool engine on a clone, made once per class: every test has its own loop).
* ``dbtestkit AsyncDatabaseTestCase``.
* ``dbtestkit DatabaseTestCase (sync)``: the sync class, for scale.
* ``IsolatedAsyncioTestCase, no database``: the floor every async row pays
  (a new event loop per test, in debug mode, as unittest runs them).

A test's time runs from ``startTest`` to ``stopTest`` (its event loop, set-up,
body, tear-down and cleanups; not the class set-up). Classes are interleaved
in rounds, in a new random order each round, and the table shows medians.
Target: AsyncDatabaseTestCase within 1.5x of the recipe.
"""

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import unittest

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

# The benchmark measures the working tree, not an installed copy.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import dbtestkit  # noqa: E402

TARGET_RATIO = 1.5
RECIPE = "async recipe (hand-written)"
ASYNC_CASE = "dbtestkit AsyncDatabaseTestCase"
SYNC_CASE = "dbtestkit DatabaseTestCase (sync)"
FLOOR = "IsolatedAsyncioTestCase, no database"
URLS = {"sqlite": "sqlite+aiosqlite://", "postgresql": "postgresql+asyncpg://postgres@127.0.0.1/postgres"}

metadata = sa.MetaData()
item = sa.Table("item", metadata, sa.Column("id", sa.Integer, primary_key=True),
                sa.Column("name", sa.String(50)))
SELECT = sa.select(sa.func.count()).select_from(item)
INSERT = sa.insert(item).values(name="bench")


async def async_body(test):
    """The body of every async test: SELECT, INSERT, commit, as application code would."""
    await test.session.execute(SELECT)
    await test.session.execute(INSERT)
    await test.session.commit()


def sync_body(test):
    """The body of every sync test."""
    test.session.execute(SELECT)
    test.session.execute(INSERT)
    test.session.commit()


async def no_body(test):
    """Nothing: what an async test costs without a database."""


def aiosqlite_savepoint_fix(engine):
    """SQLAlchemy's documented fix that makes SAVEPOINT work on aiosqlite (the recipe needs it too)."""
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN")


def recipe_class(database, backend):
    """The hand-written async savepoint recipe as an IsolatedAsyncioTestCase."""

    class Recipe(unittest.IsolatedAsyncioTestCase):
        @classmethod
        def setUpClass(cls):
            cls.clone = database.clone()
            url = database.backend.async_url(cls.clone.url)
            cls.engine = create_async_engine(url, poolclass=NullPool)
            if backend == "sqlite":
                aiosqlite_savepoint_fix(cls.engine)

        @classmethod
        def tearDownClass(cls):
            cls.clone.drop()

        async def asyncSetUp(self):
            self.connection = await self.engine.connect()
            self.transaction = await self.connection.begin()
            await self.connection.begin_nested()
            self.session = AsyncSession(bind=self.connection, join_transaction_mode="create_savepoint")

        async def asyncTearDown(self):
            await self.session.close()
            await self.transaction.rollback()
            await self.connection.close()

    return Recipe


def with_tests(base, count, body, **attributes):
    """Return a subclass of ``base`` with ``count`` test methods running ``body``."""
    if body is not sync_body:
        async def test(self):
            await body(self)
    else:
        def test(self):
            body(self)
    methods = {f"test_{n:03}": test for n in range(count)}
    return type(base.__name__, (base,), {**attributes, **methods})


class Timing(unittest.TestResult):
    """Records each test's time from startTest to stopTest; fails loudly on any error."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def startTest(self, test):
        super().startTest(test)
        self._started = time.perf_counter()

    def stopTest(self, test):
        self.seconds.append(time.perf_counter() - self._started)
        super().stopTest(test)


def run_class(case):
    """Run every test of ``case``; return their times in seconds."""
    result = Timing()
    unittest.TestLoader().loadTestsFromTestCase(case).run(result)
    problems = result.errors + result.failures
    if problems:
        raise SystemExit(f"{case.__name__} failed:\n{problems[0][1]}")
    return result.seconds


def measure(backend, url, rounds, tests, cache_dir):
    """Return ``{row: [per-test seconds]}`` for one backend."""
    database = dbtestkit.TestDatabase(url, metadata=metadata, cache_dir=cache_dir,
                                      name=f"bench-async-{os.getpid()}")
    try:
        database.ensure_golden()
        classes = {
            RECIPE: with_tests(recipe_class(database, backend), tests, async_body),
            ASYNC_CASE: with_tests(dbtestkit.AsyncDatabaseTestCase, tests, async_body, database=database),
            SYNC_CASE: with_tests(dbtestkit.DatabaseTestCase, tests, sync_body, database=database),
            FLOOR: with_tests(unittest.IsolatedAsyncioTestCase, tests, no_body),
        }
        samples = {row: [] for row in classes}
        for _ in range(rounds):
            order = list(classes)
            random.shuffle(order)
            for row in order:
                samples[row] += run_class(classes[row])
        return samples
    finally:
        database.close()
        for golden in list(database.backend.list_goldens()):
            if golden.label == database.name:
                database.backend.delete_golden(golden.location)
        database.backend.dispose()


def print_table(results):
    """Print one row per backend and class: median and p90 per test, ratio to the recipe."""
    print(f"{'backend':<11} {'row':<36} {'median ms':>9} {'p90 ms':>8} {'x recipe':>9}")
    verdicts = []
    for backend, samples in results.items():
        recipe = statistics.median(samples[RECIPE])
        for row, seconds in samples.items():
            median = statistics.median(seconds)
            p90 = sorted(seconds)[int(len(seconds) * 0.9)]
            print(f"{backend:<11} {row:<36} {median * 1000:>9.3f} {p90 * 1000:>8.3f} {median / recipe:>9.2f}")
        ratio = statistics.median(samples[ASYNC_CASE]) / recipe
        verdicts.append(f"{backend}: AsyncDatabaseTestCase {ratio:.2f}x the recipe "
                        f"({'within' if ratio <= TARGET_RATIO else 'OVER'} the {TARGET_RATIO}x target)")
    print("\n".join(verdicts))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--tests", type=int, default=20, help="tests per class and round")
    parser.add_argument("--postgresql-url", default=URLS["postgresql"],
                        help="an async URL of a server where this user may create databases")
    options = parser.parse_args(argv)
    urls = dict(URLS, postgresql=options.postgresql_url)
    cache_dir = tempfile.mkdtemp(prefix="dbtestkit-bench-async-")
    try:
        results = {backend: measure(backend, urls[backend], options.rounds, options.tests, cache_dir)
                   for backend in options.backends.split(",")}
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    print(f"{options.rounds} rounds x {options.tests} tests per row, Python "
          f"{sys.version.split()[0]}, SQLAlchemy {sa.__version__}")
    print_table(results)


if __name__ == "__main__":
    main()
