"""The ``dbtestkit`` command, run for real in a subprocess."""

import os
import shutil
import subprocess
import sys
import unittest
from pathlib import Path

import dbtestkit
from dbtestkit.backends.processes import pid_alive, process_tag
from tests import support
from tests.support import TempProjectCase, write_revision

CONSOLE_SCRIPT = Path(sys.executable).parent / "dbtestkit"


class CliCase(TempProjectCase):

    def cli(self, *args, project=True):
        """Run ``python -m dbtestkit`` with this case's project and cache dir."""
        options = ["--alembic-ini", str(self.ini), "--cache-dir", str(self.cache_dir)] if project else []
        return support.run_python(
            ["-m", "dbtestkit", *options, *args], cwd=self.tmp, env=self.child_env(),
        )

    def child_env(self):
        # No DBTESTKIT_* leak in (TempProjectCase popped them); keep any
        # default cache out of the real home.
        return {"XDG_CACHE_HOME": str(self.tmp / "xdg")}

    def assert_exit(self, result, code):
        self.assertEqual(
            result.returncode, code,
            f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}",
        )

    def goldens(self):
        return sorted(p.name for p in (self.cache_dir / "sqlite").glob("golden-*.sqlite"))

    def current_fingerprint(self):
        return self.database().fingerprint()


class FingerprintCommandTest(CliCase):

    def test_prints_the_same_fingerprint_as_the_library(self):
        result = self.cli("fingerprint")
        self.assert_exit(result, 0)
        self.assertRegex(result.stdout, r"^[0-9a-f]{64}\n$")
        self.assertEqual(result.stdout.strip(), self.current_fingerprint())

    def test_fingerprint_does_not_build_a_golden(self):
        self.assert_exit(self.cli("fingerprint"), 0)
        self.assertEqual(self.goldens(), [])


