"""Clones made ahead, and dropped behind, by a background thread.

On servers a clone is a CREATE DATABASE (tens to hundreds of milliseconds);
preparing the next one while a test runs hides that latency. Each prepared
clone sits in a queue and is handed out exactly once.
"""

import atexit
import queue
import threading

_STOP = object()


class ClonePool:
    """Keeps ``size`` clones ready; drops released clones off the test's critical path."""

    def __init__(self, make_clone, size=2, workers=2):
        self._make_clone = make_clone
        self._size = size
        self._ready = queue.Queue()
        self._work = queue.Queue()
        self._closed = False
        self._lock = threading.Lock()
        self._making = 0
        self._waiting = 0
        # Two workers let one CREATE DATABASE overlap another's DROP on the server.
        self._workers = [
            threading.Thread(target=self._run, name=f"dbtestkit-clone-pool-{n}", daemon=True)
            for n in range(workers)
        ]
        for worker in self._workers:
            worker.start()
        for _ in range(size):
            self._work.put("make")
        atexit.register(self.close)

    def take(self):
        """Return a clone nobody else has, waiting for the one being prepared if need be."""
        if self._closed:
            raise RuntimeError("the clone pool is closed")
        with self._lock:
            self._waiting += 1
        self._work.put("make")
        try:
            item = self._ready.get()
        finally:
            with self._lock:
                self._waiting -= 1
        if isinstance(item, BaseException):
            # Preparing failed (the golden vanished, the server went away):
            # make one here so the caller sees the real error.
            return self._make_clone()
        item.releaser = self.release
        return item

    def release(self, clone):
        """Queue a used clone to be dropped in the background."""
        if self._closed:
            clone.backend.drop_clone(clone)
        else:
            self._work.put(clone)

    def close(self):
        """Stop the workers, then drop every prepared and released clone."""
        if self._closed:
            return
        self._closed = True
        for _ in self._workers:
            self._work.put(_STOP)
        for worker in self._workers:
            worker.join(timeout=60)
        leftovers = []
        for pending in (self._work, self._ready):
            while True:
                try:
                    leftovers.append(pending.get_nowait())
                except queue.Empty:
                    break
        for item in leftovers:
            if item is not _STOP and item != "make" and not isinstance(item, BaseException):
                self._drop(item)

    def _run(self):
        while True:
            item = self._work.get()
            if item is _STOP:
                return
            if item == "make":
                with self._lock:
                    # Enough ready or on the way for the spare stock plus every waiting taker.
                    if self._closed or (
                        self._ready.qsize() + self._making >= self._size + self._waiting
                    ):
                        continue
                    self._making += 1
                try:
                    self._ready.put(self._make_clone())
                except BaseException as error:  # handed to the waiting taker
                    self._ready.put(error)
                finally:
                    with self._lock:
                        self._making -= 1
                continue
            self._drop(item)

    @staticmethod
    def _drop(clone):
        try:
            clone.backend.drop_clone(clone)
        except Exception:
            # Left for reap(): its name says which process made it.
            pass
