"""SQLite clones against their floors, per test: interleaved rounds, medians.

Usage::

    python benchmarks/perf_floors.py [--sizes 40x60,150x300] [--rounds 300]

Rows (each: make the copy, an engine, a first query, then throw it away):

- ``floor deserialize``: ``Connection.deserialize`` of the golden's bytes
  (read once) into ``:memory:`` + ``create_engine`` on it + first query.
- ``dbtestkit engine only``: ``clone()``, a query through ``clone.engine``,
  ``drop()`` (a test that never reads ``self.url``).
- ``floor backup memdb``: the backup API into a shared ``memdb`` database +
  ``create_engine`` on its URL + first query.
- ``dbtestkit url``: ``clone()``, ``create_engine(clone.url)``, a query,
  ``drop()`` (a test that reads ``self.url`` first).
- ``dbtestkit url after write``: a write through ``clone.engine``, then the
  URL, a query through it (the private copy is moved to a shared one).
"""
import argparse
import itertools
import os
import sqlite3
import statistics
import sys
import tempfile
import time

import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))  # the working tree, not an installed copy

import projectgen  # noqa: E402

import dbtestkit  # noqa: E402

_names = itertools.count()


def rows(database, table):
    """Return the timed bodies of one size: name -> function."""
    golden = database.ensure_golden()
    path = sa.engine.make_url(golden.url).database
    with open(path, "rb") as stream:
        data = stream.read()
    query = sa.text(f"SELECT count(*) FROM {table}")
    insert = sa.text("CREATE TABLE perf_scratch (id INTEGER)")

    def floor_deserialize():
        connection = sqlite3.connect(":memory:", check_same_thread=False)
        connection.deserialize(data)
        engine = sa.create_engine("sqlite://", creator=lambda: connection, poolclass=StaticPool)
        with engine.connect() as c:
            c.execute(query)
        engine.dispose()
        connection.close()

    def floor_backup():
        uri = f"file:/perf-floor-{os.getpid()}-{next(_names)}?vfs=memdb"
        keeper = sqlite3.connect(uri, uri=True, check_same_thread=False)
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        source.backup(keeper)
        source.close()
        engine = sa.create_engine(f"sqlite:///{uri}&uri=true")
        with engine.connect() as c:
            c.execute(query)
        engine.dispose()
        keeper.close()

    def engine_only():
        clone = database.clone()
        with clone.engine.connect() as c:
            c.execute(query)
        clone.drop()

    def url(write_first=False):
        clone = database.clone()
        if write_first:
            with clone.engine.begin() as c:
                c.execute(insert)
        engine = sa.create_engine(clone.url)
        with engine.connect() as c:
            c.execute(query)
        engine.dispose()
        clone.drop()

    return {
        "floor deserialize": floor_deserialize,
        "dbtestkit engine only": engine_only,
        "floor backup memdb": floor_backup,
        "dbtestkit url": url,
        "dbtestkit url after write": lambda: url(write_first=True),
    }


def measure(bodies, rounds):
    """Run every body once per round, in an order rotated each round; return name -> median seconds."""
    names = list(bodies)
    times = {name: [] for name in names}
    for body in bodies.values():
        body()  # warm up
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            bodies[name]()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="40x60,150x300")
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="perf-floors-")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for size in args.sizes.split(","):
        revisions, tables = (int(x) for x in size.split("x"))
        project = projectgen.generate_project(os.path.join(work, size), revisions, tables)
        database = dbtestkit.TestDatabase(alembic_ini=project.alembic_ini,
                                          cache_dir=os.path.join(work, "cache"))
        medians = measure(rows(database, project.body_table), args.rounds)
        print(f"\n{size} (revisions x tables), median of {args.rounds} interleaved rounds:")
        for name, seconds in medians.items():
            floor = medians["floor deserialize" if "only" in name else "floor backup memdb"]
            ratio = "" if name.startswith("floor") else f"  {seconds / floor:.2f}x its floor"
            print(f"  {name:26} {seconds * 1000:7.3f} ms{ratio}")
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
