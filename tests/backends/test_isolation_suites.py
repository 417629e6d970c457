"""The isolation suites of tests/cases on every backend: a suite written for SQLite runs unchanged.

Savepoint-per-test (module, class and module-fixture scopes, in both orders),
clone-per-test, the deliberate failures, and savepoint mode's recovery: it
never hangs on another connection's lock and a lost connection fails only
its own test. One child process per backend runs them all.
"""

import json

from tests.backends import for_each_backend
from tests.backends.suites import CaseModulesRun

SAVEPOINT = ["tests.cases.savepoint_module", "tests.cases.savepoint_class"]
PLAN = {
    "forward": ["forward", [*SAVEPOINT, "tests.cases.savepoint_failures", "tests.cases.golden_file_cases"]],
    "reverse": ["reverse", [*SAVEPOINT, "tests.cases.golden_file_cases"]],
    "together": ["forward", ["tests.cases.savepoint_class", "tests.cases.savepoint_module",
                             "tests.cases.savepoint_class"]],
    "shared": ["forward", ["tests.cases.savepoint_module_shared"]],
    "locks": ["forward", ["tests.cases.savepoint_locks"]],
    "lost_class": ["forward", ["tests.cases.savepoint_lost_class"]],
    "lost_module": ["forward", ["tests.cases.savepoint_lost_module"]],
}
# What a second driver of the same backend must show too: it talks to the same server.
DRIVER_PASSES = ("forward", "reverse", "locks", "lost_class", "lost_module")

SAVEPOINT_FAILURES = sorted([
    "test_1_commits_connection", "test_1_never_runs", "test_1_raises_after_writing",
    "test_reports_missing_super",
])


@for_each_backend()
class IsolationSuites(CaseModulesRun):
    """The case modules pass (and fail only where they mean to) on this backend"""

    passes = tuple(PLAN)

    @classmethod
    def setUpClass(cls):
        cls.plan = [PLAN[name] for name in cls.passes]
        super().setUpClass()
        for name, outcome in zip(cls.passes, cls.outcome["passes"]):
            setattr(cls, name, outcome)


    def test_the_cases_ran_on_this_backend_and_left_only_their_goldens(self):
        self.assertEqual(self.outcome["backends"], [self.backend])
        self.assertEqual(self.outcome["left_behind"], {})
        self.assertEqual(self.outcome["live_clones_left"], 0)

    def test_savepoint_and_clone_per_test_suites_pass_in_both_orders_but_the_deliberate_failures(self):
        problems = self.forward["problems"]
        self.assertEqual(sorted(problems), SAVEPOINT_FAILURES, self.stderr())
        self.assertIn("IsolationBroken", problems["test_1_commits_connection"])
        self.assertIn("GoldenFileTestCase", problems["test_1_commits_connection"])
        self.assertIn("super().setUpClass()", problems["test_reports_missing_super"])
        self.assertIn("boom in setUp", problems["test_1_never_runs"])
        self.assertIn("boom after commit", problems["test_1_raises_after_writing"])
        # 16 + 16 savepoint tests, 10 in savepoint_failures, 7 clone-per-test (file and
        # shared clones too).
        self.assertEqual(self.forward["run"], 49)
        self.assertEqual(self.forward["skipped"], {})
        self.assertEqual(self.reverse["problems"], {}, self.stderr())
        self.assertEqual(self.reverse["run"], 39)
        self.assertEqual(self.reverse["skipped"], {})

    def test_module_and_class_scopes_together(self):
        self.assertEqual(self.together["problems"], {}, self.stderr())
        self.assertEqual(self.together["run"], 48)

    def test_module_fixtures_give_every_class_of_the_module_one_connection(self):
        self.assertEqual(self.shared["problems"], {}, self.stderr())
        self.assertEqual(self.shared["run"], 2)

    def test_other_connections_fail_fast_and_explain_and_the_next_test_is_pristine(self):
        self.assertEqual(self.locks["problems"], {}, self.stderr())
        self.assertEqual(self.locks["run"], 4)
        expected_skips = ["test_waits_as_long_as_the_server_lets_it"] if self.backend == "sqlite" else []
        self.assertEqual(sorted(self.locks["skipped"]), expected_skips)

    def assert_only_the_losing_tests_fail(self, lost, run):
        self.assertEqual(sorted(lost["problems"]), [
            "test_1_connection_ended_mid_test", "test_3_connection_ended_after_the_last_statement",
        ], json.dumps(lost["problems"], indent=1)[-3000:])
        for name, text in lost["problems"].items():
            self.assertIn("dbtestkit.exceptions.ConnectionLost", text, name)
            self.assertNotIn("PendingRollbackError", text, name)
        self.assertEqual(lost["run"], run)

    def test_a_lost_connection_fails_only_its_test_with_one_connection_per_class(self):
        self.assert_only_the_losing_tests_fail(self.lost_class, 6)

    def test_a_lost_connection_fails_only_its_test_with_one_connection_per_module(self):
        self.assert_only_the_losing_tests_fail(self.lost_module, 7)


@for_each_backend("postgresql")
class IsolationSuitesWithPsycopg2(IsolationSuites):
    """The same suites with PostgreSQL's other driver"""

    driver = "psycopg2"
    passes = DRIVER_PASSES
    # Not collected: these passes run with the first driver only.
    test_module_and_class_scopes_together = None
    test_module_fixtures_give_every_class_of_the_module_one_connection = None