class BuildCommandTest(CliCase):

    def test_build_publishes_the_golden(self):
        result = self.cli("build")
        self.assert_exit(result, 0)
        fingerprint = self.current_fingerprint()
        self.assertIn(f"golden {fingerprint} built", result.stdout)
        self.assertEqual(self.goldens(), [f"golden-{fingerprint}.sqlite"])

    def test_build_reports_each_migration(self):
        result = self.cli("build")
        self.assert_exit(result, 0)
        progress = [line for line in result.stderr.splitlines() if "dbtestkit: golden" in line]
        self.assertEqual(len(progress), 5, result.stderr)
        self.assertIn("[4/4]", progress[3])
        self.assertIn("built in", progress[4])

    def test_second_build_says_already_built(self):
        self.assert_exit(self.cli("build"), 0)
        result = self.cli("build")
        self.assert_exit(result, 0)
        self.assertIn("already built", result.stdout)
        self.assertEqual(len(self.goldens()), 1)

    def test_failing_migration_exits_1_naming_the_revision(self):
        write_revision(self.versions, "0005", "broken", 'op.execute("THIS IS NOT SQL")', "pass", "0004")
        result = self.cli("build")
        self.assert_exit(result, 1)
        self.assertIn("dbtestkit:", result.stderr)
        self.assertIn("Migration 0005", result.stderr)
        self.assertIn("0005_broken.py", result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        self.assertEqual(self.goldens(), [])


class StatusCommandTest(CliCase):

    def test_status_before_build_says_missing(self):
        result = self.cli("status")
        self.assert_exit(result, 0)
        self.assertIn(f"fingerprint {self.current_fingerprint()}", result.stdout)
        self.assertRegex(result.stdout, r"golden\s+missing")

    def test_status_after_build_says_ready_and_lists_the_golden(self):
        self.assert_exit(self.cli("build"), 0)
        result = self.cli("status")
        self.assert_exit(result, 0)
        fingerprint = self.current_fingerprint()
        self.assertIn(f"fingerprint {fingerprint}", result.stdout)
        self.assertRegex(result.stdout, r"golden\s+ready")
        self.assertRegex(result.stdout, rf"\* {fingerprint[:16]}\s")

    def test_status_lists_goldens_of_other_fingerprints(self):
        self.assert_exit(self.cli("build"), 0)
        old = self.current_fingerprint()
        write_revision(self.versions, "0005", "more", 'op.execute("SELECT 1")', "pass", "0004")
        result = self.cli("status")
        self.assert_exit(result, 0)
        self.assertRegex(result.stdout, r"golden\s+missing")
        self.assertRegex(result.stdout, rf"\n\s+{old[:16]}\s")

    def test_status_masks_the_url_password(self):
        # SQLAlchemy parses credentials in a sqlite URL (and ignores them).
        result = self.cli("--url", "sqlite://user:s3cret@/", "status")
        self.assert_exit(result, 0)
        self.assertIn("sqlite://user:***@/", result.stdout)
        self.assertNotIn("s3cret", result.stdout + result.stderr)


class ClosedPipeTest(CliCase):
    """``dbtestkit status | head``: the reader may go away before the output is written."""

    def run_with_closed_stdout(self, *args):
        options = ["--alembic-ini", str(self.ini), "--cache-dir", str(self.cache_dir)]
        env = dict(os.environ, PYTHONPATH=str(support.REPO), **self.child_env())
        process = subprocess.Popen(
            [sys.executable, "-m", "dbtestkit", *options, *args], cwd=self.tmp, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        # Gone before a single byte is read, as `head -n 0` would be.
        process.stdout.close()
        stderr = process.stderr.read()
        process.stderr.close()
        return process.wait(timeout=60), stderr

    def test_status_into_a_closed_pipe_exits_quietly_like_unix_tools(self):
        self.assert_exit(self.cli("build"), 0)
        code, stderr = self.run_with_closed_stdout("status")
        self.assertEqual(stderr, "")
        self.assertEqual(code, 141)

    def test_fingerprint_into_a_closed_pipe_exits_quietly(self):
        code, stderr = self.run_with_closed_stdout("fingerprint")
        self.assertEqual((code, stderr), (141, ""))


class PruneCommandTest(CliCase):

    def test_prune_removes_goldens_of_older_fingerprints_and_keeps_the_current(self):
        self.assert_exit(self.cli("build"), 0)
        old = self.current_fingerprint()
        write_revision(
            self.versions, "0004", "seed authors",
            'op.execute("INSERT INTO author (name) VALUES (\'Octavia E. Butler\')")',
            'op.execute("DELETE FROM author")', "0003",
        )
        new = self.current_fingerprint()
        self.assertNotEqual(old, new)
        self.assert_exit(self.cli("build"), 0)
        self.assertEqual(self.goldens(), sorted([f"golden-{old}.sqlite", f"golden-{new}.sqlite"]))

        result = self.cli("prune")
        self.assert_exit(result, 0)
        self.assertIn(f"removed golden-{old}.sqlite", result.stdout)
        self.assertEqual(self.goldens(), [f"golden-{new}.sqlite"])

    def test_prune_keep_n_keeps_the_newest_other_goldens(self):
        fingerprints = []
        for number in range(3):
            write_revision(
                self.versions, f"01{number}0", f"extra {number}",
                f'op.execute("INSERT INTO author (name) VALUES (\'Extra {number}\')")',
                "pass", "0004" if number == 0 else f"01{number - 1}0",
            )
            fingerprints.append(self.current_fingerprint())
            self.assert_exit(self.cli("build"), 0)
            # Distinct modification times: "newest" is decided by them on SQLite.
            golden = self.cache_dir / "sqlite" / f"golden-{fingerprints[-1]}.sqlite"
            os.utime(golden, (1_000_000 + number, 1_000_000 + number))
        oldest, newer, current = fingerprints
        result = self.cli("prune", "--keep", "1")
        self.assert_exit(result, 0)
        self.assertEqual(self.goldens(), sorted([f"golden-{newer}.sqlite", f"golden-{current}.sqlite"]))
        self.assertIn(f"removed golden-{oldest}.sqlite", result.stdout)

    def test_prune_leaves_other_projects_goldens_unless_asked(self):
        other_ini = support.write_project(self.tmp / "other-project", support.DEFAULT_REVISIONS[:3])
        other = dbtestkit.TestDatabase(alembic_ini=other_ini, cache_dir=self.cache_dir)
        other_golden = f"golden-{other.fingerprint()}.sqlite"
        other.ensure_golden()
        self.assert_exit(self.cli("build"), 0)
        self.assert_exit(self.cli("prune"), 0)
        self.assertIn(other_golden, self.goldens())
        result = self.cli("prune", "--all-projects")
        self.assert_exit(result, 0)
        self.assertNotIn(other_golden, self.goldens())
        self.assertEqual(self.goldens(), [f"golden-{self.current_fingerprint()}.sqlite"])

    def test_prune_with_only_the_current_golden_removes_nothing(self):
        self.assert_exit(self.cli("build"), 0)
        result = self.cli("prune")
        self.assert_exit(result, 0)
        self.assertEqual(result.stdout, "")
        self.assertEqual(self.goldens(), [f"golden-{self.current_fingerprint()}.sqlite"])


def dead_pid():
    """Return the pid of a process that has exited (and been waited for)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    if pid_alive(process.pid):  # reused already: vanishingly rare
        raise unittest.SkipTest(f"pid {process.pid} was reused at once")
    return process.pid


class ReapCommandTest(CliCase):

    def setUp(self):
        super().setUp()
        self.assert_exit(self.cli("build"), 0)
        self.fingerprint = self.current_fingerprint()
        self.clones = self.cache_dir / "sqlite" / "clones"
        self.clones.mkdir(mode=0o700)
        self.host = process_tag().rpartition("-")[0]

    def fake_clone(self, pid):
        path = self.clones / f"clone-{self.fingerprint[:12]}-{self.host}-{pid}-1-abcdef.sqlite"
        shutil.copyfile(self.cache_dir / "sqlite" / f"golden-{self.fingerprint}.sqlite", path)
        return path

    def test_reap_removes_a_clone_of_a_dead_process(self):
        leftover = self.fake_clone(dead_pid())
        result = self.cli("reap")
        self.assert_exit(result, 0)
        self.assertIn(f"reaped {leftover.name}", result.stdout)
        self.assertFalse(leftover.exists())

    def test_reap_keeps_a_clone_of_a_live_process(self):
        live = self.fake_clone(os.getpid())
        result = self.cli("reap")
        self.assert_exit(result, 0)
        self.assertNotIn(live.name, result.stdout)
        self.assertTrue(live.exists())

    def test_status_lists_a_leftover_clone(self):
        leftover = self.fake_clone(dead_pid())
        result = self.cli("status")
        self.assert_exit(result, 0)
        self.assertIn(f"leftover {leftover} (reap removes it)", result.stdout)
        self.assertTrue(leftover.exists(), "status must not delete anything")


class UsageErrorsTest(CliCase):

    def test_missing_alembic_ini_exits_2_with_a_dbtestkit_message(self):
        missing = self.tmp / "nowhere" / "alembic.ini"
        result = support.run_python(
            ["-m", "dbtestkit", "--alembic-ini", str(missing), "--cache-dir", str(self.cache_dir), "status"],
            cwd=self.tmp, env=self.child_env(),
        )
        self.assert_exit(result, 2)
        self.assertTrue(result.stderr.startswith("dbtestkit: "), result.stderr)
        self.assertIn(str(missing), result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        self.assertEqual(result.stdout, "")

    def test_no_alembic_ini_configured_exits_2(self):
        result = self.cli("--cache-dir", str(self.cache_dir), "status", project=False)
        self.assert_exit(result, 2)
        self.assertIn("dbtestkit: ", result.stderr)
        self.assertIn("DBTESTKIT_ALEMBIC_INI", result.stderr)

    def test_errors_about_command_line_options_name_the_option(self):
        refused = "postgresql+psycopg://postgres:s3cret@127.0.0.1:1/postgres"
        result = self.cli("--url", refused, "status")
        self.assert_exit(result, 1)
        self.assertIn("or fix --url.", result.stderr)
        self.assertNotIn("DBTESTKIT_URL", result.stderr)
        self.assertNotIn("s3cret", result.stderr)
        result = self.cli("--alembic-ini", str(self.tmp / "nowhere.ini"), "status", project=False)
        self.assert_exit(result, 2)
        self.assertIn("(from --alembic-ini). Fix --alembic-ini", result.stderr)
        blocked = self.tmp / "a-file"
        blocked.write_text("not a folder")
        result = self.cli("--alembic-ini", str(self.ini), "--cache-dir", str(blocked / "cache"),
                          "status", project=False)
        self.assert_exit(result, 2)
        self.assertIn("(from --cache-dir)", result.stderr)
        self.assertIn("Change --cache-dir to a writable directory", result.stderr)

    def test_unknown_subcommand_exits_2(self):
        result = self.cli("frobnicate")
        self.assert_exit(result, 2)
        self.assertIn("invalid choice: 'frobnicate'", result.stderr)

    def test_missing_subcommand_exits_2(self):
        result = self.cli()
        self.assert_exit(result, 2)
        self.assertIn("usage: dbtestkit", result.stderr)

    def test_alembic_ini_from_environment_is_used(self):
        env = {**self.child_env(), "DBTESTKIT_ALEMBIC_INI": str(self.ini),
               "DBTESTKIT_CACHE_DIR": str(self.cache_dir)}
        result = support.run_python(["-m", "dbtestkit", "fingerprint"], cwd=self.tmp, env=env)
        self.assert_exit(result, 0)
        self.assertEqual(result.stdout.strip(), self.current_fingerprint())


class ConsoleScriptTest(CliCase):

    def setUp(self):
        super().setUp()
        if not CONSOLE_SCRIPT.is_file():
            self.skipTest(f"the dbtestkit console script is not installed at {CONSOLE_SCRIPT}")

    def test_console_script_prints_the_fingerprint(self):
        env = {**os.environ, **self.child_env()}
        result = subprocess.run(
            [str(CONSOLE_SCRIPT), "--alembic-ini", str(self.ini), "--cache-dir", str(self.cache_dir),
             "fingerprint"],
            cwd=self.tmp, env=env, capture_output=True, text=True, timeout=120,
        )
        self.assert_exit(result, 0)
        self.assertEqual(result.stdout.strip(), self.current_fingerprint())

    def test_console_script_exits_2_on_configuration_error(self):
        env = {**os.environ, **self.child_env()}
        result = subprocess.run(
            [str(CONSOLE_SCRIPT), "--alembic-ini", str(self.tmp / "missing.ini"),
             "--cache-dir", str(self.cache_dir), "build"],
            cwd=self.tmp, env=env, capture_output=True, text=True, timeout=120,
        )
        self.assert_exit(result, 2)
        self.assertIn("dbtestkit: alembic.ini not found", result.stderr)


if __name__ == "__main__":
    unittest.main()
