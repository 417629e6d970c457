"""Start a golden's build from a clone of another, trusted golden (its *parent*), not from empty.

An incremental golden's parent is the golden of an earlier state of the
same history; the build then runs only the revisions the parent lacks.
"""

from typing import NamedTuple

from dbtestkit.exceptions import DbtestkitError
from dbtestkit.report import report


class Prefix(NamedTuple):
    """A golden a build may start from: its fingerprint, the heads it holds, what it already applied."""

    fingerprint: str
    heads: tuple
    # What the clone already has (graph nodes of revisions), for the build to skip.
    revisions: tuple = ()


def start_from_parent(backend, fingerprint, parents):
    """Start the build of ``fingerprint`` as a clone of the first trusted golden among ``parents``.

    ``parents`` yields a ``Prefix`` each, best first; a parent is used only
    if its record vouches for it (as for any golden reused) and it holds
    exactly its heads. Returns ``(build, prefix)``, or None when no parent
    is there or cloning it failed (then build from empty).
    """
    # One query instead of one per candidate when the history has no golden yet.
    names = backend.golden_names()
    for prefix in parents:
        parent, heads = prefix.fingerprint, prefix.heads
        if names is not None and backend.golden_name(parent) not in names:
            continue
        record = backend.read_record(parent)
        if record is None or record.foreign:
            continue
        if record.mismatch(parent) is not None or tuple(sorted(record.heads)) != tuple(sorted(heads)):
            continue  # never cloned: an untrusted golden is rebuilt, not grown from
        try:
            return backend.start_build(fingerprint, parent=parent), prefix
        except DbtestkitError as error:
            # Pruned or changed since it was checked: the build from empty is always right.
            report(f"cannot grow golden {fingerprint[:12]} from {parent[:12]} ({error}); "
                   "building it from empty")
            return None
    return None
