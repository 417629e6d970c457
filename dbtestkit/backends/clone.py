"""The handle of one disposable copy of a golden database, as a backend made it."""

import atexit
import weakref

_live_clones = weakref.WeakSet()


class Clone:
    """A copy of a golden: ``.url``, ``.engine``, ``.drop()``; a context manager."""

    def __init__(self, backend, url, name, location=None, keeper=None, fingerprint=None):
        self.backend = backend
        self._url = url
        self.name = name
        self.location = location
        # The golden it was copied from, and the TestDatabase name (project)
        # it was made for (set by the golden): recorded when it is kept.
        self.fingerprint = fingerprint
        self.project = None
        self._keeper = keeper
        self._engine = None
        self.dropped = False
        # Set by hand_over(): who drops the clone instead of its backend.
        self.releaser = None
        _live_clones.add(self)

    @property
    def url(self):
        """The URL any engine of this process (of any process, for shared clones) opens the copy by."""
        return self._url

    @property
    def keeper(self):
        """What must stay open for the copy to exist (an in-memory database's connection), or None.

        Only the backend that made the clone uses it, to drop or keep the copy.
        """
        return self._keeper

    @property
    def engine(self):
        """The SQLAlchemy engine of this clone, created on first use."""
        if self._engine is None:
            self._engine = self._create_engine()
        return self._engine

    def _create_engine(self):
        return self.backend.create_clone_engine(self)

    def share(self):
        """Make ``url`` open this copy from now on (a private SQLite copy is copied once); return it."""
        return self.url

    def hand_over(self, releaser):
        """From now on let ``drop()`` hand this clone to ``releaser(clone)`` (a pool that drops it later)."""
        self.releaser = releaser

    def drop(self):
        """Dispose of the engine and delete the copy; safe to call twice."""
        if self.dropped:
            return
        self.dropped = True
        if self._engine is not None:
            self._engine.dispose()
        if self.releaser is not None:
            self.releaser(self)
        else:
            self.backend.drop_clone(self)
        self._keeper = None

    def leave_to_reap(self):
        """Forget this copy without dropping it: the next run's reap removes it (its maker is gone by then)."""
        self.dropped = True
        self._keeper = None

    def keep(self, label):
        """Keep this copy for inspection and return where it is."""
        if self._engine is not None:
            self._engine.dispose()
        location = self.backend.keep_clone(self, label)
        self.dropped = True
        self._keeper = None
        return location

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.drop()

    def __repr__(self):
        state = "dropped" if self.dropped else "live"
        return f"<Clone {self.name} {state}>"


def live_clones():
    """Return this process's clones that nobody has dropped or kept yet (a pool's prepared ones too)."""
    return [clone for clone in list(_live_clones) if not clone.dropped]


def drop_live_clones():
    """Drop every clone of this process that nobody dropped (called at exit)."""
    for clone in list(_live_clones):
        try:
            clone.drop()
        except Exception:
            # At interpreter exit there is nobody left to tell; the next run reaps leftovers.
            pass


atexit.register(drop_live_clones)
