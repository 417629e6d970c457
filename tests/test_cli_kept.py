"""``dbtestkit status`` and ``prune --kept`` on clones kept by a real failing run, on every backend."""

import re
import secrets
import unittest
from pathlib import Path

from sqlalchemy.engine import make_url

from tests import support
from tests.backends.sides import side_for
from tests.support import write_revision
from tests.test_cli import CliCase


# A suite whose test fails, so that DBTESTKIT_KEEP=1 keeps its clone.
FAILING_SUITE = """\
import dbtestkit


class Failing(dbtestkit.GoldenFileTestCase):
    def test_fails(self):
        self.fail("on purpose: its clone is kept")
"""
FAILING_TEST = "failing_suite.Failing.test_fails"


class KeptClonesCommandTest(CliCase):
    """``status`` and ``prune --kept`` over clones kept by a real failing run, on SQLite."""

    backend = "sqlite"

    def setUp(self):
        # Before TempProjectCase.setUp, which hides DBTESTKIT_REQUIRE.
        self.url = None if self.backend == "sqlite" else support.server_url(self, self.backend)
        super().setUp()
        # A project and a history of this test's own: on a shared server, its
        # golden and kept clones are told apart from everyone else's by them.
        self.name = f"kept-{secrets.token_hex(4)}"
        write_revision(self.versions, "0005", f"unique {self.name}", "pass", "pass", "0004")
        self.addCleanup(self.remove_what_this_test_made, self.url)
        (self.tmp / "failing_suite.py").write_text(FAILING_SUITE)

    def database(self, **kwargs):
        kwargs.setdefault("url", self.url)
        kwargs.setdefault("name", self.name)
        return super().database(**kwargs)

    def child_env(self, name=None):
        env = {**super().child_env(), "DBTESTKIT_NAME": name or self.name}
        if self.url:
            env["DBTESTKIT_URL"] = self.url
        return env

    def remove_what_this_test_made(self, url):
        database = self.database(url=url)
        database.prune_kept()
        database.backend.prune(set(), label=self.name)

    def fail_and_keep(self, runs=1, name=None):
        """Run FAILING_TEST ``runs`` times in one process with DBTESTKIT_KEEP=1; return the kept locations."""
        env = {**self.child_env(name), "DBTESTKIT_KEEP": "1", "DBTESTKIT_ALEMBIC_INI": str(self.ini),
               "DBTESTKIT_CACHE_DIR": str(self.cache_dir)}
        result = support.run_python(["-m", "unittest", *[FAILING_TEST] * runs], cwd=self.tmp, env=env)
        self.assert_exit(result, 1)
        # unittest's "F" may precede the line on stderr.
        pattern = rf"dbtestkit: kept the clone of failed test {re.escape(FAILING_TEST)} at (.+)$"
        locations = re.findall(pattern, result.stderr, re.MULTILINE)
        self.assertEqual(len(locations), runs, result.stderr)
        return locations

    def kept_lines(self, stdout):
        """Return {location: line} for the kept clones ``status`` lists for this test's project."""
        return {line.rsplit("  ", 1)[1]: line for line in stdout.splitlines()
                if re.search(rf"\bold  {re.escape(self.name)}  ", line)}

    def test_status_lists_every_kept_clone_with_its_test_id_and_age(self):
        # One test failing twice within a second: two kept clones, never one over the other.
        locations = self.fail_and_keep(runs=2)
        self.assertEqual(len(set(locations)), 2, locations)
        result = self.cli("status")
        self.assert_exit(result, 0)
        lines = self.kept_lines(result.stdout)
        self.assertEqual(sorted(lines), sorted(locations), result.stdout)
        for line in lines.values():
            self.assertRegex(line, rf"^  +\d+ s old  {re.escape(self.name)}  {re.escape(FAILING_TEST)}  ")

    def test_prune_kept_keeps_the_newest_asked_for_then_removes_the_rest(self):
        older, = self.fail_and_keep()
        newer, = self.fail_and_keep()
        result = self.cli("prune", "--kept", "--keep", "1")
        self.assert_exit(result, 0)
        self.assertEqual(result.stdout, f"removed kept clone {older} ({FAILING_TEST})\n")
        self.assertEqual(sorted(self.kept_lines(self.cli("status").stdout)), [newer])
        result = self.cli("prune", "--kept")
        self.assert_exit(result, 0)
        self.assertEqual(result.stdout, f"removed kept clone {newer} ({FAILING_TEST})\n")
        status = self.cli("status")
        self.assertEqual(self.kept_lines(status.stdout), {})
        self.assertRegex(status.stdout, r"golden\s+ready", "prune --kept must leave goldens alone")
        if self.backend == "sqlite":
            self.assertEqual(list((self.cache_dir / "sqlite" / "kept").iterdir()), [])

    def test_prune_kept_leaves_other_projects_alone_unless_all_projects(self):
        if self.backend != "sqlite":
            # --all-projects removes every kept clone of the server's account, other
            # suites' too: on a server, the test works as a throwaway account of its own.
            side = side_for(self, self.backend)
            side.attach(self)
            fingerprint = self.database().fingerprint()
            side.fingerprints.add(fingerprint)
            self.url = side.account(self, [fingerprint])
            self.addCleanup(self.remove_what_this_test_made, self.url)
        ours, = self.fail_and_keep()
        # Another project with the same history shares the golden, not the kept clones.
        theirs, = self.fail_and_keep(name="other-project")
        result = self.cli("prune", "--kept")
        self.assert_exit(result, 0)
        self.assertEqual(result.stdout, f"removed kept clone {ours} ({FAILING_TEST})\n")
        self.assertTrue(self.kept_exists(theirs))
        result = self.cli("prune", "--kept", "--all-projects")
        self.assert_exit(result, 0)
        self.assertEqual(result.stdout, f"removed kept clone {theirs} ({FAILING_TEST})\n")
        self.assertFalse(self.kept_exists(theirs))
        self.assertFalse(self.kept_exists(ours))

    def kept_exists(self, location):
        """Tell whether the kept clone at ``location`` (a file, or a masked server URL) still exists."""
        if self.backend == "sqlite":
            return Path(location).is_file()
        return side_for(self, self.backend).exists(make_url(location).database)


class PostgresqlKeptClonesCommandTest(KeptClonesCommandTest):
    backend = "postgresql"


class MysqlKeptClonesCommandTest(KeptClonesCommandTest):
    backend = "mysql"


if __name__ == "__main__":
    unittest.main()
