"""The ``dbtestkit`` command: a thin skin over library calls. The only module that prints."""

import argparse
import os
import sys
import time

from dbtestkit.config import mask_url, resolve_settings
from dbtestkit.database import TestDatabase
from dbtestkit.exceptions import ConfigurationError, DbtestkitError
from dbtestkit.golden.journal import read_journal

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
    if golden.restored:
        state = "restored from the archive"
    elif golden.parent:
        state = f"built from golden {golden.parent[:12]} (only the new revisions ran)"
    else:
        state = "built" if golden.built else "already built"
    print(f"golden {golden.fingerprint} {state} ({golden.seconds:.2f}s)")
    return EXIT_OK


def cmd_export(database, args):
    """Write the golden (built first if need be) into DIR as an archive named by its fingerprint."""
    print(database.export(args.directory))
    return EXIT_OK


def cmd_status(database, args):
    """Show the current fingerprint, cached goldens, leftovers of dead processes and kept clones."""
    fingerprint = database.fingerprint()
    backend = database.backend
    record = backend.read_record(fingerprint)
    state = "missing" if record is None else (record.mismatch(fingerprint) or "ready")
    print(f"backend     {backend.name} ({mask_url(database.settings.url)}) in {backend.describe()}")
    print(f"fingerprint {fingerprint}")
    print(f"golden      {state}")
    builds = [line for line in read_journal(database.cache_dir) if fingerprint in line]
    if builds:
        print(f"last build  {builds[-1]}")
    now = time.time()
    for golden in backend.list_goldens():
        marker = "*" if fingerprint.startswith(golden.fingerprint) else " "
        print(f"  {marker} {golden.fingerprint[:16]}  {golden.size / 1024:8.0f} KiB  "
              f"{age(now - golden.built):>9} old  {golden.label or '?'}")
    for topic, state, advice in getattr(backend, "clone_advice", lambda fingerprint: [])(fingerprint):
        print(f"  clones: {topic} = {state}: {advice}")
    for path in backend.leftover_clones():
        print(f"  leftover {path} (reap removes it)")
    kept = sorted(backend.list_kept(), key=lambda entry: entry.kept_at, reverse=True)
    print(f"kept clones {len(kept)}")
    for entry in kept:
        print(f"  {age(now - entry.kept_at):>9} old  {entry.label or '?'}  {entry.test_id or '?'}  "
              f"{entry.location}")
    return EXIT_OK


def age(seconds):
    """Return a duration as a short age: ``12 s``, ``4.5 min``, ``3.2 h``, ``2.0 d``."""
    seconds = max(seconds, 0)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def cmd_prune(database, args):
    """Delete this project's other goldens (keeping the --keep newest), or with --kept its kept clones."""
    if args.kept:
        label = None if args.all_projects else database.name
        for entry in database.backend.prune_kept(args.keep, label=label):
            print(f"removed kept clone {entry.location} ({entry.test_id or 'unknown test'})")
        return EXIT_OK
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


def cmd_server(settings, args):
    """Start, stop or show the embedded PostgreSQL cluster (postgresql+embedded://)."""
    from sqlalchemy.engine import make_url

    from dbtestkit.backends import embedded_cluster, embedded_watch

    url = make_url(settings.url) if settings.url.startswith(embedded_cluster.DRIVERNAME) else None
    cluster = embedded_cluster.cluster_for(url or make_url(embedded_cluster.DRIVERNAME + "://"),
                                           settings.origin("url"))
    if args.action == "start":
        started = embedded_watch.serve(cluster)
        print(f"{'started' if started is not None else 'already running'}: {cluster.describe()}")
    elif args.action == "stop":
        print(f"{'stopped' if cluster.stop() else 'was not running'}: {cluster.describe()}")
    else:
        pid = cluster.postmaster_pid()
        print(f"cluster     {cluster.describe()}")
        print(f"server      {f'running, pid {pid}' if pid else 'stopped'}")
        print(f"socket      {cluster.socket_dir}")
        print(f"idle stop   after {cluster.idle_seconds} s without use")
        print(f"clients     {len(embedded_watch.live_clients(cluster))} processes")
        for line in cluster.events()[-3:]:
            print(f"  {line}")
    return EXIT_OK


COMMANDS = {
    "status": cmd_status,
    "build": cmd_build,
    "fingerprint": cmd_fingerprint,
    "export": cmd_export,
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
    subparsers["export"].add_argument("directory", metavar="DIR", help="where to write the archive")
    commands.add_parser("server", help=cmd_server.__doc__, description=cmd_server.__doc__).add_argument(
        "action", choices=("status", "start", "stop"), help="what to do with the cluster")
    subparsers["prune"].add_argument(
        "--keep", type=int, default=0, metavar="N",
        help="also keep the N newest goldens of other fingerprints, or kept clones (default 0)",
    )
    subparsers["prune"].add_argument(
        "--all-projects", action="store_true",
        help="also delete goldens (or kept clones) of other projects in the same cache or server",
    )
    subparsers["prune"].add_argument(
        "--kept", action="store_true",
        help="delete the clones kept after failed tests (DBTESTKIT_KEEP) instead of goldens; "
             "--keep N keeps the N newest",
    )
    return parser


def main(argv=None):
    """Run the command line and exit with 0 (ok), 1 (failure) or 2 (usage/configuration)."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "server":
            # No project needed: the cluster is the user's, not a golden's.
            code = cmd_server(resolve_settings(keyword_origins=OPTION_ORIGINS, url=args.url), args)
        else:
            alembic_ini, origins = args.alembic_ini, dict(OPTION_ORIGINS)
            if alembic_ini is None and not resolve_settings().alembic_ini and os.path.isfile("alembic.ini"):
                # Run next to alembic.ini with no configuration at all: that project is the one meant.
                alembic_ini = os.path.abspath("alembic.ini")
                origins["alembic_ini"] = "alembic.ini in the working directory"
            database = TestDatabase(
                args.url, alembic_ini=alembic_ini, cache_dir=args.cache_dir, _keyword_origins=origins,
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
