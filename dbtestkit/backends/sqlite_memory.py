"""SQLite clones in memory: a private copy of the golden's bytes, reachable by URL from the first time it must be.

``Connection.deserialize`` (Python 3.11+) copies the golden's bytes into a
database only its own connection sees: the cheapest clone there is, and all
a test that uses only ``self.engine`` and ``self.session`` needs. Another
engine can only open a ``memdb`` database filled by the backup API, so that
copy is made when it is first needed: when ``clone.url`` is first read, or
when the clone's engine wants a second connection at once. It is made from
the private copy's current state, and every connection of the engine moves
to it (as if it had just connected), so nothing a test wrote is lost and
from then on every engine sees one database.

Moving a connection is exact only between transactions: a move while it
holds uncommitted writes or temporary tables raises ``CloneNotShareable``
instead of losing them.
"""

import sqlite3
import threading

from sqlalchemy import create_engine, event

from dbtestkit.backends.clone import Clone
from dbtestkit.backends.sqlite_files import read_unchanged
from dbtestkit.backends.sqlite_foreign_keys import is_enforced
from dbtestkit.exceptions import CloneNotShareable

CAN_DESERIALIZE = hasattr(sqlite3.Connection, "deserialize")


def memdb_uri(name):
    """Return the URI of the in-memory database ``name``, which any connection of the process can open."""
    return f"file:/dbtestkit-{name}?vfs=memdb"


def connect_memdb(uri):
    """Open the ``memdb`` database at ``uri``; its engines may hand the connection between threads."""
    return sqlite3.connect(uri, uri=True, check_same_thread=False)


def memdb_clone(backend, name, fingerprint, fill):
    """Return a clone in a new memdb database, which ``fill(connection)`` backs a source up into."""
    uri = memdb_uri(name)
    keeper = connect_memdb(uri)
    fill(keeper)
    return Clone(backend, f"sqlite:///{uri}&uri=true", name, keeper=keeper, fingerprint=fingerprint)


class GoldenBytes:
    """The bytes of golden files, read once per process, forgotten when a golden's signature changes."""

    def __init__(self):
        # fingerprint -> (the signature vouched for when read, the bytes)
        self._cache = {}

    def read(self, fingerprint, path, vouched):
        """Return the bytes of the golden at ``path`` whose signature ``vouched`` vouches; None if none does."""
        cached = self._cache.get(fingerprint)
        if cached is not None and cached[0] == vouched:
            return cached[1]
        self._cache.pop(fingerprint, None)
        # Unvouched (only hashing its bytes could vouch, a read-only cache): no private copy.
        data = read_unchanged(path, vouched) if vouched is not None else None
        if data is not None:
            self._cache[fingerprint] = (vouched, data)
        return data

    def forget(self, fingerprint):
        """Drop the bytes of a golden that is being deleted."""
        self._cache.pop(fingerprint, None)


def close_storage(clone):
    """Close the connections an in-memory clone lives in."""
    if isinstance(clone, LazilySharedClone):
        clone.close_storage()
    elif clone.keeper is not None:
        clone.keeper.close()


