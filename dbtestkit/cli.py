"""The ``dbtestkit`` command: a thin skin over library calls. The only module that prints."""

import argparse
import os
import sys
import time

from dbtestkit.exceptions import ConfigurationError, DbtestkitError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
# 128 + SIGPIPE: the status of a Unix tool whose reader went away (`dbtestkit status | head`).
EXIT_BROKEN_PIPE = 141
# Settings given on the command line, named as the user typed them in messages.
OPTION_ORIGINS = {"url": "--url", "alembic_ini": "--alembic-ini", "cache_dir": "--cache-dir"}


def cmd_fingerprint(database, args):
    """Print the fingerprint of the configured golden (a CI cache key)."""
    print(database.fingerprint())
    return EXIT_OK


def cmd_build(database, args):
    """Build the golden ahead of time (with progress), unless a trusted one exists."""
    golden = database.ensure_golden(progress=True)
    state = "built" if golden.built else "already built"
    print(f"golden {golden.fingerprint} {state} ({golden.seconds:.2f}s)")
    return EXIT_OK


def cmd_status(database, args):
    """Show the current fingerprint, cached goldens and leftover clones."""
    from dbtestkit.config import mask_url

    fingerprint = database.fingerprint()
    backend = database.backend
    record = backend.read_record(fingerprint)
    state = "missing" if record is None else (record.mismatch(fingerprint) or "ready")
    print(f"backend     {backend.name} ({mask_url(database.settings.url)}) in {backend.describe()}")
    print(f"fingerprint {fingerprint}")
    print(f"golden      {state}")
    from dbtestkit.stats import read_journal

    builds = [line for line in read_journal(database.cache_dir) if fingerprint in line]
    if builds:
        print(f"last build  {builds[-1]}")
    now = time.time()
    for golden in backend.list_goldens():
        marker = "*" if fingerprint.startswith(golden.fingerprint) else " "
        age_hours = (now - golden.built) / 3600
        print(f"  {marker} {golden.fingerprint[:16]}  {golden.size / 1024:8.0f} KiB  "
              f"{age_hours:6.1f} h old  {golden.label or '?'}")
    for path in backend.leftover_clones():
        print(f"  leftover clone {path}")
    return EXIT_OK


def cmd_prune(database, args):
    """Delete this project's goldens of other fingerprints (keeping the newest --keep)."""
    if args.all_projects:
        removed = database.backend.prune({database.fingerprint()}, keep_newest=args.keep)
    else:
        removed = database.prune(keep_newest=args.keep)
    for name in removed:
        print(f"removed {name}")
    return EXIT_OK


def cmd_reap(database, args):
    """Delete clones left behind by processes that are gone."""
    for name in database.backend.reap():
        print(f"reaped {name}")
    return EXIT_OK


COMMANDS = {
    "status": cmd_status,
    "build": cmd_build,
    "fingerprint": cmd_fingerprint,
    "prune": cmd_prune,
    "reap": cmd_reap,
}


def build_parser():
    """Return the argument parser of the ``dbtestkit`` command."""
    parser = argparse.ArgumentParser(
        prog="dbtestkit", description="Build, inspect and clean up dbtestkit's golden databases."
    )
    parser.add_argument("--url", help="where goldens and clones live (DBTESTKIT_URL)")
    parser.add_argument("--alembic-ini", help="path of alembic.ini (DBTESTKIT_ALEMBIC_INI)")
    parser.add_argument("--cache-dir", help="golden cache directory (DBTESTKIT_CACHE_DIR)")
    commands = parser.add_subparsers(dest="command", required=True)
    subparsers = {
        name: commands.add_parser(name, help=function.__doc__, description=function.__doc__)
        for name, function in COMMANDS.items()
    }
    subparsers["prune"].add_argument(
        "--keep", type=int, default=0, metavar="N",
        help="also keep the N newest goldens of other fingerprints (default 0)",
    )
    subparsers["prune"].add_argument(
        "--all-projects", action="store_true",
        help="also delete goldens other projects built in the same cache or server",
    )
    return parser


def main(argv=None):
    """Run the command line and exit with 0 (ok), 1 (failure) or 2 (usage/configuration)."""
    args = build_parser().parse_args(argv)
    from dbtestkit.database import TestDatabase

    try:
        database = TestDatabase(
            args.url, alembic_ini=args.alembic_ini, cache_dir=args.cache_dir,
            _keyword_origins=OPTION_ORIGINS,
        )
        code = COMMANDS[args.command](database, args)
        # A reader that went away shows here, not as a traceback at exit.
        sys.stdout.flush()
    except BrokenPipeError:
        # Stop quietly, as Unix tools do; stdout goes nowhere from now on, so
        # the flush at exit cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_BROKEN_PIPE
    except ConfigurationError as error:
        print(f"dbtestkit: {error}", file=sys.stderr)
        code = EXIT_USAGE
    except DbtestkitError as error:
        print(f"dbtestkit: {error}", file=sys.stderr)
        code = EXIT_FAILURE
    sys.exit(code)
