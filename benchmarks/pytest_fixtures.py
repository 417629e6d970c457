"""Per-test cost of the pytest fixtures against the unittest classes doing the same.

Usage::

    python benchmarks/pytest_fixtures.py [--size 10x10] [--tests 200] [--rounds 7]
                                         [--postgresql URL] [--no-sqlite]

Each suite is one module of ``--tests`` tests running the same body (one
SELECT, one INSERT, a commit), run in a fresh subprocess: under
``python -m unittest`` for the unittest classes, under ``python -m pytest``
for the fixtures (and, to show what the runner itself costs, for the
unittest classes too). Every test writes ``perf_counter()`` when its body
starts; a test's cost is the time from one test's start to the next's (its
teardown, the runner's bookkeeping, the next setup, the body), so start-up
and the golden check are left out. The median over the suite is one
sample; suites are interleaved in rounds, in a new random order each
round, and the table shows the median of the rounds' samples.

The "bare" rows run the same body-less tests without a database: the
runner's own cost per test. "net" subtracts it. The target compares each
fixture with its unittest class run by pytest: the same runner, so what is
left is the fixtures' own cost.
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import projectgen  # noqa: E402

TARGET = 1.1

# {stamps}: where each test appends its start time; {table}: where the body writes.
HEADER = '''\
import atexit, gc, os, time
import sqlalchemy as sa

if os.environ.get("BENCH_GC") == "off":
    gc.disable()

STAMPS = open(os.environ["BENCH_STAMPS"], "a")
atexit.register(STAMPS.close)
SELECT = sa.text("SELECT count(*) FROM {table}")
# An explicit id: the seeded rows' ids do not advance PostgreSQL's sequence.
INSERT = sa.text("INSERT INTO {table} (id, name, label, amount, created_on) "
                 "VALUES (1000000, 'bench', 'b', 1.5, '2024-02-01')")
COUNTS = set()


def stamp():
    STAMPS.write(f"{{time.perf_counter()}}\\n")


def body(session):
    # Every test must start from the golden's rows: a leaking strategy fails, not posts a time.
    COUNTS.add(session.execute(SELECT).scalar_one())
    assert len(COUNTS) == 1, COUNTS
    session.execute(INSERT)
    session.commit()
'''

DATABASE = '''
import dbtestkit
DB = dbtestkit.TestDatabase(alembic_ini={ini!r})
'''

SUITES = {
    # name: (runner, module text after the header)
    "unittest DatabaseTestCase": ("unittest", DATABASE + '''
setUpModule, tearDownModule = DB.module_fixtures()

class Bench(dbtestkit.DatabaseTestCase):
    database = DB
{methods_self_session}
'''),
    "pytest db_session": ("pytest", '''
{functions_db_session}
'''),
    "unittest GoldenFileTestCase": ("unittest", DATABASE + '''
from sqlalchemy.orm import Session

class Bench(dbtestkit.GoldenFileTestCase):
    database = DB
{methods_self_engine}
'''),
    "pytest db_clone": ("pytest", '''
from sqlalchemy.orm import Session
{functions_db_engine}
'''),
    "DatabaseTestCase under pytest": ("pytest", DATABASE + '''
setUpModule, tearDownModule = DB.module_fixtures()

class Bench(dbtestkit.DatabaseTestCase):
    database = DB
{methods_self_session}
'''),
    "GoldenFileTestCase under pytest": ("pytest", DATABASE + '''
from sqlalchemy.orm import Session

class Bench(dbtestkit.GoldenFileTestCase):
    database = DB
{methods_self_engine}
'''),
    "bare unittest": ("unittest", '''
import unittest

class Bench(unittest.TestCase):
{methods_bare}
'''),
    "bare pytest": ("pytest", '''
{functions_bare}
'''),
    "bare TestCase under pytest": ("pytest", '''
import unittest

class Bench(unittest.TestCase):
{methods_bare}
'''),
}

CONFTEST = '''
import pytest
import dbtestkit

@pytest.fixture(scope="session")
def dbtestkit_database():
    return dbtestkit.TestDatabase(alembic_ini={ini!r})
'''


def bodies(tests):
    """Return the test definitions each suite template names."""
    def many(template):
        return "".join(textwrap.indent(template.format(n=n), "    " if "self" in template else "")
                       for n in range(tests))

    return {
        "methods_self_session": many("def test_{n:04d}(self):\n    stamp(); body(self.session)\n"),
        "methods_self_engine": many(
            "def test_{n:04d}(self):\n    stamp()\n    with Session(self.engine) as s: body(s)\n"),
        "methods_bare": many("def test_{n:04d}(self):\n    stamp()\n"),
        "functions_db_session": many("def test_{n:04d}(db_session):\n    stamp(); body(db_session)\n"),
        "functions_db_engine": many(
            "def test_{n:04d}(db_engine):\n    stamp()\n    with Session(db_engine) as s: body(s)\n"),
        "functions_bare": many("def test_{n:04d}():\n    stamp()\n"),
    }


def write_suites(root, project, tests):
    """Write one folder per suite; return {name: folder}."""
    folders = {}
    fill = bodies(tests)
    for index, (name, (runner, text)) in enumerate(SUITES.items()):
        folder = os.path.join(root, f"suite{index}")
        os.makedirs(folder)
        module = HEADER.format(table=project.body_table) + text.format(ini=project.alembic_ini, **fill)
        with open(os.path.join(folder, "test_bench.py"), "w") as handle:
            handle.write(module)
        with open(os.path.join(folder, "conftest.py"), "w") as handle:
            handle.write(CONFTEST.format(ini=project.alembic_ini))
        folders[name] = folder
    return folders


def run_suite(name, folder, env):
    """Run one suite in a subprocess; return the median ms between consecutive test starts."""
    runner = SUITES[name][0]
    stamps = os.path.join(folder, "stamps.txt")
    if os.path.exists(stamps):
        os.unlink(stamps)
    if runner == "unittest":
        command = [sys.executable, "-m", "unittest", "-q", "test_bench"]
    else:
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_bench.py"]
    run = subprocess.run(command, cwd=folder, env={**env, "BENCH_STAMPS": stamps},
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"{name} failed:\n{run.stdout}\n{run.stderr}")
    with open(stamps) as handle:
        starts = [float(line) for line in handle]
    # The first gap holds class/module set-up: not a per-test cost.
    gaps = [b - a for a, b in zip(starts[1:], starts[2:])]
    return statistics.median(gaps) * 1000


def bench(label, url, project, args):
    """Run every suite interleaved on one backend; print its table."""
    root = tempfile.mkdtemp(prefix="dbtestkit-bench-pytest-")
    try:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]),
               "DBTESTKIT_CACHE_DIR": os.path.join(root, "cache"), "PYTHONDONTWRITEBYTECODE": "1"}
        env.pop("DBTESTKIT_VERBOSE", None)
        env.pop("DBTESTKIT_KEEP", None)
        if url:
            env["DBTESTKIT_URL"] = url
        else:
            env.pop("DBTESTKIT_URL", None)
        folders = write_suites(root, project, args.tests)
        if args.no_clones:
            folders = {name: folder for name, folder in folders.items() if "Golden" not in name
                       and "clone" not in name}
        for name in folders:  # warm-up: builds the golden, fills the OS caches
            run_suite(name, folders[name], env)
        samples = {name: [] for name in folders}
        for _ in range(args.rounds):
            order = list(folders)
            random.shuffle(order)
            for name in order:
                samples[name].append(run_suite(name, folders[name], env))
        print_table(label, {name: statistics.median(values) for name, values in samples.items()})
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if url:
            drop_goldens(url, env)


def drop_goldens(url, env):
    """Delete the goldens this run built on the server (its cache dir is gone already)."""
    code = ("import dbtestkit.backends as b, tempfile\n"
            "backend = b.backend_for(%r, tempfile.mkdtemp())\n"
            "[backend.delete_golden(g) for g in backend.list_goldens() if g.label == %r]\n")
    run = subprocess.run([sys.executable, "-c", code % (url, BENCH_NAME)], env=env, capture_output=True,
                         text=True)
    if run.returncode != 0:
        print(f"could not drop the benchmark's goldens on the server:\n{run.stderr}")


BENCH_NAME = "benchproject"


def print_table(label, medians):
    """Print per-test medians, net of the runner's own cost, and the ratios the target names."""
    bare = {"unittest": medians["bare unittest"], "pytest": medians["bare pytest"]}
    print(f"\n{label}: median ms per test (net = minus the same runner's bare test)")
    print(f"  {'suite':32} {'total':>8} {'net':>8}")
    net = {}
    for name, value in medians.items():
        if name.startswith("bare"):
            print(f"  {name:32} {value:8.3f}")
            continue
        under_pytest = name.endswith("under pytest")
        net[name] = value - (medians["bare TestCase under pytest"] if under_pytest else bare[SUITES[name][0]])
        print(f"  {name:32} {value:8.3f} {net[name]:8.3f}")
    units = [(f, u) for f, u in (("pytest db_session", "DatabaseTestCase"), ("pytest db_clone", "GoldenFileTestCase"))
             if f in medians]
    for fixture, unit in units:
        same_runner = medians[fixture] / medians[f"{unit} under pytest"]
        verdict = "ok" if same_runner <= TARGET else "over"
        print(f"  {fixture} / {unit} under pytest: {same_runner:.2f}x (target {TARGET}x: {verdict}); "
              f"/ {unit} under unittest: total {medians[fixture] / medians['unittest ' + unit]:.2f}x, "
              f"net {net[fixture] / net['unittest ' + unit]:.2f}x")
    for _, unit in units:
        print(f"  {unit} under pytest / under unittest: total "
              f"{medians[unit + ' under pytest'] / medians['unittest ' + unit]:.2f}x, net "
              f"{net[unit + ' under pytest'] / net['unittest ' + unit]:.2f}x")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="10x10", help="REVISIONSxTABLES of the generated project")
    parser.add_argument("--tests", type=int, default=200, help="tests per suite")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--postgresql", metavar="URL", help="also run on this PostgreSQL server")
    parser.add_argument("--no-sqlite", action="store_true", help="skip SQLite")
    parser.add_argument("--no-clones", action="store_true", help="only the savepoint and bare suites")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    revisions, tables = (int(part) for part in args.size.split("x"))
    root = tempfile.mkdtemp(prefix="dbtestkit-bench-project-")
    try:
        project = projectgen.generate_project(os.path.join(root, BENCH_NAME), revisions, tables)
        print(f"{args.tests} tests per suite, {args.rounds} rounds, project {args.size}, "
              f"Python {sys.version.split()[0]}")
        if not args.no_sqlite:
            bench("SQLite", None, project, args)
        if args.postgresql:
            bench("PostgreSQL", args.postgresql, project, args)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
