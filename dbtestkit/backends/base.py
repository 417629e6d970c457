"""What every backend provides, and the helpers they share."""

import errno
import itertools
import os
import re
import secrets
import socket
from dataclasses import dataclass, field
from typing import NamedTuple

from dbtestkit.exceptions import ConfigurationError, DbtestkitError, LockWaitTimeout

_clone_counter = itertools.count(1)
# What a test needs of its clone. Each backend maps these needs to storage of
# its own, so a suite switches backends without editing its classes.
CLONE_KINDS = ("in_process", "shared")
# Storage names, accepted as kinds on every backend for the need each stands for.
CLONE_KIND_ALIASES = {"memory": "in_process", "file": "shared", "database": "shared"}
# Marks the test's own connection of a savepoint-mode clone (in its DBAPI connection's info).
OWN_CONNECTION = "dbtestkit_own_connection"


class GoldenListing(NamedTuple):
    """One published golden, as ``list_goldens`` reports it."""

    fingerprint: str  # the whole fingerprint, or the prefix a server name holds
    location: object  # a path (SQLite) or a database name
    size: int
    built: float  # POSIX time
    label: str  # the TestDatabase name (project) that built it


class KeptClone(NamedTuple):
    """A clone kept for inspection after its test failed, as ``list_kept`` reports it."""

    location: str  # a file path (SQLite) or a database URL with the password masked
    test_id: str  # the id of the test that failed (unittest's ``TestCase.id()``)
    kept_at: float  # POSIX time
    label: str  # the TestDatabase name (project) whose clone it was


class BackendBase:
    """Defaults for the optional hooks of a backend; each backend module subclasses it."""

    # Whether clones are slow enough to be worth creating ahead in the background.
    pooled = False
    # Where the URL was set ("--url", "DBTESTKIT_URL", …), named in advice.
    url_origin = "the URL"
    # The storage (the ``kind`` argument of ``clone()``) serving each need of CLONE_KINDS.
    clone_storage_of = {}

    def clone_storage(self, kind=None):
        """Return the storage this backend makes for a clone of ``kind`` (default ``in_process``)."""
        need = CLONE_KIND_ALIASES.get(kind, kind) if kind else "in_process"
        if need not in CLONE_KINDS:
            raise ConfigurationError(
                f"Clone kind {kind!r} is not one dbtestkit knows. Set clone_kind = \"shared\" "
                "when another process must open the clone's URL, or leave it unset for the "
                f"fastest clone this process can use; {sorted(CLONE_KIND_ALIASES)} are accepted too."
            )
        return self.clone_storage_of[need]

    @property
    def dialect(self):
        """The SQLAlchemy dialect, for rendering DDL into the fingerprint."""
        return self.url.get_dialect()()

    def create_clone_engine(self, clone):
        """Create the engine of a clone, as the application would on its URL."""
        from sqlalchemy import create_engine

        return create_engine(clone.url)

    # How long the other connections of a savepoint-mode clone wait for a lock.
    # The test's own transaction is never committed, so a lock it holds is
    # not released while the test runs: waiting longer only delays the failure.
    other_connections_lock_wait = 1.0

    def prepare_outer_engine(self, engine):
        """Adjust the engine of a savepoint-mode clone before its first connection.

        Every connection gets a short lock wait, and running out of it becomes
        a ``LockWaitTimeout`` that says why; ``prepare_outer_connection`` then
        gives the test's own connection the normal wait back.
        """
        from sqlalchemy import event

        event.listen(engine, "connect", lambda dbapi_connection, _: self.limit_lock_wait(dbapi_connection))
        event.listen(engine, "handle_error", self._explain_lock_wait, retval=True)

    def prepare_outer_connection(self, connection):
        """Give the test's own connection of a savepoint-mode clone the normal lock wait."""
        connection.info[OWN_CONNECTION] = True
        self.restore_lock_wait(connection.connection.dbapi_connection)

    def limit_lock_wait(self, dbapi_connection):
        """Make ``dbapi_connection`` wait at most ``other_connections_lock_wait`` for a lock."""

    def restore_lock_wait(self, dbapi_connection):
        """Give ``dbapi_connection`` the server's normal lock wait again."""

    def is_lock_wait_timeout(self, dbapi_error):
        """Tell whether a driver error says a statement gave up waiting for a lock."""
        return False

    def _explain_lock_wait(self, context):
        if context.connection is None or not self.is_lock_wait_timeout(context.original_exception):
            return None
        if context.connection.info.get(OWN_CONNECTION):
            return None
        # The driver's error is chained to this one (shown above it in a traceback).
        return LockWaitTimeout(
            "A second connection to the test's database gave up after waiting "
            f"{self.other_connections_lock_wait * 1000:.0f} ms for a lock. "
            "In DatabaseTestCase the test's own transaction (self.session, self.connection) "
            "is never committed, so it holds the lock on every row it wrote until the test "
            "ends, and other connections from self.engine cannot wait for it. Use "
            "self.session or self.connection for everything in the test, or make the class "
            "a GoldenFileTestCase, where every connection commits for real."
        )

    def before_savepoint_rollback(self, connection):
        """Run checks that must happen before a test's savepoint is rolled back."""

    def reap_once(self):
        """Reap leftovers of crashed runs, once per process (called before the first clone)."""
        if not getattr(self, "_reaped", False):
            self._reaped = True
            self.reap()

    def prune(self, keep_fingerprints, keep_newest=0, label=None):
        """Delete goldens except ``keep_fingerprints`` and the ``keep_newest`` newest others.

        With ``label``, only goldens built for that project (TestDatabase
        name) are candidates: other projects sharing the cache or the server
        keep theirs. Returns the names of the deleted goldens.
        """
        goldens = sorted(self.list_goldens(), key=lambda golden: golden.built, reverse=True)
        others = [
            golden for golden in goldens
            if (label is None or golden.label == label)
            and not any(fingerprint.startswith(golden.fingerprint) for fingerprint in keep_fingerprints)
        ]
        removed = []
        for golden in others[keep_newest:]:
            self.delete_golden(golden.location)
            removed.append(getattr(golden.location, "name", golden.location))
        return removed

    def prune_kept(self, keep_newest=0, label=None):
        """Delete kept clones except the ``keep_newest`` newest; with ``label``, only that project's.

        Returns the deleted ``KeptClone`` entries.
        """
        if not (hasattr(self, "list_kept") and hasattr(self, "delete_kept")):
            raise DbtestkitError(
                f"The {self.name} backend cannot list or delete kept clones; delete them yourself "
                f"({self.describe()})."
            )
        kept = sorted(self.list_kept(), key=lambda entry: entry.kept_at, reverse=True)
        candidates = [entry for entry in kept if label is None or entry.label == label]
        for entry in candidates[keep_newest:]:
            self.delete_kept(entry)
        return candidates[keep_newest:]

    def savepoint_lost(self, error):
        """Tell whether a failed ROLLBACK TO SAVEPOINT means the server ended the transaction."""
        return False

    def write_record(self, connection, record):
        """Store the record inside the build (backends keeping it beside the database do it at publish)."""


