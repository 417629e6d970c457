"""The cache's build journal (``builds.log``): one line per golden built, for ``dbtestkit status``."""

import os
import time

JOURNAL_NAME = "builds.log"


def journal_build(cache_dir, golden, backend_name):
    """Append one line per golden build to the cache's build journal (``builds.log``)."""
    line = (
        f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {backend_name} {golden.fingerprint} "
        f"pid={os.getpid()} seconds={golden.seconds:.3f}{_how(golden)}\n"
    )
    # One short O_APPEND write per line: concurrent writers never interleave.
    fd = os.open(os.path.join(cache_dir, JOURNAL_NAME), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


def _how(golden):
    if getattr(golden, "restored", False):
        return " from=archive"
    parent = getattr(golden, "parent", None)
    return f" from={parent[:16]}" if parent else ""


def read_journal(cache_dir):
    """Return the lines of the cache's build journal (empty when nothing was built)."""
    try:
        with open(os.path.join(cache_dir, JOURNAL_NAME), encoding="utf-8") as journal:
            return journal.read().splitlines()
    except FileNotFoundError:
        return []
