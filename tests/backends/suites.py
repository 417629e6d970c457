"""Running the case modules of tests/cases in a child process whose DBTESTKIT_URL names one backend."""

import json
import os
import secrets
import subprocess
import tempfile
import unittest
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.backends.sides import side_for
from tests.support import CASES_RUNNER, REPO, rmtree, run_python


def side_of_class(cls):
    """Return the side of ``cls.backend`` from setUpClass (skips or fails the class when it is down)."""
    return side_for(unittest.TestCase(), cls.backend)


def run_case_modules(side, plan, driver=None):
    """Run ``plan`` ([[order, [module, …]], …]) on ``side``'s backend; return the outcome.

    The outcome has, per pass, ``run``, ``problems`` and ``skipped`` keyed by
    test method name, plus ``backends``, ``live_clones_left`` and
    ``left_behind`` (what of each golden's fingerprint outlived the child's
    exit, besides the golden and what the next run's reap removes). Everything the child made is removed.
    """
    url = make_url(side.url)
    if driver:
        url = url.set(drivername=f"{url.get_backend_name()}+{driver}")
    work = Path(tempfile.mkdtemp(prefix="dbtestkit-cases-"))
    fingerprints_file, cache = work / "fingerprints.json", work / "cache"
    env = {key: "" for key in os.environ if key.startswith("DBTESTKIT_")}
    env.update(DBTESTKIT_URL=url.render_as_string(hide_password=False), DBTESTKIT_CACHE_DIR=str(cache),
               DBTK_TEST_TOKEN=secrets.token_hex(8), DBTK_TEST_FINGERPRINTS=str(fingerprints_file))
    fingerprints = []
    try:
        try:
            process = run_python(["-c", CASES_RUNNER, json.dumps(plan)], cwd=REPO, env=env, timeout=240)
        except subprocess.TimeoutExpired as error:
            process = subprocess.CompletedProcess(error.cmd, -1, "", f"{error}\n{error.stderr}")
        if fingerprints_file.exists():
            fingerprints = json.loads(fingerprints_file.read_text())
        if process.returncode != 0:
            raise AssertionError(f"the case runner failed:\n{process.stderr[-5000:]}")
        outcome = json.loads(process.stdout.strip().splitlines()[-1])
        # The child exited normally: what its clone pools had not dropped yet is
        # left to the next run's reap, and nothing else.
        # (On SQLite the cases' cache is a temporary folder the child removes at exit.)
        servers = [] if side.backend == "sqlite" else fingerprints
        outcome["left_behind"] = {fp: side.not_reaped(fp, cache) for fp in servers
                                  if side.not_reaped(fp, cache) or not side.has_golden(fp, cache)}
        outcome["stderr"] = process.stderr
    finally:
        for fingerprint in fingerprints:
            side.remove_everything_of(fingerprint)
        rmtree(work)
    for one_pass in outcome["passes"]:
        for key in ("problems", "skipped"):
            one_pass[key] = {test.rsplit(".", 1)[-1]: text for test, text in one_pass[key].items()}
    return outcome


class CaseModulesRun:
    """Mixin: setUpClass runs ``plan`` on the class's backend (with ``driver``) into ``cls.outcome``."""

    plan = None
    driver = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.outcome = run_case_modules(side_of_class(cls), cls.plan, cls.driver)

    def stderr(self):
        """The end of the child's output, for failure messages."""
        return self.outcome["stderr"][-3000:]
