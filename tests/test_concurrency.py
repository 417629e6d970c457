"""Several real processes sharing one cache: one builds, the others wait; kills are survived."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.support import ENSURE_AND_READ, REPO, TempProjectCase, run_python

def child_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBTESTKIT_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def start_python(args, cwd, **env):
    return subprocess.Popen(
        [sys.executable, *args], cwd=cwd, env=child_env(**env), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def sleep_revision(revision, table, seconds):
    """A revision that creates ``table`` after sleeping ``seconds``."""
    return (revision, f"create {table}", (
        f"import time\ntime.sleep({seconds})\n"
        f'op.create_table("{table}", sa.Column("id", sa.Integer, primary_key=True))'
    ), f'op.drop_table("{table}")')


AUTHOR = ("0001", "create author", (
    'op.create_table("author", sa.Column("id", sa.Integer, primary_key=True), '
    'sa.Column("name", sa.String(100), nullable=False))\n'
    "op.execute(\"INSERT INTO author (name) VALUES ('Ursula K. Le Guin')\")"
), 'op.drop_table("author")')


class ConcurrencyCase(TempProjectCase):
    def build_files(self, cache=None):
        return sorted(p.name for p in (Path(cache or self.cache_dir) / "sqlite").glob("build-*"))

    def golden_files(self, cache=None):
        return sorted((Path(cache or self.cache_dir) / "sqlite").glob("golden-*.sqlite"))

    def ensure_in_new_process(self, cache=None):
        result = run_python(
            ["-c", ENSURE_AND_READ, "", str(self.ini), str(cache or self.cache_dir)], cwd=self.tmp,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        return json.loads(result.stdout)

    def kill(self, process):
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=30)  # reaps it: a zombie would still look alive

    def wait_for(self, path, process, timeout=30):
        deadline = time.monotonic() + timeout
        while not Path(path).exists():
            if process.poll() is not None:
                self.fail(f"child exited early: {process.communicate()}")
            if time.monotonic() > deadline:
                self.kill(process)
                self.fail(f"{path} did not appear within {timeout}s")
            time.sleep(0.01)


class ColdStartTest(ConcurrencyCase):
    revisions = [AUTHOR, sleep_revision("0002", "shelf", 0.5)]
    processes = 5

    def run_together(self):
        """Start the children, release them at once, return their reports."""
        go = self.tmp / "go"
        children = [
            start_python(["-c", ENSURE_AND_READ, "", str(self.ini), str(self.cache_dir), str(go)], self.tmp)
            for _ in range(self.processes)
        ]
        for child in children:
            self.addCleanup(self.kill, child)
        # Release them together once every one has imported dbtestkit.
        for child in children:
            self.wait_for(f"{go}.ready-{child.pid}", child)
        go.touch()
        reports = []
        for child in children:
            out, err = child.communicate(timeout=60)
            self.assertEqual(child.returncode, 0, err)
            reports.append(json.loads(out))
        return reports

    def assertAllSeeTheGolden(self, reports):
        self.assertEqual(len({r["fingerprint"] for r in reports}), 1)
        for report in reports:
            self.assertEqual(report["heads"], ["0002"])
            self.assertEqual(report["authors"], ["Ursula K. Le Guin"])
            self.assertTrue({"author", "shelf"} <= set(report["tables"]))
        self.assertEqual(len(self.golden_files()), 1)
        self.assertEqual(self.build_files(), [])

    def test_processes_starting_together_build_the_golden_exactly_once(self):
        reports = self.run_together()
        self.assertEqual(sum(r["built"] for r in reports), 1, reports)
        self.assertAllSeeTheGolden(reports)

    def test_processes_finding_a_tampered_golden_rebuild_it_exactly_once(self):
        golden = self.database().ensure_golden()
        path = Path(golden.url[len("sqlite:///"):])
        connection = sqlite3.connect(path)
        with connection:
            connection.execute("UPDATE alembic_version SET version_num = '0001'")
        connection.close()
        reports = self.run_together()
        self.assertEqual(sum(r["built"] for r in reports), 1, reports)
        self.assertAllSeeTheGolden(reports)


# The second revision stalls when KILLTEST_MARKER is set, after saying so in that file.
STALLING = ("0002", "stall then create book", (
    "import os, pathlib, time\n"
    'marker = os.environ.get("KILLTEST_MARKER")\n'
    "if marker:\n"
    '    pathlib.Path(marker).write_text("building")\n'
    "    time.sleep(30)\n"
    'op.create_table("book", sa.Column("id", sa.Integer, primary_key=True))'
), 'op.drop_table("book")')


class KilledBuildTest(ConcurrencyCase):
    revisions = [AUTHOR, STALLING, sleep_revision("0003", "shelf", 0)]

    def test_build_killed_mid_migration_is_rebuilt_by_next_process(self):
        marker = self.tmp / "marker"
        child = start_python(
            ["-c", ENSURE_AND_READ, "", str(self.ini), str(self.cache_dir)], self.tmp,
            KILLTEST_MARKER=str(marker),
        )
        self.addCleanup(self.kill, child)
        self.wait_for(marker, child)
        self.kill(child)
        self.assertNotEqual(self.build_files(), [], "the killed build left no file: nothing was tested")
        self.assertEqual(self.golden_files(), [])

        report = self.ensure_in_new_process()
        self.assertTrue(report["built"])
        self.assertEqual(report["heads"], ["0003"])
        self.assertTrue({"author", "book", "shelf"} <= set(report["tables"]))
        self.assertEqual(self.build_files(), [])

    def test_killed_builder_does_not_hold_the_lock(self):
        marker = self.tmp / "marker"
        child = start_python(
            ["-c", ENSURE_AND_READ, "", str(self.ini), str(self.cache_dir)], self.tmp,
            KILLTEST_MARKER=str(marker),
        )
        self.addCleanup(self.kill, child)
        self.wait_for(marker, child)
        self.kill(child)
        started = time.monotonic()
        self.ensure_in_new_process()
        self.assertLess(time.monotonic() - started, 15, "the next process waited for a dead builder")


class KilledAtAnyMomentTest(ConcurrencyCase):
    revisions = [sleep_revision(f"000{n}", f"t{n}", 0.08) for n in range(1, 6)]
    revisions[0] = (revisions[0][0], revisions[0][1], revisions[0][2] + "\n" + AUTHOR[2], "pass")
    delays = (0.05, 0.3, 0.5, 0.7, 0.9, 1.2)

    def test_next_process_always_recovers_a_complete_golden(self):
        killed_mid_build = 0
        for delay in self.delays:
            with self.subTest(kill_after=delay):
                cache = self.tmp / f"cache-{delay}"
                child = start_python(["-c", ENSURE_AND_READ, "", str(self.ini), str(cache)], self.tmp)
                self.addCleanup(self.kill, child)
                time.sleep(delay)
                self.kill(child)
                published_before = bool(self.golden_files(cache))
                killed_mid_build += bool(self.build_files(cache)) and not published_before

                report = self.ensure_in_new_process(cache)
                if not published_before:
                    self.assertTrue(report["built"])
                self.assertEqual(report["heads"], ["0005"])
                self.assertTrue({"author", "t1", "t2", "t3", "t4", "t5"} <= set(report["tables"]))
                self.assertEqual(report["authors"], ["Ursula K. Le Guin"])
                self.assertEqual(self.build_files(cache), [])
                self.assertEqual(len(self.golden_files(cache)), 1)
        # Otherwise the timings missed the build entirely and nothing was tested.
        self.assertGreater(killed_mid_build, 0)


# Makes a file clone, says where it is, then dies without cleaning up.
CLONE_AND_DIE = textwrap.dedent("""
    import os, signal, sys
    import dbtestkit
    database = dbtestkit.TestDatabase(alembic_ini=sys.argv[1], cache_dir=sys.argv[2])
    clone = database.clone(kind="file")
    print(clone.location, flush=True)
    if sys.argv[3] == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    sys.stdin.read()
