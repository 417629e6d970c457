"""What every backend provides: the base class each backend module subclasses."""

from dbtestkit.exceptions import ConfigurationError, DbtestkitError, LockWaitTimeout

# What a test needs of its clone. Each backend maps these needs to storage of
# its own, so a suite switches backends without editing its classes.
CLONE_KINDS = ("in_process", "shared")
# Storage names, accepted as kinds on every backend for the need each stands for.
CLONE_KIND_ALIASES = {"memory": "in_process", "file": "shared", "database": "shared"}
# Marks the test's own connection of a savepoint-mode clone (in its DBAPI connection's info).
OWN_CONNECTION = "dbtestkit_own_connection"


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
