"""Run every benchmark family in one interleaved run and print one table of ratios.

usage: python benchmarks/run.py [--quick] [--only FAMILY[,FAMILY]] [--backends sqlite,postgresql,mysql]
       python benchmarks/run.py --findings

Families: isolation (SQLite), servers (PostgreSQL, MySQL/MariaDB), migrations
(MigrationTestCase against pytest-alembic). A family or backend that cannot
run here (no server, no pytest-alembic) is named as skipped. See README.rst.
"""
import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
# The benchmark measures the working tree, not an installed copy.
sys.path.insert(0, REPO)

import sqlalchemy as sa  # noqa: E402

import harness  # noqa: E402
import isolation  # noqa: E402
import migrations  # noqa: E402
import servers  # noqa: E402

FAMILIES = [isolation, servers, migrations]
BACKENDS = ("sqlite", "postgresql", "mysql")
ROUNDS = {"full": 500, "quick": 20}
STARTED = time.perf_counter()


def parse_args(argv):
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run (under a minute): checks that every row runs, not how fast")
    parser.add_argument("--only", default=",".join(f.NAME for f in FAMILIES),
                        help="comma-separated families (default all)")
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help="comma-separated backends (default %s)" % ",".join(BACKENDS))
    parser.add_argument("--postgresql-url", default=os.environ.get(
        "DBTESTKIT_TEST_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--mysql-url", default=os.environ.get(
        "DBTESTKIT_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/"))
    parser.add_argument("--findings", action="store_true",
                        help="only what MigrationTestCase and pytest-alembic report on tests/histories")
    args = parser.parse_args(argv)
    names = {f.NAME for f in FAMILIES}
    args.only = [n.strip() for n in args.only.split(",") if n.strip()]
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    for given, known, what in ((args.only, names, "family"), (args.backends, BACKENDS, "backend")):
        unknown = sorted(set(given) - set(known))
        if unknown:
            parser.error("unknown %s %s; choose from %s" % (what, ", ".join(unknown),
                                                            ", ".join(sorted(known))))
    args.urls = {"sqlite": "sqlite://", "postgresql": args.postgresql_url, "mysql": args.mysql_url}
    args.rounds = ROUNDS["quick" if args.quick else "full"]
    return args


def source_state():
    """``<commit>`` of the working tree, noting uncommitted changes in dbtestkit/."""
    try:
        def git(*words):
            return subprocess.run(["git", "-C", REPO] + list(words), capture_output=True,
                                  text=True, check=True).stdout.strip()
        dirty = git("status", "--porcelain", "--", "dbtestkit")
        return git("rev-parse", "--short", "HEAD") + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"


def open_groups(args, root):
    """Open every group of the chosen families; return (groups, skipped lines)."""
    opened, skipped = [], []
    for family in FAMILIES:
        if family.NAME not in args.only:
            continue
        groups, reasons = family.groups(args, root)
        skipped += ["%s: %s" % (family.NAME, reason) for reason in reasons]
        for group in groups:
            started = time.perf_counter()
            try:
                group.open()
            except Exception:
                harness.close_all(opened + [group])
                raise
            opened.append(group)
            print("# prepared %s in %.1f s" % (group.title, time.perf_counter() - started),
                  file=sys.stderr, flush=True)
    return opened, skipped


def measure(groups, args):
    """Set up every strategy, run the interleaved rounds, close the strategies; return samples."""
    entries, ready = [], []
    try:
        for group in groups:
            for strategy in group.strategies():
                strategy.setup()
                ready.append(strategy)
                entries.append((group, strategy))
        print("# set up every row after %.0f s" % (time.perf_counter() - STARTED), file=sys.stderr)
        # --quick checks that every row runs: no untimed warm-up round.
        return harness.run_rounds(entries, args.rounds, [g.after_warmup for g in groups],
                                  progress=50, warmup=not args.quick)
    finally:
        print("# measured after %.0f s" % (time.perf_counter() - STARTED), file=sys.stderr)
        for strategy in reversed(ready):
            strategy.close()


def main(argv=None):
    """Run, print the table, the notes and the targets; exit 1 if something was left behind."""
    args = parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dbtestkit-bench-") as root:
        if args.findings:
            migrations.findings(root)
            return 0
        groups, skipped = open_groups(args, root)
        try:
            samples = measure(groups, args)
        finally:
            errors = harness.close_all(groups)
    print("dbtestkit benchmarks%s: one interleaved run of %d rounds; dbtestkit %s; Python %s, "
          "SQLAlchemy %s, SQLite %s, %d CPUs"
          % (" (--quick: checks that every row runs, not how fast)" if args.quick else "",
             args.rounds, source_state(), sys.version.split()[0], sa.__version__,
             sqlite3.sqlite_version, os.cpu_count() or 0))
    print()
    harness.print_report(groups, samples)
    for line in skipped:
        print("Skipped %s" % line)
    for line in errors:
        print("Error while cleaning up: %s" % line)
    print("Total benchmark time: %.0f s" % (time.perf_counter() - started), flush=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
