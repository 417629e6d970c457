"""The verbose end-of-run summary says what really happened to each golden, on every backend."""

import json
import textwrap
import time
import unittest

from tests.backends import for_each_backend
from tests.support import DEFAULT_REVISIONS, start_python

# Touches $DBTK_STARTED and sleeps while it holds the build lock; does nothing elsewhere.
SLOW_REVISION = ("0005", "slow when asked", textwrap.dedent('''\
    import os, pathlib, time
    if os.environ.get("DBTK_STARTED"):
        pathlib.Path(os.environ["DBTK_STARTED"]).touch()
        time.sleep(2)'''), "pass")
BUILD_SECONDS = 2

# args: URL ("" = default) ALEMBIC_INI CACHE_DIR; prints what ensure_golden returned, as JSON.
ENSURE = textwrap.dedent("""
    import json, sys
    import dbtestkit

    url, ini, cache = sys.argv[1:4]
    golden = dbtestkit.TestDatabase(url or None, alembic_ini=ini, cache_dir=cache).ensure_golden()
    print(json.dumps({"built": golden.built, "waited": golden.waited, "fingerprint": golden.fingerprint}))
""")


@for_each_backend()
class WaitedForAnotherBuild:
    """The summary tells a build waited for from a golden checked at first look"""

    revisions = [*DEFAULT_REVISIONS, SLOW_REVISION]

    def remember(self, fingerprint):
        """Note a fingerprint whose databases the test must drop (servers)."""
        self.side.fingerprints.add(fingerprint)

    def child(self, **env):
        return start_python(ENSURE, self.side.database_url, self.ini, self.cache_dir, cwd=self.tmp, **env)

    def test_a_process_that_waited_for_another_build_says_so_not_checked_in(self):
        started = self.tmp / "build-started"
        builder = self.child(DBTK_STARTED=str(started))
        self.addCleanup(lambda: builder.poll() is None and builder.kill())
        deadline = time.monotonic() + 60
        while not started.exists() and builder.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        waiter = self.child(DBTESTKIT_VERBOSE="1")
        waiter_out, waiter_err = waiter.communicate(timeout=60)
        builder_out, builder_err = builder.communicate(timeout=60)
        self.assertEqual(builder.returncode, 0, builder_err)
        self.assertEqual(waiter.returncode, 0, waiter_err)
        built, reused = json.loads(builder_out), json.loads(waiter_out)
        self.remember(built["fingerprint"])
        self.assertEqual((built["built"], reused["built"]), (True, False))
        self.assertGreater(reused["waited"], BUILD_SECONDS / 2)
        summary = [line for line in waiter_err.splitlines() if "[pid" in line and "golden" in line]
        self.assertEqual(len(summary), 1, waiter_err)
        self.assertRegex(summary[0], r"waited \d+\.\d ms for another process's build, then reused$")
        waited_ms = float(summary[0].split("waited ")[1].split(" ms")[0])
        self.assertAlmostEqual(waited_ms, reused["waited"] * 1000, delta=0.1)

    def test_a_golden_ready_at_first_look_is_reported_as_checked(self):
        first = self.child()
        first_out, first_err = first.communicate(timeout=60)
        self.assertEqual(first.returncode, 0, first_err)
        self.remember(json.loads(first_out)["fingerprint"])
        again = self.child(DBTESTKIT_VERBOSE="1")
        again_out, again_err = again.communicate(timeout=60)
        self.assertIsNone(json.loads(again_out)["waited"])
        self.assertRegex(again_err, r"reused \(checked in \d+\.\d ms\)")
        self.assertNotIn("waited", again_err)


if __name__ == "__main__":
    unittest.main()
