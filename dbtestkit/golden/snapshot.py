"""Class snapshots: a clone of a golden with a class's data committed in it, copied once per test."""

import threading
import time

from dbtestkit.golden.pool import ClonePool
from dbtestkit.report import RUN


class Snapshot:
    """A clone of ``golden`` holding what ``load(connection)`` commits; ``clone()`` copies it for one test.

    ``expected`` (if known) is how many copies will be taken: on the servers
    no more than that are made ahead.

    ``open()`` makes it, ``close()`` drops it and the copies prepared ahead.
    It is a clone like any other (provably ours, reaped if its process dies);
    its copies are clones whose source is a clone.
    """

    def __init__(self, golden, load, expected=None):
        self.golden = golden
        # How many copies will be taken, if known: no more are made ahead.
        self.expected = expected
        self.backend = golden.backend
        self._load = load
        self.source = None
        self._pools = {}
        self._pools_lock = threading.Lock()

    def open(self):
        """Clone the golden and load the data into it, committed; return this snapshot."""
        self.source = self.golden.clone()
        engine = self.source.engine
        try:
            with engine.connect() as connection:
                self._load(connection)
                if connection.in_transaction():
                    connection.commit()
        except BaseException:
            self.close()
            raise
        finally:
            # PostgreSQL copies a database only while nobody is connected to it.
            engine.dispose()
        return self

    def clone(self, kind=None):
        """Return a new copy of the snapshot for one test (``kind`` as ``Golden.clone``)."""
        if self.source is None:
            raise RuntimeError("the snapshot is not open; call open() first")
        storage = self.backend.clone_storage(kind)
        started = time.perf_counter()
        if self.backend.pooled:
            clone = self._pool_for(storage).take()
        else:
            clone = self.backend.copy_clone(self.source, storage)
        if self.golden.enforce_foreign_keys:
            self.backend.enforce_foreign_keys(clone)
        RUN.clone_made(time.perf_counter() - started)
        return clone

    def _pool_for(self, storage):
        with self._pools_lock:
            if storage not in self._pools:
                source = self.source
                self._pools[storage] = ClonePool(lambda: self.backend.copy_clone(source, storage),
                                                 limit=self.expected)
            return self._pools[storage]

    def close(self):
        """Drop the copies prepared ahead, then the snapshot itself; safe to call twice.

        On the servers they are handed to the golden's pool, which drops them
        in the background (a DROP DATABASE can take longer than a test).
        """
        pools, self._pools = self._pools, {}
        source, self.source = self.source, None
        release = source.releaser if source is not None else None
        for pool in pools.values():
            pool.close(hand_to=release)
        if source is not None:
            source.drop()

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        return f"<Snapshot of {self.golden!r}>"
