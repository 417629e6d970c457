"""Never touch what dbtestkit did not create: a name is not ownership, and no decision races a build.

On the servers, where databases share one namespace with everyone else's.
"""

import json
import os
import signal
import time
from pathlib import Path

import dbtestkit
from dbtestkit.backends.processes import this_host
from tests.backends import for_each_backend
from tests.backends.crash import Slot
from tests.support import ENSURE_AND_READ, dead_pid, kill, run_python, start_python, wait_until


@for_each_backend("postgresql", "mysql")
class NeverTouchWhatItDidNotCreate:
    """Databases named like dbtestkit's but not provably its own are left alone, with advice"""

    def test_empty_database_with_the_golden_name_is_refused_kept_and_explained(self):
        database = self.make_database()
        fingerprint = database.fingerprint()
        name = database.backend.golden_name(fingerprint)
        # Made by the very same user, as a squatter would: only dbtestkit's records prove ownership.
        self.side.plant(self.side.url, name, rows=False)
        with self.assertRaises(dbtestkit.DbtestkitError) as caught:
            database.ensure_golden()
        message = str(caught.exception)
        self.assertIn(name, message)
        self.assertRegex(message, "(drop it yourself|Drop it yourself)")
        self.assertTrue(self.side.exists(name), "dbtestkit dropped a database it did not make")
        self.assertEqual(self.side.leftovers(fingerprint), [])

    def test_clone_named_database_of_a_dead_pid_holding_rows_survives_reap_and_a_run(self):
        database = self.make_database()
        fingerprint = database.fingerprint()
        url = self.side.account(self, [fingerprint])
        name = f"dbtk_clone_{fingerprint[:12]}_{this_host()}_{dead_pid()}_1_abcdef"
        planter = url if self.backend == "postgresql" else self.side.url
        self.side.plant(planter, name)
        self.addCleanup(self.side.remove_everything_of, fingerprint)
        ours = self.make_database(url=url)
        self.assertNotIn(name, ours.backend.leftover_clones())
        self.assertEqual(ours.backend.reap(), [])
        with ours.clone():  # the first clone of a run reaps too
            pass
        self.assertEqual(self.side.precious(name), [42], "a database dbtestkit did not make was dropped")

    def test_a_build_paused_right_after_its_create_database_is_left_to_its_builder(self):
        # Process A holds the build lock and has just created its database; B starts a
        # cold run, C reaps. Neither may drop A's database; A then finishes, B reuses it.
        slot = Slot(self, self.tmp / "race", 0)
        job = slot.job("build", pause_on=r"^sql CREATE DATABASE")
        builder = slot.zygote.start(job)
        running = [True]
        self.addCleanup(lambda: running[0] and _kill(builder))
        self.assertTrue(wait_until(Path(job["last"]).exists, timeout=60),
                        "the builder never reached its CREATE DATABASE")
        created = [a for a in self.side.artifacts(slot.fingerprint, slot.cache)
                   if a.startswith("dbtk_")]
        self.assertEqual(len(created), 1, created)

        other = start_python(ENSURE_AND_READ, slot.url, slot.ini, slot.cache, cwd=self.tmp)
        self.addCleanup(kill, other)
        reaper = self.make_database(url=slot.url, alembic_ini=slot.ini, cache_dir=slot.cache)
        time.sleep(1.5)  # long enough for B to look, and for today's code to drop
        reaped = reaper.backend.reap()
        self.assertEqual([a for a in self.side.artifacts(slot.fingerprint, slot.cache)
                          if a.startswith("dbtk_")], created, "another process dropped A's build")
        self.assertEqual(reaped, [])

        os.kill(builder, signal.SIGCONT)
        code = slot.zygote.wait()
        running[0] = False
        self.assertEqual(code, 0, Path(job["log"]).read_text())
        out, err = other.communicate(timeout=60)
        self.assertEqual(other.returncode, 0, err)
        self.assertFalse(json.loads(out)["built"], "B built a second golden")
        self.assertIsNone(slot.recover("build"))


@for_each_backend("postgresql")
class IntentRecords:
    """On PostgreSQL an unmarked database is ours only with an intent record (MariaDB: its catalog)"""

    def test_an_unmarked_database_is_ours_only_with_an_intent_record_of_this_server_and_user(self):
        # What a kill between CREATE DATABASE and its COMMENT leaves on PostgreSQL (on
        # MariaDB the catalog row comes first); the intent file is the only proof.
        database = self.make_database()
        fingerprint = database.fingerprint()
        url = self.side.account(self, [fingerprint])
        ours = self.make_database(url=url)
        names = [f"dbtk_clone_{fingerprint[:12]}_{this_host()}_{dead_pid()}_{n}_abcdef" for n in (1, 2)]
        for name in names:
            self.side.plant(url, name, rows=False)
        journal = ours.backend.intents
        journal.record(names[0], "clone", fingerprint)
        journal.record(names[1], "clone", fingerprint)
        for name, changes in ((names[0], {"pid": dead_pid()}), (names[1], {"pid": dead_pid(), "user": "x"})):
            path = journal._path(name)
            path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
        self.assertEqual(ours.backend.reap(), [names[0]])
        self.assertFalse(self.side.exists(names[0]))
        self.assertTrue(self.side.exists(names[1]), "an intent of another user was taken as proof")


@for_each_backend("postgresql", "mysql")
class LeftoversAreListedAndReaped:
    """status lists what a killed build leaves, and reap removes it"""

    def test_a_build_killed_before_its_publication_is_listed_by_status_and_reaped(self):
        # PostgreSQL: after ALTER DATABASE … IS_TEMPLATE, before the RENAME;
        # MariaDB: in the middle of the migrations.
        point = r"^sql (ALTER DATABASE .* IS_TEMPLATE true|CREATE TABLE book)"
        slot = Slot(self, self.tmp / "killed", 0)
        job = slot.job("build", kill_on=point)
        self.assertEqual(slot.zygote.run(job), -signal.SIGKILL, Path(job["log"]).read_text())
        left = [a for a in self.side.artifacts(slot.fingerprint, slot.cache) if a.startswith("dbtk_")]
        self.assertEqual(len(left), 1, f"the kill after {Path(job['last']).read_text()} left {left}")

        status = self.cli(slot, "status")
        self.assertEqual(status.returncode, 0, status.stderr)
        self.assertIn(left[0], status.stdout)
        reap = self.cli(slot, "reap")
        self.assertEqual(reap.returncode, 0, reap.stderr)
        self.assertIn(left[0], reap.stdout)
        self.assertEqual(self.side.artifacts(slot.fingerprint, slot.cache), [])
        self.assertNotIn(left[0], self.cli(slot, "status").stdout)

    def cli(self, slot, command):
        return run_python(["-m", "dbtestkit", "--url", slot.url, "--alembic-ini", str(slot.ini),
                           "--cache-dir", str(slot.cache), command], cwd=self.tmp,
                          env={k: "" for k in os.environ if k.startswith("DBTESTKIT_")})


def _kill(pid):
    # Only for a job still running (stopped): its pid cannot have been reused.
    os.kill(pid, signal.SIGKILL)
    os.kill(pid, signal.SIGCONT)
