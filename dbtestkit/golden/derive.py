"""Start a golden's build from a copy of another, trusted golden (its *parent*), not from empty.

The one way a golden is built on another: a derived golden's parent is
the golden it adds seeds to (``ensure_golden_from``); an incremental
golden's parent is the golden of an earlier state of the same history,
and the build then runs only the revisions the parent lacks.
"""

from typing import NamedTuple

from dbtestkit.exceptions import GoldenMismatch
from dbtestkit.report import report


class Prefix(NamedTuple):
    """A golden a build may start from: its fingerprint, the heads it holds, what it already applied."""

    fingerprint: str
    heads: tuple
    # What the clone already has (graph nodes of revisions), for the build to skip.
    revisions: tuple = ()


class Untrusted(GoldenMismatch):
    """The golden to build on is gone, changed or not this project's: it is never copied."""


def start_from(backend, fingerprint, parent, heads=None):
    """Start the build of ``fingerprint`` as a copy of the golden ``parent``; return ``(build, record)``.

    The parent is copied only if its record vouches for it (as for any
    golden reused) and, given ``heads``, it holds exactly those; else
    ``Untrusted``. ``record`` is the parent's ``GoldenRecord``.
    """
    record = backend.read_record(parent)
    problem = "it is gone" if record is None else record.mismatch(parent)
    if problem is None and record.foreign:
        problem = "it is not this project's"
    if problem is None and heads is not None and tuple(sorted(record.heads)) != tuple(sorted(heads)):
        problem = f"it holds heads {record.heads}, not {tuple(heads)}"
    if problem:
        raise Untrusted(f"Golden {parent[:12]} cannot be built on: {problem}. Run again.")
    return backend.start_build(fingerprint, parent=parent), record


def start_from_parent(backend, fingerprint, parents):
    """Start the build of ``fingerprint`` from the first trusted golden among ``parents`` (``start_from``).

    ``parents`` yields a ``Prefix`` each, best first. Returns
    ``(build, prefix)``, or None when no parent is there or copying it
    failed (then build from empty).
    """
    # One query instead of one per candidate when the history has no golden yet.
    names = backend.golden_names()
    for prefix in parents:
        if names is not None and backend.golden_name(prefix.fingerprint) not in names:
            continue
        try:
            return start_from(backend, fingerprint, prefix.fingerprint, prefix.heads)[0], prefix
        except Untrusted:
            continue  # an untrusted golden is rebuilt, not grown from
        except Exception as error:
            # Pruned or changed since it was checked, or the copy failed: the
            # build from empty is always right.
            report(f"cannot grow golden {fingerprint[:12]} from {prefix.fingerprint[:12]} ({error}); "
                   "building it from empty")
            return None
    return None
