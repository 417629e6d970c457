"""Every kill point recovers: SIGKILL after each statement and file operation, on every backend.

See tests.backends.crash for how; each test prints its number of points and
its duration to stderr (``crash points <backend> <scenario>: …``).
"""

import sys

from tests.backends import for_each_backend
from tests.backends.crash import run_crash_points, run_random_kills

# Fewer points than this means the recorder missed the scenario: nothing was tested.
MINIMUM_POINTS = {"build": 10, "clone": 3, "keep": 4}


@for_each_backend()
class CrashPoints:
    """Killed right after any point of a build, clone, drop or keep, the next run recovers"""

    def check(self, scenario):
        points, failures, seconds = run_crash_points(self, scenario)
        print(f"\ncrash points {self.backend} {scenario}: {len(points)} points, every one killed, "
              f"in {seconds:.1f} s", file=sys.stderr)
        self.assertGreaterEqual(len(points), MINIMUM_POINTS[scenario], points)
        self.maxDiff = None
        self.assertEqual(failures, [], f"{len(failures)} of {len(points)} kill points did not recover")

    def test_every_point_of_building_and_publishing_a_golden(self):
        self.check("build")

    def test_every_point_of_making_and_dropping_clones(self):
        self.check("clone")

    def test_every_point_of_keeping_a_clone_and_deleting_it(self):
        self.check("keep")

    def test_random_moments_of_a_cold_run(self):
        # A second net, for what the points do not see (a kill inside a statement).
        self.assertEqual(run_random_kills(self, 3), [])
