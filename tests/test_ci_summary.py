"""The summary line .ci/run prints is computed from unittest's own closing lines."""

import importlib.util
import unittest

from tests.support import REPO

spec = importlib.util.spec_from_file_location("ci_summary", REPO / ".ci" / "summary.py")
ci_summary = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ci_summary)


class SummaryTests(unittest.TestCase):
    def test_all_passed(self):
        self.assertEqual(ci_summary.summarize("Ran 12 tests in 1.0s\n\nOK\n", 0), (12, 0, 0))

    def test_failures_errors_and_skips(self):
        text = "Ran 10 tests in 1s\n\nFAILED (failures=1, errors=2, skipped=3, expected failures=1)\n"
        self.assertEqual(ci_summary.summarize(text, 1), (4, 3, 3))

    def test_expected_failures_count_as_passed(self):
        text = "Ran 10 tests in 1s\n\nOK (skipped=2, expected failures=1)\n"
        self.assertEqual(ci_summary.summarize(text, 0), (8, 0, 2))

    def test_unexpected_success_is_a_failure(self):
        text = "Ran 3 tests in 1s\n\nFAILED (unexpected successes=1)\n"
        self.assertEqual(ci_summary.summarize(text, 1), (2, 1, 0))

    def test_a_run_that_died_counts_as_one_failure(self):
        self.assertEqual(ci_summary.summarize("Traceback ...\nImportError: boom\n", 1), (0, 1, 0))

    def test_nonzero_exit_with_ok_text_is_not_a_pass(self):
        self.assertEqual(ci_summary.summarize("Ran 2 tests in 1s\n\nOK\n", 1), (1, 1, 0))


if __name__ == "__main__":
    unittest.main()
