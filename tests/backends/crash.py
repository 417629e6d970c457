"""The parent side of the crash-point harness: kill a child after every point, then check recovery.

For one backend and one scenario (build, clone, keep: see crash_child), a
recording run lists every point the scenario passes (statements and file
operations). Then, for each point, a child runs the scenario again and is
SIGKILLed right after that point; a normal run follows (``recover``: use the
golden, a clone of it, reap), and the check is that it passed and that
nothing of the fingerprint is left but the golden. Points are shared out
over a few slots that run side by side, each with a project, cache and
server account of its own, so that one slot's leftovers and reaps never
change another's points.
"""

import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.backends.sides import normalise
from tests.support import DEFAULT_REVISIONS, child_env, rmtree, write_project

# A small history keeps each point's runs short: two tables, two revisions.
REVISIONS = DEFAULT_REVISIONS[:2]
HEAD = REVISIONS[-1][0]
TABLES = ["alembic_version", "author", "book"]
SLOTS = 3
# As in crash_child (which imports nothing of the tests): labels are cut to this length.
LABEL_LIMIT = 200


class Zygote:
    """A child Python that has imported everything once and forks one process per job."""

    def __init__(self, cwd):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.backends.crash_child"], cwd=cwd, env=child_env(), text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )

    def start(self, job):
        """Start ``job``; return the pid of its process."""
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        return self._read()["pid"]

    def wait(self):
        """Wait for the started job; return its exit code (negative: the signal that ended it)."""
        message = self._read()
        if message.get("timeout"):
            message = self._read()
            return f"timed out (exit {message['exit']})"
        return message["exit"]

    def run(self, job):
        """Run ``job`` to its end; return its exit code."""
        self.start(job)
        return self.wait()

    def _read(self):
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the crash harness child died (exit {self.process.wait()})")
        return json.loads(line)

    def close(self):
        """Stop serving jobs."""
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self.process.stdout.close()


class Slot:
    """One project, cache directory and server account, with its own zygote."""

    def __init__(self, test, root, index):
        self.test = test
        self.root = Path(root) / f"slot-{index}"
        self.cache = self.root / "cache"
        self.ini = write_project(self.root / "project", REVISIONS, test.env_py + f"# slot {index}\n")
        # The fingerprint does not depend on the account: take it as the admin.
        database = test.make_database(alembic_ini=self.ini, cache_dir=self.cache)
        self.fingerprint = database.fingerprint()
        test.side.fingerprints.add(self.fingerprint)
        self.url = test.side.account(test, [self.fingerprint])
        self.zygote = Zygote(self.root)
        test.addCleanup(self.zygote.close)
        self.jobs = 0

    def job(self, scenario, **extra):
        """Return a job description for this slot, with fresh log/result/record file names."""
        self.jobs += 1
        base = self.root / f"job-{self.jobs}-{scenario}"
        return {"scenario": scenario, "url": self.url, "ini": str(self.ini), "cache": str(self.cache),
                "log": f"{base}.log", "result": f"{base}.json", "last": f"{base}.last", **extra}

    def recover(self, scenario):
        """Run the normal run; return None when it passed and left only the golden, else why not."""
        job = self.job("recover", delete_kept=scenario == "keep")
        code = self.zygote.run(job)
        if code != 0:
            return f"the next run failed (exit {code}): {_tail(job['log'])}"
        result = json.loads(Path(job["result"]).read_text())
        if result["heads"] != [HEAD] or result["tables"] != TABLES:
            return f"the next run's clone holds {result['heads']} and tables {result['tables']}"
        side = self.test.side
        left = side.leftovers(self.fingerprint, self.cache)
        if left or not side.has_golden(self.fingerprint, self.cache):
            return f"left behind: {left}; golden present: {side.has_golden(self.fingerprint, self.cache)}"
        return None

    def reset(self, scenario, clean=False):
        """Start over for ``scenario``: without a golden for build, with one otherwise.

        After a recovery that passed, only the golden is left, which is where
        the other scenarios start: they are reset only when ``clean`` is asked.
        """
        if scenario != "build" and not clean:
            # As at the recording: a folder a killed run made (and left empty) is made again.
            _remove_empty_folders(self.cache)
            return
        self.test.side.remove_everything_of(self.fingerprint)
        for folder in ("sqlite", "intents"):
            rmtree(self.cache / folder)
        if scenario != "build":
            problem = self.recover(scenario)
            if problem:
                raise AssertionError(f"cannot prepare the golden for {scenario}: {problem}")


