"""Class data in clone-per-test classes: a class snapshot against loading the rows in every setUp.

Usage::

    python benchmarks/snapshots.py [--backends sqlite,postgresql] [--rounds N]
                                   [--tests 20] [--rows 1000] [--postgresql-url URL]

One ``GoldenFileTestCase`` class of ``--tests`` tests whose class data is
``--rows`` rows, run whole (setUpClass to tearDownClass) by unittest, two ways:

* ``snapshot``: ``setUpTestData`` loads the rows once into a class snapshot;
  each test gets a copy of it.
* ``setUp``: no class data; each test's ``setUp`` loads the rows into its own
  clone of the golden (what a clone-per-test class had to do before).

Every test runs the same body (count the rows, insert one, commit). The two
ways alternate in shuffled order within each round; the script prints the
median class time and per-test cost of each, and the ratio. Everything it
creates is dropped at the end.
"""
import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import unittest

import sqlalchemy as sa

HERE = os.path.dirname(os.path.abspath(__file__))
# The benchmark measures the working tree, not an installed copy.
sys.path.insert(0, os.path.dirname(HERE))

import dbtestkit  # noqa: E402
from dbtestkit.backends.clone import live_clones  # noqa: E402

DEFAULT_URLS = {
    "sqlite": "sqlite://",
    "postgresql": os.environ.get("DBTESTKIT_TEST_POSTGRESQL_URL")
    or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
}
METADATA = sa.MetaData()
ITEM = sa.Table(
    "item", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("price", sa.Numeric(10, 2), nullable=False),
)


def class_rows(count):
    """Return ``count`` rows of class data."""
    return [{"name": f"item {n}", "price": n % 97 + 0.5} for n in range(count)]


def body(test):
    """What every test does: read the class data, write a row, commit."""
    count = test.session.execute(sa.select(sa.func.count()).select_from(ITEM)).scalar()
    test.assertEqual(count, test.rows_expected)
    test.session.execute(ITEM.insert().values(name="mine", price=1))
    test.session.commit()


def make_classes(database, tests, rows):
    """Return the two test classes: class snapshot, and rows loaded in setUp."""
    data = class_rows(rows)

    class WithSnapshot(dbtestkit.GoldenFileTestCase):
        rows_expected = rows

        @classmethod
        def setUpTestData(cls, connection):
            connection.execute(ITEM.insert(), data)

    class LoadInSetUp(dbtestkit.GoldenFileTestCase):
        rows_expected = rows

        def setUp(self):
            super().setUp()
            with self.engine.begin() as connection:
                connection.execute(ITEM.insert(), data)

    for case in (WithSnapshot, LoadInSetUp):
        case.database = database
        for n in range(tests):
            setattr(case, f"test_{n:02d}", body)
    return {"snapshot": WithSnapshot, "setUp": LoadInSetUp}


def run_class(case):
    """Run one class whole; return its wall time in seconds."""
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(case)
    result = unittest.TestResult()
    started = time.perf_counter()
    suite.run(result)
    elapsed = time.perf_counter() - started
    if not result.wasSuccessful():
        raise SystemExit(f"{case.__name__} failed: {(result.failures + result.errors)[0][1]}")
    return elapsed


def measure(backend, url, rounds, tests, rows, cache_dir):
    """Return {way: [class seconds, ...]} for ``backend``, interleaved and shuffled per round."""
    database = dbtestkit.TestDatabase(url, metadata=METADATA, cache_dir=cache_dir,
                                      name=f"bench-snapshots-{os.getpid()}")
    database.ensure_golden()
    classes = make_classes(database, tests, rows)
    times = {way: [] for way in classes}
    try:
        for way in classes:  # warm-up: pools, caches, imports
            run_class(classes[way])
        for _ in range(rounds):
            order = list(classes)
            random.shuffle(order)
            for way in order:
                times[way].append(run_class(classes[way]))
    finally:
        database.close()
        database.backend.discard_golden(database.fingerprint())
        database.backend.dispose()
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--tests", type=int, default=20)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--postgresql-url", default=DEFAULT_URLS["postgresql"])
    args = parser.parse_args()
    urls = dict(DEFAULT_URLS, postgresql=args.postgresql_url)
    print(f"{args.tests} clone-per-test tests, {args.rows} rows of class data, "
          f"{args.rounds} interleaved rounds; medians")
    print(f"{'backend':<12}{'way':<10}{'class':>10}{'per test':>11}")
    with tempfile.TemporaryDirectory(prefix="dbtestkit-bench-snapshots-") as cache_dir:
        for backend in args.backends.split(","):
            times = measure(backend, urls[backend], args.rounds, args.tests, args.rows, cache_dir)
            medians = {way: statistics.median(values) for way, values in times.items()}
            for way, seconds in medians.items():
                print(f"{backend:<12}{way:<10}{seconds * 1000:>8.0f} ms{seconds * 1000 / args.tests:>8.1f} ms")
            print(f"{backend:<12}setUp / snapshot: {medians['setUp'] / medians['snapshot']:.1f}x")
    left = live_clones()
    if left:
        raise SystemExit(f"clones left behind: {left}")


if __name__ == "__main__":
    main()