@dataclass
class GoldenRecord:
    """What a golden says about itself, and what it actually holds."""

    fingerprint: str = ""
    heads: tuple = ()
    version_table: "str | None" = None
    dbtestkit_version: str = ""
    built_at: str = ""
    label: str = ""
    actual_heads: tuple = ()
    problem: "str | None" = None
    # Made by someone else: never used, never dropped.
    foreign: bool = False

    def as_rows(self):
        """Return the record as ``(key, value)`` string pairs for storage."""
        return [
            ("fingerprint", self.fingerprint),
            ("heads", " ".join(self.heads)),
            ("version_table", self.version_table or ""),
            ("dbtestkit_version", self.dbtestkit_version),
            ("built_at", self.built_at),
            ("label", self.label),
        ]

    @classmethod
    def from_rows(cls, rows, actual_heads=()):
        """Rebuild a record from stored ``(key, value)`` pairs."""
        values = dict(rows)
        return cls(
            fingerprint=values.get("fingerprint", ""),
            heads=tuple(values.get("heads", "").split()),
            version_table=values.get("version_table") or None,
            dbtestkit_version=values.get("dbtestkit_version", ""),
            built_at=values.get("built_at", ""),
            label=values.get("label", ""),
            actual_heads=tuple(sorted(actual_heads)),
        )

    def mismatch(self, fingerprint):
        """Return why this golden cannot be trusted for ``fingerprint``, or None."""
        if self.problem:
            return self.problem
        if self.fingerprint != fingerprint:
            return f"it records fingerprint {self.fingerprint[:12] or 'none'}"
        if tuple(sorted(self.heads)) != self.actual_heads:
            return f"it records heads {self.heads} but holds {self.actual_heads}"
        return None


@dataclass
class BuildTarget:
    """A database being built under a temporary name."""

    url: str
    name: str
    location: object = None
    extra: dict = field(default_factory=dict)
    # What the golden will say about itself, set once the build is complete.
    record: "GoldenRecord | None" = None


def process_tag(separator="-"):
    """Return ``host-pid``, the part of a name that tells which process owns it."""
    host = re.sub(r"[^a-z0-9]", "", socket.gethostname().lower())[:16] or "host"
    return f"{host}{separator}{os.getpid()}"


def unique_suffix(separator="-", random_bytes=3):
    """Return a suffix unique across processes and machines: host, pid, counter, random."""
    return separator.join(
        [process_tag(separator), str(next(_clone_counter)), secrets.token_hex(random_bytes)]
    )


def this_host():
    """Return this machine's name as dbtestkit names and records hold it."""
    return process_tag().rpartition("-")[0]


def creator():
    """Return who is about to create something: this host and process, for records."""
    return {"host": this_host(), "pid": os.getpid()}


def creator_is_gone(fields):
    """Tell whether the creator a record names (``host``, ``pid``) is a dead process on this host.

    A process on another host cannot be checked, so it counts as alive.
    """
    try:
        pid = int(fields.get("pid", 0))
    except (TypeError, ValueError):
        return False
    return fields.get("host") == this_host() and not pid_alive(pid)


def owner_is_gone(name):
    """Tell whether the host and pid inside a dbtestkit name are a dead process on this host."""
    host = this_host()
    match = re.search(rf"[-_]{re.escape(host)}[-_](\d+)[-_]", name)
    if match is None:
        return False
    return not pid_alive(int(match.group(1)))


def pid_alive(pid):
    """Tell whether a process with ``pid`` exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as error:
        return error.errno == errno.EPERM
    return True
