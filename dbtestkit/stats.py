"""What this process did with goldens and clones, for the verbose end-of-run summary."""

import atexit
import os
import statistics
import time

from dbtestkit.report import report

JOURNAL_NAME = "builds.log"


class RunStats:
    """Counts goldens reused or built, and how long clones took, in one process."""

    def __init__(self):
        self.goldens = {}
        self.clone_seconds = []

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
            median = statistics.median(self.clone_seconds) * 1000
            lines.append(f"{len(self.clone_seconds)} clones made, median {median:.1f} ms")
        return lines


RUN = RunStats()


def verbose():
    """Tell whether DBTESTKIT_VERBOSE asks for progress and summaries."""
    return os.environ.get("DBTESTKIT_VERBOSE", "") not in ("", "0")


def _report_summary():
    if verbose():
        for line in RUN.summary():
            report(f"[pid {os.getpid()}] {line}")


atexit.register(_report_summary)


def journal_build(cache_dir, golden, backend_name):
    """Append one line per golden build to the cache's build journal (``builds.log``)."""
    line = (
        f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {backend_name} {golden.fingerprint} "
        f"pid={os.getpid()} seconds={golden.seconds:.3f}\n"
    )
    # One short O_APPEND write per line: concurrent writers never interleave.
    fd = os.open(os.path.join(cache_dir, JOURNAL_NAME), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


def read_journal(cache_dir):
    """Return the lines of the cache's build journal (empty when nothing was built)."""
    try:
        with open(os.path.join(cache_dir, JOURNAL_NAME), encoding="utf-8") as journal:
            return journal.read().splitlines()
    except FileNotFoundError:
        return []
