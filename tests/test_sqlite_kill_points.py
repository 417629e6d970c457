"""SQLite: SIGKILL after every file operation and statement; the next run recovers and leaves only the golden."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

import sqlalchemy as sa

import dbtestkit
from tests.support import TempProjectCase, golden_path, python_env, tamper
from tests.test_sqlite_trust import SEEDED_AUTHORS, authors, wait_for_the_clock_to_pass

SHM = Path("/dev/shm")


# Runs scenarios, each in a forked child that SIGKILLs itself right after its
# Nth file operation or SQL statement (N = 0: never; the child then reports
# every step it took). Forked after the imports, so that a kill point costs
# milliseconds. Reads `[cache, scenario, N]` lines; writes one JSON line each.
KILLING_ZYGOTE = textwrap.dedent("""
    import json, os, signal, sys
    import sqlalchemy as sa
    import dbtestkit

    seed = sys.argv[1]
    write = os.write
    TRACED = ("open", "write", "fsync", "close", "replace", "rename", "unlink", "utime", "chmod")

    def run(cache, scenario, kill_at, trace=True):
        steps = []

        def step(name):
            steps.append(name)
            if len(steps) == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

        def traced(name, function):
            def call(*args, **kwargs):
                result = function(*args, **kwargs)
                step(f"{name} {os.path.basename(str(args[0])) if args else ''}")
                return result
            return call

        if trace:
            for name in TRACED:
                setattr(os, name, traced(name, getattr(os, name)))
            sa.event.listen(sa.engine.Engine, "after_cursor_execute",
                            lambda conn, cursor, statement, *rest: step("sql " + statement.split()[0]))
        metadata = sa.MetaData()
        sa.Table("author", metadata, sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("name", sa.String(100), nullable=False))
        database = dbtestkit.TestDatabase(metadata=metadata, seeds=[seed], cache_dir=cache)
        database.ensure_golden()
        clone = database.clone()
        with clone.engine.connect() as connection:
            connection.execute(sa.text("SELECT name FROM author")).all()
        if scenario == "keep":
            clone.keep("tests.T.test_kept")
        else:
            clone.drop()
        return steps

    # Once here, untraced: the children start with every module loaded and every statement compiled.
    run(sys.argv[2], "keep", 0, trace=False)
    for line in sys.stdin:
        cache, scenario, kill_at = json.loads(line)
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(reader)
            try:
                report = {"steps": run(cache, scenario, kill_at)}
            except BaseException as error:
                report = {"error": repr(error)}
            write(writer, json.dumps(report).encode())
            os._exit(0)
        os.close(writer)
        with os.fdopen(reader, "rb") as stream:
            report = json.loads(stream.read() or b"{}")
        _, status = os.waitpid(pid, 0)
        report["killed"] = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        print(json.dumps(report), flush=True)
""")


def author_metadata():
    """The zygote's one-table schema (it builds without importing Alembic)."""
    metadata = sa.MetaData()
    sa.Table("author", metadata, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("name", sa.String(100), nullable=False))
    return metadata


@unittest.skipUnless(hasattr(os, "fork"), "kills forked children")
class KilledAtEveryStepTest(TempProjectCase):
    """SIGKILL after every file operation and statement: build, rebuild, restamp, keep."""

    def setUp(self):
        super().setUp()
        self.seed = self.tmp / "authors.sql"
        self.seed.write_text("INSERT INTO author (name) VALUES ('Ursula K. Le Guin');\n")
        # The caches on tmpfs where there is one: a hundred builds' fsyncs take long on disk.
        self.caches = Path(tempfile.mkdtemp(prefix="dbtestkit-killed-", dir=SHM if SHM.is_dir() else None))
        self.addCleanup(shutil.rmtree, self.caches, True)
        self.template = self.caches / "template"
        self.golden = self.author_database(self.template).ensure_golden()
        self.zygote = subprocess.Popen(
            [sys.executable, "-c", KILLING_ZYGOTE, str(self.seed), str(self.caches / "warm")],
            cwd=self.tmp, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=python_env(),
        )
        self.addCleanup(self.zygote.wait, 30)
        self.addCleanup(self.zygote.stdout.close)
        self.addCleanup(self.zygote.stdin.close)

    def author_database(self, cache):
        return dbtestkit.TestDatabase(metadata=author_metadata(), seeds=[self.seed], cache_dir=cache)

    def run_killed(self, cache, scenario, kill_at):
        """Run ``scenario`` on ``cache`` in a child killed after step ``kill_at``; return its report."""
        self.zygote.stdin.write(json.dumps([str(cache), scenario, kill_at]) + "\n")
        self.zygote.stdin.flush()
        report = json.loads(self.zygote.stdout.readline() or "{}")
        self.assertNotIn("error", report)
        self.assertEqual(report.get("killed"), kill_at > 0 and "steps" not in report, report)
        return report.get("steps")

    def prepared(self, scenario, number):
        cache = self.caches / f"{scenario}-{number}"
        if scenario == "build":
            return cache
        shutil.copytree(self.template, cache)
        path = cache / "sqlite" / golden_path(self.golden).name
        if scenario == "rebuild":
            tamper(path, "UPDATE author SET name = 'Somebody Else'")
        elif scenario == "restamp":  # same bytes under a new inode, as a CI cache restore leaves them
            shutil.copy2(path, cache / "copy")
            os.replace(cache / "copy", path)
            wait_for_the_clock_to_pass(path)
        return cache

    def assertRecovered(self, cache, step):
        database = self.author_database(cache)
        database.ensure_golden()
        with database.clone() as clone:
            self.assertEqual(authors(clone.url), SEEDED_AUTHORS, f"after a kill at {step}")
        # What a kill while keeping leaves is a kept clone (perhaps of unknown test): prune removes it.
        database.backend.prune_kept()
        fingerprint = database.fingerprint()
        names = {p.name for p in (cache / "sqlite").iterdir()} - {f"golden-{fingerprint}.lock"}
        names -= {"kept"} if not any((cache / "sqlite" / "kept").glob("*")) else set()
        self.assertEqual(names, {f"golden-{fingerprint}.sqlite", f"golden-{fingerprint}.json"},
                         f"left behind after a kill at {step}")
        self.assertFalse(database.ensure_golden().built)

    def test_next_run_recovers_from_a_kill_at_every_step(self):
        for scenario in ("build", "rebuild", "restamp", "keep"):
            steps = self.run_killed(self.prepared(scenario, 0), scenario, 0)
            self.assertTrue(any(s.startswith("replace ") for s in steps), steps)
            for number, step in enumerate(steps, 1):
                with self.subTest(scenario=scenario, kill_after=step, number=number):
                    cache = self.prepared(scenario, number)
                    self.run_killed(cache, scenario, number)
                    self.assertRecovered(cache, step)
                    shutil.rmtree(cache)


if __name__ == "__main__":
    unittest.main()