class LazilySharedClone(Clone):
    """A private in-memory copy of the golden's bytes; ``url`` first makes it reachable by URL."""

    def __init__(self, backend, name, fingerprint, golden_bytes, fill_shared):
        self._uri = memdb_uri(name)
        # What ``url`` will be: the foreign-key hook watches it before it exists.
        self.shared_url = f"sqlite:///{self._uri}&uri=true"
        super().__init__(backend, None, name, fingerprint=fingerprint)
        self._bytes = golden_bytes
        # fill_shared(connection) backs the golden up into it (when no private copy was made).
        self._fill_shared = fill_shared
        self._private = None
        # The handles of the engine's connections now on the private copy (at most one is live).
        self._on_private = set()
        self._lock = threading.RLock()

    @property
    def url(self):
        """The URL any engine of this process opens the clone by; the first read makes it reachable."""
        with self._lock:
            if self._url is None and not self.dropped:
                self._share()
        return self.shared_url

    @property
    def keeper(self):
        """The connection the copy lives in: the private one until shared, then the shared copy's."""
        with self._lock:
            if self._keeper is None and not self.dropped:
                self._keeper = self._private_connection()
            return self._keeper

    def close_storage(self):
        """Close the connections holding the copy (the clone is gone afterwards)."""
        with self._lock:
            for connection in {id(c): c for c in (self._private, self._keeper) if c is not None}.values():
                connection.close()
            self._private = self._keeper = None
            self._bytes = None

    def _create_engine(self):
        engine = create_engine(self.shared_url, creator=self._connect)
        # Noted first, so a moved connection can be set up again like a new one.
        event.listen(engine, "connect", _note_record, insert=True)
        self._pool_events = engine.pool.dispatch
        return engine

    def _private_connection(self):
        if self._private is None:
            private = sqlite3.connect(":memory:", check_same_thread=False)
            private.deserialize(self._bytes)
            if is_enforced(self._uri):
                private.execute("PRAGMA foreign_keys = ON")
            self._private = private
        return self._private

    def _connect(self):
        with self._lock:
            if self._url is None:
                if not self._on_private:
                    handle = _Handle(self, self._private_connection())
                    self._on_private.add(handle)
                    return handle
                # A second connection at once: both must see one database.
                self._share()
            return _Handle(self, self._open_shared())

    def _open_shared(self, foreign_keys=None):
        connection = connect_memdb(self._uri)
        if is_enforced(self._uri) if foreign_keys is None else foreign_keys:
            connection.execute("PRAGMA foreign_keys = ON")
        return connection

    def _released(self, handle):
        with self._lock:
            self._on_private.discard(handle)

    def _share(self):
        private = self._private
        foreign_keys = None
        if private is not None:
            if private.in_transaction:
                raise CloneNotShareable(self._refusal("holds uncommitted writes"))
            if private.execute("SELECT count(*) FROM temp.sqlite_master").fetchone()[0]:
                raise CloneNotShareable(self._refusal("has temporary tables, which only it sees"))
            foreign_keys = bool(private.execute("PRAGMA foreign_keys").fetchone()[0])
        shared = connect_memdb(self._uri)
        try:
            if private is None:
                self._fill_shared(shared)
            else:
                private.backup(shared)
            moved = [(handle, self._open_shared(foreign_keys)) for handle in self._on_private]
        except BaseException:
            shared.close()
            raise
        self._keeper, self._url = shared, self.shared_url
        for handle, connection in moved:
            handle.move_to(connection)
        self._on_private.clear()
        self._private = self._bytes = None
        if private is not None:
            private.close()

    def _refusal(self, why):
        return (
            f"The clone's URL was needed (self.url read, or a second connection of self.engine "
            f"opened) while its engine's connection {why}: another engine cannot see those. "
            "Read self.url before that connection writes (in setUp, say), or commit first."
        )


def _note_record(dbapi_connection, connection_record):
    if isinstance(dbapi_connection, _Handle):
        object.__setattr__(dbapi_connection, "_record", connection_record)


class _Handle:
    """A DBAPI connection of a lazily shared clone's engine: moves from the private copy to the shared one."""

    __slots__ = ("_clone", "_target", "_record", "__weakref__")

    def __init__(self, clone, target):
        object.__setattr__(self, "_clone", clone)
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_record", None)

    def __getattr__(self, name):
        return getattr(self._target, name)

    def __setattr__(self, name, value):
        setattr(self._target, name, value)

    def move_to(self, connection):
        """Continue on ``connection``, set up by the engine's connect events as a new one would be."""
        object.__setattr__(self, "_target", connection)
        if self._record is not None:
            self._clone._pool_events.connect(self, self._record)

    def close(self):
        """Close the connection; the private copy stays open, since it is the clone."""
        if self._target is self._clone._private:
            self._clone._released(self)
        else:
            self._target.close()

