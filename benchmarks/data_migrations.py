"""Where a data-migration test should start: walking up from an empty database, or down from head.

Usage::

    python benchmarks/data_migrations.py [--backends sqlite,postgresql,mysql] [--revisions 40]
                                         [--tables 60] [--rounds N] [--postgresql-url URL] [--mysql-url URL]

For targets spread over a generated history, the time from nothing to a
database at the target: a clone of the empty golden walked up to it, against
a clone of the golden at head walked down to it (clone, walk and drop
included). Interleaved, shuffled rounds; medians. ``MigrationTestCase``'s
``migrate_up_to`` picks the cheaper start, counting a downgrade as the
backend's ``downgrade_step_cost`` upgrades; this measures whether that holds.
"""
import argparse
import os
import random
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
# The benchmark measures the working tree, not an installed copy.
sys.path.insert(0, os.path.dirname(HERE))

import projectgen  # noqa: E402
from isolation import quietly  # noqa: E402

import dbtestkit  # noqa: E402
from dbtestkit.backends.clone import live_clones  # noqa: E402
from dbtestkit.migration_checks import MigrationRunner  # noqa: E402
from dbtestkit.migration_checks.stepper import Stepper  # noqa: E402

DEFAULT_URLS = {
    "sqlite": "sqlite://",
    "postgresql": os.environ.get("DBTESTKIT_TEST_POSTGRESQL_URL")
    or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    "mysql": os.environ.get("DBTESTKIT_TEST_MYSQL_URL") or "mysql+pymysql://root@127.0.0.1:3306/",
}


def reach(runner, target, start):
    """Return the seconds from nothing to a database at ``target`` from ``start``, dropped after."""
    began = time.perf_counter()
    stepper = Stepper(runner, start=start)
    try:
        stepper.up_to(target)
    finally:
        stepper.close()
    return time.perf_counter() - began


def measure(url, project, targets, rounds, cache_dir):
    """Return ({(target, start): [seconds, ...]}, the backend's downgrade_step_cost)."""
    database = dbtestkit.TestDatabase(url, alembic_ini=project.alembic_ini, cache_dir=cache_dir,
                                      name=f"bench-data-migrations-{os.getpid()}")
    runner = MigrationRunner(database)
    quietly(runner.golden)
    quietly(runner.empty_golden().ensure)
    cells = [(target, start) for target in targets for start in ("empty", "head")]
    times = {cell: [] for cell in cells}
    try:
        for cell in cells:  # warm-up: the history loaded, pools filled
            reach(runner, *cell)
        for _ in range(rounds):
            random.shuffle(cells)
            for cell in cells:
                times[cell].append(reach(runner, *cell))
    finally:
        database.close()
        runner.empty_golden().close()
        database.backend.discard_golden(database.fingerprint())
        database.backend.dispose()
    return times, database.backend.downgrade_step_cost


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--revisions", type=int, default=40)
    parser.add_argument("--tables", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgresql-url", default=DEFAULT_URLS["postgresql"])
    parser.add_argument("--mysql-url", default=DEFAULT_URLS["mysql"])
    args = parser.parse_args()
    urls = dict(DEFAULT_URLS, postgresql=args.postgresql_url, mysql=args.mysql_url)
    with tempfile.TemporaryDirectory(prefix="dbtestkit-bench-data-migrations-") as folder:
        project = projectgen.generate_project(os.path.join(folder, "project"), args.revisions, args.tables)
        ids = project.revision_ids
        targets = sorted({ids[max(0, round(len(ids) * share) - 1)] for share in (0.25, 0.5, 0.75, 0.9)})
        print(f"{args.revisions} revisions, {args.tables} tables, {args.rounds} interleaved rounds; "
              "medians. Chosen: the fewer steps, a downgrade counted as downgrade_step_cost upgrades")
        print(f"{'backend':<12}{'target':<8}{'up steps':>9}{'from empty':>12}{'down steps':>11}"
              f"{'from head':>11}  chosen")
        for backend in args.backends.split(","):
            times, cost = measure(urls[backend], project, targets, args.rounds,
                                  os.path.join(folder, "cache"))
            for target in targets:
                up, down = ids.index(target) + 1, len(ids) - ids.index(target) - 1
                empty = statistics.median(times[(target, "empty")]) * 1000
                head = statistics.median(times[(target, "head")]) * 1000
                chosen = "head" if down * cost < up else "empty"
                faster = "head" if head < empty else "empty"
                print(f"{backend:<12}{target:<8}{up:>9}{empty:>9.0f} ms{down:>11}{head:>8.0f} ms  "
                      f"{chosen}{'' if chosen == faster else ' (measured faster: ' + faster + ')'}")
    left = live_clones()
    if left:
        raise SystemExit(f"clones left behind: {left}")


if __name__ == "__main__":
    main()