""")


class LeftoverCloneTest(ConcurrencyCase):
    def setUp(self):
        super().setUp()
        self.database().ensure_golden()

    def clone_in_child(self, mode):
        child = start_python(["-c", CLONE_AND_DIE, str(self.ini), str(self.cache_dir), mode], self.tmp)
        self.addCleanup(self.kill, child)
        line = child.stdout.readline().strip()
        self.assertTrue(line, child.stderr.read() if child.poll() is not None else "no output")
        return child, Path(line)

    def start_holder(self):
        child = subprocess.Popen(
            [sys.executable, "-c", CLONE_AND_DIE, str(self.ini), str(self.cache_dir), "hold"],
            cwd=self.tmp, env=child_env(), text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.addCleanup(self.kill, child)
        path = Path(child.stdout.readline().strip())
        return child, path

    def test_clone_file_is_named_after_host_and_pid_of_its_process(self):
        child, path = self.clone_in_child("die")
        child.wait(timeout=30)
        self.assertRegex(path.name, rf"^clone-[0-9a-f]{{12}}-[A-Za-z0-9]+-{child.pid}-\d+-[0-9a-f]{{6}}\.sqlite$")
        self.assertEqual(path.parent, self.cache_dir.resolve() / "sqlite" / "clones")

    def test_reap_removes_clone_of_killed_process(self):
        child, path = self.clone_in_child("die")
        child.wait(timeout=30)
        self.assertEqual(child.returncode, -signal.SIGKILL)
        self.assertTrue(path.is_file())
        reaped = self.database().backend.reap()
        self.assertEqual(reaped, [path.name])
        self.assertFalse(path.exists())

    def test_next_file_clone_reaps_clone_of_killed_process(self):
        child, path = self.clone_in_child("die")
        child.wait(timeout=30)
        self.assertTrue(path.is_file())
        with self.database().clone(kind="file") as clone:
            self.assertTrue(Path(clone.location).is_file())
            self.assertFalse(path.exists())

    def test_reap_keeps_clone_of_live_process(self):
        child, path = self.start_holder()
        self.assertTrue(path.is_file())
        self.assertEqual(self.database().backend.reap(), [])
        self.assertTrue(path.is_file())
        child.communicate("", timeout=30)  # stdin closed: it exits normally and drops its clone
        self.assertEqual(child.returncode, 0)
        self.assertFalse(path.exists())


if __name__ == "__main__":
    import unittest

    unittest.main()