def run_crash_points(test, scenario, slots=SLOTS):
    """Kill a child after every point of ``scenario``; return (points, failures, seconds)."""
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="dbtestkit-crash-", dir=test.tmp))
    workers = [Slot(test, root, n) for n in range(slots)]
    points = record(workers[0], scenario)
    failures = []
    lock = threading.Lock()

    def work(slot, indexes):
        if slot is not workers[0]:
            slot.reset(scenario, clean=True)
        for index in indexes:
            problem = kill_and_recover(slot, scenario, index, points[index - 1])
            if problem:
                with lock:
                    failures.append(f"kill after point {index} ({points[index - 1]}): {problem}")
                slot.reset(scenario, clean=True)

    threads = [threading.Thread(target=work, args=(slot, range(n + 1, len(points) + 1, slots)))
               for n, slot in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return points, sorted(failures), time.monotonic() - started


def record(slot, scenario):
    """Run ``scenario`` once without a kill; return the labels of its points."""
    slot.reset(scenario, clean=True)
    job = slot.job(scenario, record=str(slot.root / f"points-{scenario}.txt"))
    code = slot.zygote.run(job)
    if code != 0:
        raise AssertionError(f"the {scenario} scenario fails without any kill: {_tail(job['log'])}")
    points = Path(job["record"]).read_text().splitlines()
    problem = slot.recover(scenario)
    if problem:
        raise AssertionError(f"after an uninterrupted {scenario}: {problem}")
    return points


def kill_and_recover(slot, scenario, index, label):
    """Kill ``scenario`` right after point ``index``; return None if the next run recovered."""
    slot.reset(scenario)
    job = slot.job(scenario, kill_at=index)
    code = slot.zygote.run(job)
    killed = Path(job["last"]).read_text() if Path(job["last"]).exists() else None
    if code != -9 or killed is None:
        return f"the child was not killed there (exit {code}): {_tail(job['log'])}"
    if not same_point(killed, label):
        return f"the child's point {index} was {killed!r}: the scenario is not deterministic"
    return slot.recover(scenario)


def run_random_kills(test, count):
    """Kill a cold build-then-clone run ``count`` times at random moments; return the failures."""
    slot = Slot(test, Path(tempfile.mkdtemp(prefix="dbtestkit-random-", dir=test.tmp)), 0)
    slot.reset("build")
    started = time.monotonic()
    if slot.zygote.run(slot.job("clone")) != 0:
        return ["the run fails without any kill"]
    duration = time.monotonic() - started
    failures = []
    for delay in sorted(random.uniform(0, duration) for _ in range(count)):
        slot.reset("build")
        code = slot.zygote.run(slot.job("clone", kill_after=delay))
        problem = slot.recover("clone")
        if problem:
            failures.append(f"killed after {delay:.3f} of {duration:.3f} s (exit {code}): {problem}")
    return failures


def same_point(one, other):
    """Tell whether two labels name the same point, names and numbers aside.

    The child cuts labels at LABEL_LIMIT characters, and a pid of another
    length moves that cut: then only what comes well before it is compared.
    """
    cut = max(len(one), len(other)) >= LABEL_LIMIT
    one, other = normalise(one), normalise(other)
    if cut:
        keep = min(len(one), len(other)) - 10
        one, other = one[:keep], other[:keep]
    return one == other


def _tail(path, lines=12):
    try:
        return "\n".join(Path(path).read_text().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _remove_empty_folders(root):
    for folder in sorted((p for p in Path(root).rglob("*") if p.is_dir()), reverse=True):
        if folder.parent != Path(root) and not any(folder.iterdir()):
            folder.rmdir()
