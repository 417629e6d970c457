"""Whole-suite wall time of a clone-per-test suite on the servers (issue 16, item 4).

usage: python benchmarks/suite_wall.py [--tests 40] [--size 40x60] [--runs 3] [--backends postgresql,mysql]

The project comes from the shared generator (DBTESTKIT_MAKE_PROJECT).
Runs, in fresh processes, one ``GoldenFileTestCase`` class of ``--tests``
short tests (a count and an insert) and compares the process's wall time
(spawn to exit) with start-up (spawn to the first test) plus the sum of the
tests' own times (startTest to stopTest). Target: wall within 1.3x of that.
The golden is built by a first, unrecorded run. What a run leaves behind is
counted by the next run's reaper, which the next run starts itself.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import dbtestkit

MAKE_PROJECT = os.environ.get("DBTESTKIT_MAKE_PROJECT", "/work/shared/bench/make_project.py")

URLS = {"postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        "mysql": "mysql+pymysql://root@127.0.0.1:3306/mysql"}

CHILD = '''
import json, sys, time, unittest
import sqlalchemy as sa
from sqlalchemy.orm import Session
import dbtestkit

DB = dbtestkit.TestDatabase(alembic_ini={ini!r})
STAMPS = []


class Bench(dbtestkit.GoldenFileTestCase):
    database = DB

{methods}


class Result(unittest.TextTestResult):
    def startTest(self, test):
        STAMPS.append([time.time()])
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        STAMPS[-1].append(time.time())


suite = unittest.defaultTestLoader.loadTestsFromTestCase(Bench)
outcome = unittest.TextTestRunner(stream=open("/dev/null", "w"), resultclass=Result).run(suite)
with open({stamps!r}, "w") as out:
    json.dump({{"stamps": STAMPS, "ok": outcome.wasSuccessful(),
               "errors": [str(e[1]) for e in outcome.errors + outcome.failures][:2]}}, out)
'''

METHOD = '''    def test_{n:03d}(self):
        with Session(self.engine) as session:
            session.execute(sa.text({select!r})).scalar_one()
            session.execute(sa.text({insert!r}))
            session.commit()
'''


def child_source(project, tests, stamps):
    """Return the test module: ``tests`` short clone-per-test tests."""
    with open(os.path.join(project, "bench_meta.json")) as source:
        meta = json.load(source)
    table = meta["query_table"]
    columns = ", ".join(meta["insert_cols"])
    values = ", ".join("'x'" if kind == "String" else "7" for kind in meta["insert_cols"].values())
    methods = "\n".join(METHOD.format(n=n, select=f"SELECT count(*) FROM {table}",
                                      insert=f"INSERT INTO {table} ({columns}) VALUES ({values})")
                         for n in range(tests))
    return CHILD.format(ini=os.path.join(project, "alembic.ini"), methods=methods, stamps=stamps)


def run_once(script, url, stamps, code=None):
    """Run the suite in a fresh process (dbtestkit from ``code`` if given); return its timings in seconds.

    (wall, start-up, sum of tests, exit: last test's end to the process's).
    """
    env = {**os.environ, "DBTESTKIT_URL": url}
    if code:
        env["PYTHONPATH"] = code
    spawned = time.time()
    subprocess.run([sys.executable, script], env=env, check=True)
    ended = time.time()
    with open(stamps) as source:
        result = json.load(source)
    if not result["ok"]:
        raise SystemExit(f"the suite failed: {result['errors']}")
    marks = result["stamps"]
    return (ended - spawned, marks[0][0] - spawned, sum(stop - start for start, stop in marks),
            ended - marks[-1][1])


def clones_left(database):
    """Return how many clones of the project's golden exist on the server (reap takes them)."""
    prefix = f"dbtk_clone_{database.fingerprint()[:12]}_"
    return sum(1 for name in database.backend.leftover_clones() if name.startswith(prefix))


def reap_project(database):
    """Remove this project's leftovers only (other runs on the server are not this benchmark's)."""
    prefix = f"dbtk_clone_{database.fingerprint()[:12]}_"
    for leftover in database.backend.leftovers():
        if leftover.name.startswith(prefix):
            database.backend._remove_leftover(leftover)  # reap(), narrowed to this project


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=40)
    parser.add_argument("--size", default="40x60")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="postgresql,mysql")
    parser.add_argument("--before", help="a tree whose dbtestkit/ runs interleaved as 'before'")
    args = parser.parse_args()
    revisions, tables = (int(part) for part in args.size.split("x"))
    work = tempfile.mkdtemp(prefix="dbtk-suite-wall-")
    project = os.path.join(work, "project")
    subprocess.run([sys.executable, MAKE_PROJECT, project, str(revisions), str(tables)],
                   check=True, stdout=subprocess.DEVNULL)
    script = os.path.join(work, "test_suite.py")
    stamps = os.path.join(work, "stamps.json")
    with open(script, "w") as out:
        out.write(child_source(project, args.tests, stamps))
    versions = [("before", args.before), ("after", None)] if args.before else [("this", None)]
    print(f"{args.tests} clone-per-test tests, {revisions}x{tables}; ratio = wall / (start + tests); "
          "left = clones on the server after exit (the next run reaps them)")
    print(f"{'backend':<11} {'code':<7} {'wall s':>7} {'start s':>8} {'tests s':>8} {'exit s':>7} "
          f"{'ratio':>6} {'left':>5} {'load1':>6}")
    for backend in args.backends.split(","):
        url = os.environ.get(f"DBTESTKIT_BENCH_{backend.upper()}_URL", URLS[backend])
        database = dbtestkit.TestDatabase(url, alembic_ini=os.path.join(project, "alembic.ini"))
        run_once(script, url, stamps)  # builds the golden; not recorded
        ratios = {label: [] for label, _ in versions}
        for _ in range(args.runs):
            for label, code in versions:
                wall, startup, tests, exit = run_once(script, url, stamps, code)
                ratios[label].append(wall / (startup + tests))
                print(f"{backend:<11} {label:<7} {wall:7.2f} {startup:8.2f} {tests:8.2f} {exit:7.2f} "
                      f"{ratios[label][-1]:6.2f} {clones_left(database):5d} {os.getloadavg()[0]:6.2f}")
        for label, values in ratios.items():
            print(f"{backend:<11} {label:<7} median ratio {statistics.median(values):.2f}")
        reap_project(database)
        database.close()


if __name__ == "__main__":
    main()
