"""The backend contract: template methods that do the shared frame, abstract hooks that do the dialect's work.

A new backend subclasses ``BackendBase`` (or ``server.ServerBackend``) and
fills in the abstract hooks; ``backend_for`` finds it as ``Backend`` in its
module. The templates here name clones, reap once per process, say when a
build waits for another process, and keep or prune by the same rules on
every backend.
"""

import abc
import atexit
import contextlib
import threading

from sqlalchemy import create_engine, event

from dbtestkit.backends.drivers import async_drivername, check_async_driver, to_async_url
from dbtestkit.exceptions import ConfigurationError, DbtestkitError, LockWaitTimeout
from dbtestkit.report import report

# What a test needs of its clone. Each backend maps these needs to storage of
# its own, so a suite switches backends without editing its classes.
CLONE_KINDS = ("in_process", "shared")
# Storage names, accepted as kinds on every backend for the need each stands for.
CLONE_KIND_ALIASES = {"memory": "in_process", "file": "shared", "database": "shared"}
# Marks the test's own connection of a savepoint-mode clone (in its DBAPI connection's info).
OWN_CONNECTION = "dbtestkit_own_connection"


class BackendBase(abc.ABC):
    """Where goldens and clones of one URL live: the shared frame, and the hooks each backend fills in."""

    # The backend's name, as messages and ``dbtestkit status`` show it.
    name = None
    # Whether clones are slow enough to be worth creating ahead in the background.
    pooled = False
    # Whether the first clone leaves reaping to a background thread (see reap_once).
    reaps_in_background = False
    # Set at exit: a background reap stops after the leftover it is removing.
    stop_reaping = False
    # Where the URL was set ("--url", "DBTESTKIT_URL", …), named in advice.
    url_origin = "the URL"
    # The storage (the ``kind`` argument of ``clone()``) serving each need of CLONE_KINDS.
    clone_storage_of = {}
    # How long the other connections of a savepoint-mode clone wait for a lock.
    # The test's own transaction is never committed, so a lock it holds is
    # not released while the test runs: waiting longer only delays the failure.
    other_connections_lock_wait = 1.0
    # For the migration checks' schema snapshots: one query returning (kind,
    # name, text) for every table, view, sequence and enum type of the default
    # schema (None: tables are reflected every time), and whether a table's
    # text is exact (equal text <=> equal reflected shape, so shapes are read
    # only when texts differ) or merely a change detector.
    schema_digest_sql = None
    schema_digests_exact = False
    # What a downgrade step costs, counted in upgrade steps: a data-migration
    # test walks down from head when that is cheaper than up from empty
    # (measured by benchmarks/data_migrations.py).
    downgrade_step_cost = 1.0
    # Whether DDL commits implicitly (and so erases every savepoint), as on MySQL.
    ddl_commits_implicitly = False
    # The ``backend+driver`` async code uses (the URL's own if it named an
    # async driver; set by ``backend_for``): ``url`` is always a sync one.
    async_drivername = None

    def __init__(self, url):
        self.url = url
        self._reaped = False
        self._async_checked = False

    @property
    def dialect(self):
        """The SQLAlchemy dialect, for rendering DDL into the fingerprint."""
        return self.url.get_dialect()()

    def async_url(self, url):
        """Return ``url`` (of a build or a clone) with the async driver, checking once that it is installed."""
        drivername = self.async_drivername or async_drivername(self.url)
        if not self._async_checked:
            check_async_driver(drivername)
            self._async_checked = True
        return to_async_url(url, drivername)

    # -- identity (hooks) -----------------------------------------------------

    @abc.abstractmethod
    def identity(self):
        """Return what about this backend shapes a golden (product, version, driver), for the fingerprint."""

    @abc.abstractmethod
    def describe(self):
        """Return where this backend keeps goldens, for messages."""

    def dispose(self):
        """Close the connections this backend holds open (its engines); it reconnects when used again."""

    # -- goldens: the frame ---------------------------------------------------

    @contextlib.contextmanager
    def build_lock(self, fingerprint):
        """Hold the cross-process lock under which the golden of ``fingerprint`` is built or deleted."""
        def waiting():
            report(f"waiting for another process to build golden {fingerprint[:12]}")

        with self._hold_build_lock(fingerprint, waiting):
            yield

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

    # -- goldens: the hooks ---------------------------------------------------

    @abc.abstractmethod
    def _hold_build_lock(self, fingerprint, waiting):
        """Return a context manager holding ``fingerprint``'s build lock; call ``waiting()`` before blocking."""

    @abc.abstractmethod
    def golden_url(self, fingerprint):
        """Return the URL of the golden of ``fingerprint`` (read it; never write it)."""

    @abc.abstractmethod
    def read_record(self, fingerprint):
        """Return the golden's ``GoldenRecord`` (its ``problem`` says why it is not trusted), None if absent."""

    @abc.abstractmethod
    def start_build(self, fingerprint, parent=None):
        """Create the temporary database a golden is built in; return its ``BuildTarget``.

        Empty, or with ``parent`` (the fingerprint of a golden the caller has
        checked) an exact copy of that golden: schema, rows, version table and
        sequences. Derived and incremental goldens both start here.
        """

    def write_record(self, connection, record):
        """Store the record inside the build (backends keeping it beside the database do it at publish)."""

    @abc.abstractmethod
    def publish(self, build, fingerprint):
        """Make a finished build the golden of ``fingerprint``, atomically, with its record."""

    @abc.abstractmethod
    def abandon(self, build):
        """Delete a build that did not finish."""

    @abc.abstractmethod
    def discard_golden(self, fingerprint):
        """Delete a golden of ours that failed verification (called under its build lock)."""

    @abc.abstractmethod
    def remove_stale_builds(self, fingerprint):
        """Delete builds left by killed processes (called under ``fingerprint``'s build lock)."""

    @abc.abstractmethod
    def run_sql_script(self, connection, sql):
        """Run a multi-statement SQL script (a seed file)."""

    @abc.abstractmethod
    def list_goldens(self):
        """Yield a ``GoldenListing`` for every published golden of ours."""

    @abc.abstractmethod
    def delete_golden(self, location):
        """Delete the golden a ``GoldenListing`` names (used by prune), under its build lock."""

    def golden_names(self):
        """Return the names (``golden_name``) of every golden database there is, for a quick lookup; None if unknown.

        Only a hint for looking up many fingerprints at once: ``read_record``
        still decides whether a golden is there and trusted.
        """
        return None

    # -- archives (hooks) -----------------------------------------------------

    def export_frames(self, fingerprint):
        """Return ``(frames, digest)``: the golden of ``fingerprint`` as archive frames, and its digest.

        The digest is what ``restore_frames`` must find again in a restored
        copy. Raises ``DbtestkitError`` when the golden cannot be archived exactly.
        """
        raise DbtestkitError(f"The {self.name} backend cannot archive goldens.")

    def restore_frames(self, build, frames):
        """Load archive ``frames`` into the new, empty ``build``; return the digest of what it now holds."""
        raise DbtestkitError(f"The {self.name} backend cannot restore golden archives.")

    # -- clones: the frame ----------------------------------------------------

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

    def clone(self, fingerprint, storage):
        """Copy the golden of ``fingerprint`` into new ``storage`` (see ``clone_storage``); return its ``Clone``."""
        if self._survives_crash(storage):
            self.reap_once(background=True)
        return self._copy_golden(fingerprint, self._clone_name(fingerprint), storage)

    def copy_clone(self, source, storage):
        """Copy the clone ``source`` (a class snapshot) into new ``storage``; return the copy's ``Clone``.

        The copy is a clone like any other (same name scheme, marker and
        cleanup), whose source is a clone rather than the golden.
        """
        if self._survives_crash(storage):
            self.reap_once(background=True)
        copy = self._copy_clone(source, self._clone_name(source.fingerprint), storage)
        copy.project = source.project
        return copy

    def reap_once(self, background=False):
        """Reap leftovers of crashed runs, once per process (called before the first clone).

        With ``background``, a backend whose leftovers take long to remove
        (``reaps_in_background``) reaps them in a thread instead.
        """
        if self._reaped:
            return
        self._reaped = True
        if background and self.reaps_in_background:
            reaper = threading.Thread(target=self._reap_quietly, name="dbtestkit-reaper", daemon=True)
            reaper.start()
            atexit.register(self._stop_reaping, reaper)
        else:
            self.reap()

    def _stop_reaping(self, reaper):
        # At exit: the reaper stops after the leftover it is removing (a
        # thread still talking to a server while the interpreter shuts down
        # can crash it); the next run reaps the rest.
        self.stop_reaping = True
        reaper.join(timeout=60)

    def _reap_quietly(self):
        try:
            self.reap()
        except Exception:
            # The clones this process makes report a server that went away;
            # what is not reaped now the next run reaps.
            pass

    def prune_kept(self, keep_newest=0, label=None):
        """Delete kept clones except the ``keep_newest`` newest; with ``label``, only that project's.

        Returns the deleted ``KeptClone`` entries.
        """
        kept = sorted(self.list_kept(), key=lambda entry: entry.kept_at, reverse=True)
        candidates = [entry for entry in kept if label is None or entry.label == label]
        for entry in candidates[keep_newest:]:
            self.delete_kept(entry)
        return candidates[keep_newest:]

    def enforce_foreign_keys(self, clone):
        """Make every connection to ``clone`` check foreign keys (the servers always do)."""

    def create_clone_engine(self, clone):
        """Create the engine of a clone, as the application would on its URL."""
        return create_engine(clone.url)

    # -- clones: the hooks ----------------------------------------------------

    def _survives_crash(self, storage):
        """Tell whether a clone in ``storage`` outlives a killed process (then leftovers are reaped first)."""
        return True

    @abc.abstractmethod
    def _clone_name(self, fingerprint):
        """Return a new name for a clone of ``fingerprint``, unique across processes and machines."""

    @abc.abstractmethod
    def _copy_golden(self, fingerprint, name, storage):
        """Copy the golden of ``fingerprint`` into new ``storage`` called ``name``; return its ``Clone``."""

    @abc.abstractmethod
    def _copy_clone(self, source, name, storage):
        """Copy the clone ``source`` into new ``storage`` called ``name``; return its ``Clone``.

        Nobody is connected to ``source`` (its engine is disposed).
        """

    @abc.abstractmethod
    def drop_clone(self, clone):
        """Delete a clone's storage, ending connections a test left open."""

    @abc.abstractmethod
    def keep_clone(self, clone, label):
        """Keep a clone for inspection, recorded with the test id ``label``; return where it is."""

    @abc.abstractmethod
    def list_kept(self):
        """Yield a ``KeptClone`` for every clone of ours kept after its test failed."""

    @abc.abstractmethod
    def delete_kept(self, kept):
        """Delete one kept clone (a ``KeptClone`` from ``list_kept``), only if it is ours."""

    @abc.abstractmethod
    def leftover_clones(self):
        """Return what ``reap`` would remove (file paths or database names), for ``dbtestkit status``."""

    @abc.abstractmethod
    def reap(self):
        """Remove leftovers of dead processes and unfinished builds of ours; return their names."""

    # -- savepoint mode: optional hooks ---------------------------------------

    def prepare_build_engine(self, engine):
        """Adjust the engine a golden is built through (durability only: the build is made durable at publish)."""

    def prepare_outer_engine(self, engine):
        """Adjust the engine of a savepoint-mode clone before its first connection.

        Every connection gets a short lock wait, and running out of it becomes
        a ``LockWaitTimeout`` that says why; ``prepare_outer_connection`` then
        gives the test's own connection the normal wait back.
        """
        event.listen(engine, "connect", lambda dbapi_connection, _: self.limit_lock_wait(dbapi_connection))
        event.listen(engine, "handle_error", self._explain_lock_wait, retval=True)

    def prepare_own_engine(self, engine):
        """Adjust an engine each of whose connections is one test's own (async savepoint mode).

        Unlike ``prepare_outer_engine``, its connections keep the normal lock
        wait from the start: nothing to set and reset per test.
        """

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

    def savepoint_lost(self, error):
        """Tell whether a failed ROLLBACK TO SAVEPOINT means the server ended the transaction."""
        return False
