"""The one channel through which the library tells a human something: lines on stderr, a summary at exit.

env.py files commonly call ``logging.config.fileConfig()``, which disables
existing loggers, so messages that matter (build progress, where a failed
test's clone was kept) go straight to stderr instead of through logging.
With ``DBTESTKIT_VERBOSE=1`` each process also sums up, at exit, what it
did with goldens and clones.
"""

import atexit
import os
import sys


def report(message):
    """Write one ``dbtestkit:`` line to stderr."""
    stream = sys.stderr
    stream.write(f"dbtestkit: {message}\n")
    stream.flush()


def verbose():
    """Tell whether DBTESTKIT_VERBOSE asks for progress and summaries."""
    return os.environ.get("DBTESTKIT_VERBOSE", "") not in ("", "0")


class RunStats:
    """Counts goldens reused or built, and how long clones took, in one process."""

    def __init__(self):
        self.goldens = {}
        self.clone_seconds = []
        # Set when a test runner prints the summary itself (pytest captures stderr at exit).
        self.claimed = False

    def golden_ready(self, golden, label):
        """Note that ``golden`` was reused or built (the first event per fingerprint counts)."""
        self.goldens.setdefault(golden.fingerprint, (label, golden))

    def clone_made(self, seconds):
        """Note the time one clone took to hand out."""
        self.clone_seconds.append(seconds)

    def summary(self):
        """Return the summary as lines of text."""
        lines = []
        for fingerprint, (label, golden) in self.goldens.items():
            if golden.built:
                state = f"built in {golden.seconds:.2f}s"
            elif golden.waited is not None:
                state = f"waited {golden.waited * 1000:.1f} ms for another process's build, then reused"
            else:
                state = f"reused (checked in {golden.seconds * 1000:.1f} ms)"
            lines.append(f"golden {label} {fingerprint[:10]}… {state}")
        if self.clone_seconds:
            import statistics  # only for the summary at exit: not on every start

            median = statistics.median(self.clone_seconds) * 1000
            lines.append(f"{len(self.clone_seconds)} clones made, median {median:.1f} ms")
        return lines

    def claim(self):
        """Return the summary lines, leaving it to the caller to show them instead of the exit hook."""
        self.claimed = True
        return [f"[pid {os.getpid()}] {line}" for line in self.summary()]


RUN = RunStats()


def _report_summary():
    if verbose() and not RUN.claimed:
        for line in RUN.summary():
            report(f"[pid {os.getpid()}] {line}")


atexit.register(_report_summary)
