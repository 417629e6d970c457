"""benchmarks/run.py --quick runs every row and prints the one table (no timing is asserted)."""

import importlib.util
import re
import unittest

from tests.support import REPO, required_components, run_python

RATIO = re.compile(r"^\d+(\.\d+)?x$")
NUMBER = re.compile(r"^\d+\.\d+$")

# Every row the families print today: (label, has a ratio). A row that goes
# missing, or loses its comparison, fails here.
ISOLATION = [("upgrade per test", False), ("create_all per test", True),
             ("savepoint recipe (hand-written)", True), ("bare backup + first query", True),
             ("bare deserialize + first query", True), ("file copy + new engine", True),
             ("dbtestkit DatabaseTestCase", True), ("dbtestkit memory clone", True),
             ("dbtestkit file clone", True)]
MIGRATIONS = [(f"{tool} {check}", tool == "dbtestkit")
              for check in ("single_head_revision", "upgrade", "model_definitions_match_ddl",
                            "up_down_consistency", "downgrade_leaves_no_trace")
              for tool in ("pytest-alembic", "dbtestkit")]
MIGRATIONS += [("pytest-alembic 4 core checks (sum)", False), ("dbtestkit 4 core checks (sum)", True),
               ("dbtestkit 4 core checks, cold: + golden build", True)]
CLONE_ROWS = [("savepoint recipe (hand-written)", True), ("bare SAVEPOINT + ROLLBACK TO", True),
              ("dbtestkit savepoint", True), ("dbtestkit clone, no pool", True),
              ("dbtestkit clone, no pool, +50 ms body", True), ("dbtestkit clone, pool", True),
              ("dbtestkit clone, pool, +50 ms body", True), ("wait in clone()", True),
              ("migrate per test", False)]
SERVERS = {
    "postgresql": CLONE_ROWS + [("CREATE DATABASE TEMPLATE WAL_LOG + DROP", True),
                                ("CREATE DATABASE TEMPLATE FILE_COPY + DROP", True),
                                ("TRUNCATE all + re-seed", True)],
    "mysql": CLONE_ROWS + [("CREATE TABLE LIKE + INSERT SELECT", True)],
}


class QuickBenchmarkTests(unittest.TestCase):
    """One quick run on SQLite, plus the servers this run requires."""

    @classmethod
    def setUpClass(cls):
        cls.servers = [b for b in ("postgresql", "mysql") if b in required_components()]
        cls.result = run_python([str(REPO / "benchmarks" / "run.py"), "--quick",
                              "--backends", ",".join(["sqlite"] + cls.servers)], timeout=300)
        cls.blocks = blocks(cls.result.stdout)

    def test_exits_cleanly_and_prints_targets(self):
        self.assertEqual(self.result.returncode, 0, self.result.stdout[-3000:] + self.result.stderr[-3000:])
        self.assertIn("\nTargets:\n", self.result.stdout)
        self.assertNotIn("Error while cleaning up", self.result.stdout)

    def test_isolation_rows(self):
        self.assert_rows("isolation sqlite 10x10", ISOLATION)
        self.assertRegex(self.result.stdout, r"warm start total +\d+\.\d+ ms")

    def test_migration_rows(self):
        if importlib.util.find_spec("pytest_alembic") is None:
            self.assertIn("Skipped migrations: pytest-alembic is not installed", self.result.stdout)
            return
        self.assert_rows("migrations sqlite 10x10", MIGRATIONS)

    def test_server_rows(self):
        if not self.servers:
            self.skipTest("no server required (DBTESTKIT_REQUIRE)")
        for backend in self.servers:
            with self.subTest(backend):
                self.assert_rows("servers %s 10x10" % backend, SERVERS[backend])

    def assert_rows(self, title, expected):
        self.assertIn(title, self.blocks, self.result.stdout[-3000:] + self.result.stderr[-3000:])
        rows = self.blocks[title]
        for label, has_ratio in expected:
            with self.subTest(label):
                self.assertIn(label, rows, "row missing from %s:\n%s" % (title, self.result.stdout))
                cells = rows[label]
                self.assertRegex(cells[-4], NUMBER)  # the median
                ratios = [cell for cell in cells[-2:] if RATIO.match(cell)]
                self.assertEqual(bool(ratios), has_ratio, cells)


def blocks(stdout):
    """{group title: {row label: [cells after the label]}} read from the printed table."""
    found, current = {}, None
    for line in stdout.split("\nTargets:\n")[0].splitlines():
        title = re.match(r"^(\S.*?)   \(baseline: .*\)$", line)
        if title:
            current = found.setdefault(title.group(1), {})
        elif current is not None and line.startswith("  ") and line.strip():
            match = re.match(r"^\s+(.+?)\s{2,}(\S.*)$", line)
            if match:
                current.setdefault(match.group(1), match.group(2).split())
        elif not line.strip():
            current = None
    return found


if __name__ == "__main__":
    unittest.main()
