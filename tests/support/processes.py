"""Child processes for dbtestkit's own tests: run, start, wait for and kill Python with this checkout."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent


def run_python(code_or_args, cwd=None, env=None, timeout=120):
    """Run Python in a subprocess with this checkout importable; return the CompletedProcess."""
    args = ["-c", code_or_args] if isinstance(code_or_args, str) else list(code_or_args)
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=python_env(env), capture_output=True, text=True,
        timeout=timeout,
    )


def python_env(env=None, base=None):
    """Return this process's environment (or ``base``) with this checkout importable, updated with ``env``."""
    full_env = dict(os.environ if base is None else base)
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), full_env.get("PYTHONPATH")]))
    full_env.update(env or {})
    return full_env


def child_env(**extra):
    """Return this process's environment without DBTESTKIT_* settings, this checkout importable."""
    return python_env(extra, base={k: v for k, v in os.environ.items() if not k.startswith("DBTESTKIT_")})


def start_python(code, *args, cwd=None, stdin=None, **env):
    """Start ``python -c code args…`` with ``child_env(**env)``; return the Popen (text pipes)."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)], cwd=cwd, env=child_env(**env), text=True,
        stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def kill(process):
    """SIGKILL ``process`` if it still runs, and reap it (a zombie would still look alive)."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    return process.communicate(timeout=30)


def wait_until(condition, timeout=10, interval=0.01):
    """Poll ``condition`` until it returns something true; return that, or the last false value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def dead_pid():
    """Return the pid of a process of this host that has exited (and been waited for)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# A child process for the concurrency tests: args URL ("" = the default) ALEMBIC_INI CACHE_DIR
# [GO]. It prints one JSON line: whether it built the golden and what a clone of it holds.
# With GO it touches GO.ready-<pid> and waits for GO to exist, so several children start together.
ENSURE_AND_READ = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    import dbtestkit
    from sqlalchemy import inspect, text

    url, ini, cache = sys.argv[1:4]
    go = sys.argv[4] if len(sys.argv) > 4 else None
    database = dbtestkit.TestDatabase(url or None, alembic_ini=ini, cache_dir=cache)
    database.fingerprint()  # connects to a server before the start line
    if go:
        Path(go + ".ready-" + str(os.getpid())).touch()
        while not os.path.exists(go):
            time.sleep(0.005)
    golden = database.ensure_golden()
    with database.clone() as clone, clone.engine.connect() as connection:
        report = {
            "built": golden.built,
            "fingerprint": golden.fingerprint,
            "clone": clone.name,
            "tables": sorted(inspect(connection).get_table_names()),
            "heads": connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all(),
            "authors": connection.execute(text("SELECT name FROM author ORDER BY id")).scalars().all(),
        }
    print(json.dumps(report))
""")


# Runs tests/cases modules in passes (forward or reverse order): args, a JSON plan
# [[order, [module, …]], …]. Prints one JSON line with each pass's outcome, the
# backends of the modules' TestDatabases and how many clones were handed out and
# never dropped. Every project tests.support.write_project writes gets a unique
# comment in env.py (DBTK_TEST_TOKEN), so this run's goldens are its own; their
# fingerprints go to $DBTK_TEST_FINGERPRINTS before anything is built.
CASES_RUNNER = textwrap.dedent('''
    import importlib, json, os, sys, unittest
    from pathlib import Path
    from tests import support

    TOKEN = os.environ["DBTK_TEST_TOKEN"]
    write_project = support.write_project

    def unique_project(root, *args, **kwargs):
        ini = write_project(root, *args, **kwargs)
        env_py = Path(root) / "migrations" / "env.py"
        env_py.write_text(env_py.read_text() + "\\n# dbtestkit test run " + TOKEN + "\\n")
        return ini

    support.write_project = unique_project
    import dbtestkit

    plan = json.loads(sys.argv[1])
    modules = sorted({name for _, names in plan for name in names})
    databases = {id(v): v for m in modules for v in vars(importlib.import_module(m)).values()
                 if isinstance(v, dbtestkit.TestDatabase)}
    # Written before anything is built, so the parent can clean up even after a crash.
    Path(os.environ["DBTK_TEST_FINGERPRINTS"]).write_text(
        json.dumps(sorted({d.fingerprint() for d in databases.values()})))
    passes = []
    for order, names in plan:
        tests = list(support.iter_tests(unittest.TestLoader().loadTestsFromNames(names)))
        if order == "reverse":
            tests.reverse()
        print(f"== {order} {names}", file=sys.stderr)
        result = unittest.TextTestRunner(stream=sys.stderr, verbosity=2).run(unittest.TestSuite(tests))
        passes.append({
            "order": order,
            "run": result.testsRun,
            "skipped": {test.id(): reason for test, reason in result.skipped},
            "problems": {test.id(): text for test, text in result.errors + result.failures},
        })
    from dbtestkit.backends.clone import live_clones

    # Clones a pool prepared but handed to nobody yet are live too; they are not leaks.
    handed_out = sum(1 for clone in live_clones() if clone.releaser is not None)
    print(json.dumps({"passes": passes, "backends": sorted({d.backend.name for d in databases.values()}),
                      "live_clones_left": handed_out}))
''')

SAVEPOINT_FAILURES = sorted([
    "test_1_commits_connection", "test_1_never_runs", "test_1_raises_after_writing",
    "test_reports_missing_super",
])
