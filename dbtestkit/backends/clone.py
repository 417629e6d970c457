"""The handle of one disposable copy of a golden database."""

import weakref

_live_clones = weakref.WeakSet()


class Clone:
    """A copy of a golden: ``.url``, ``.engine``, ``.drop()``; a context manager."""

    def __init__(self, backend, url, name, location=None, keeper=None, fingerprint=None):
        self.backend = backend
        self.url = url
        self.name = name
        self.location = location
        # The golden it was copied from, and the TestDatabase name (project)
        # it was made for (set by TestDatabase.clone): recorded when it is kept.
        self.fingerprint = fingerprint
        self.project = None
        # Something that must stay referenced for the copy to exist (the
        # connection that holds an in-memory database open).
        self._keeper = keeper
        self._engine = None
        self.dropped = False
        # Set by a ClonePool: hands the clone back to be dropped in the background.
        self.releaser = None
        _live_clones.add(self)

    @property
    def engine(self):
        """The SQLAlchemy engine of this clone, created on first use."""
        if self._engine is None:
            self._engine = self.backend.create_clone_engine(self)
        return self._engine

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


def drop_live_clones():
    """Drop every clone of this process that nobody dropped (called at exit)."""
    for clone in list(_live_clones):
        try:
            clone.drop()
        except Exception:
            # At interpreter exit there is nobody left to tell; the next run reaps leftovers.
            pass
