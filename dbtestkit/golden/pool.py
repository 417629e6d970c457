"""Clones made ahead, and dropped behind, by background threads.

On servers a clone is a CREATE DATABASE (tens to hundreds of milliseconds);
preparing the next ones while tests run hides that latency. Each prepared
clone is handed out exactly once.

Making comes before dropping: on PostgreSQL every DROP DATABASE requests a
checkpoint, which slows a CREATE DATABASE running beside it several times
over (benchmarks/servers.py). Used clones are therefore dropped when no
clone is wanted, or once too many are waiting, and at the latest at close().

At exit only the clone each worker is making or dropping is waited for: the
clones prepared or waiting for their DROP stay on the server, marked with
this process's pid, and the next run's reap removes them in the background
(their maker is gone by then).
"""

import atexit
import collections
import threading

# Used clones allowed to wait for their DROP while makes keep the workers busy.
MAX_PENDING_DROPS = 8


class ClonePool:
    """Keeps ``size`` clones ready for the next tests; drops used ones off the critical path."""

    def __init__(self, make_clone, size=2, workers=2, limit=None):
        self._make_clone = make_clone
        self._size = size
        # At most this many clones are made ahead in all (a class that needs
        # N copies): beyond it, take() makes one itself.
        self._limit = limit
        self._started = 0
        self._ready = collections.deque()
        self._drops = collections.deque()
        self._making = 0
        self._waiting = 0
        self._closed = False
        # Set at exit: what is left is left to the next run's reap.
        self._left_to_reap = False
        self._changed = threading.Condition()
        self._workers = [
            threading.Thread(target=self._run, name=f"dbtestkit-clone-pool-{n}", daemon=True)
            for n in range(workers)
        ]
        for worker in self._workers:
            worker.start()
        atexit.register(self.leave_to_reap)

    def take(self):
        """Return a clone nobody else has, waiting for one being prepared if need be."""
        with self._changed:
            if self._closed:
                raise RuntimeError("the clone pool is closed")
            self._waiting += 1
            self._changed.notify_all()
            while not self._ready and not (self._exhausted() and not self._making):
                self._changed.wait()
            item = self._ready.popleft() if self._ready else None
            self._waiting -= 1
            self._changed.notify_all()
        if item is None:
            return self._make_clone()
        if isinstance(item, BaseException):
            # Preparing failed (the golden vanished, the server went away):
            # make one here so the caller sees the real error.
            return self._make_clone()
        item.hand_over(self.release)
        return item

    def release(self, clone):
        """Queue a used clone to be dropped in the background."""
        with self._changed:
            if not self._closed:
                self._drops.append(clone)
                self._changed.notify_all()
                return
            left_to_reap = self._left_to_reap
        if left_to_reap:
            clone.leave_to_reap()
        else:
            clone.backend.drop_clone(clone)

    def status(self):
        """Return how many clones are ready, being made, and waiting to be dropped."""
        with self._changed:
            return {
                "size": self._size,
                "ready": len(self._ready),
                "making": self._making,
                "pending_drops": len(self._drops),
            }

    def close(self, hand_to=None):
        """Stop the workers, then drop every prepared and released clone (or pass each to ``hand_to``)."""
        with self._changed:
            if self._closed:
                return
            self._closed = True
            self._changed.notify_all()
        for worker in self._workers:
            worker.join(timeout=60)
        leftovers = list(self._ready) + list(self._drops)
        self._ready.clear()
        self._drops.clear()
        for item in leftovers:
            if not isinstance(item, BaseException):
                if hand_to is not None:
                    hand_to(item)
                else:
                    self._drop(item)

    def leave_to_reap(self):
        """Stop the workers without waiting for them, leaving the prepared and used clones to reap (at exit)."""
        with self._changed:
            if self._closed:
                return
            self._closed = True
            self._left_to_reap = True
            self._changed.notify_all()
            leftovers = list(self._ready) + list(self._drops)
            self._ready.clear()
            self._drops.clear()
        for item in leftovers:
            if not isinstance(item, BaseException):
                item.leave_to_reap()
        # Each finishes the clone it is making or dropping (at most one: a
        # thread still talking to a server while the interpreter shuts down
        # can crash it) and leaves what it made to reap too.
        for worker in self._workers:
            worker.join(timeout=60)

    def _next_job(self):
        with self._changed:
            while not self._closed:
                wanted = self._size + self._waiting - len(self._ready) - self._making
                if wanted > 0 and not self._exhausted() and len(self._drops) < MAX_PENDING_DROPS:
                    self._making += 1
                    self._started += 1
                    return "make"
                if self._drops:
                    return self._drops.popleft()
                self._changed.wait()
            return None

    def _exhausted(self):
        return self._limit is not None and self._started >= self._limit

    def _run(self):
        while True:
            job = self._next_job()
            if job is None:
                return
            if job != "make":
                self._drop(job)
                continue
            try:
                item = self._make_clone()
            except BaseException as error:  # handed to the waiting taker
                item = error
            with self._changed:
                self._making -= 1
                if self._left_to_reap and not isinstance(item, BaseException):
                    item.leave_to_reap()
                elif self._closed and not isinstance(item, BaseException):
                    self._drops.append(item)
                else:
                    self._ready.append(item)
                self._changed.notify_all()

    @staticmethod
    def _drop(clone):
        try:
            clone.backend.drop_clone(clone)
        except Exception:
            # Left for reap(): its name says which process made it.
            pass
