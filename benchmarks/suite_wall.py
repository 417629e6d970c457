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


def run_once(script, url, stamps):
    """Run the suite in a fresh process; return (wall, start-up, sum of tests, exit) in seconds."""
    env = {**os.environ, "DBTESTKIT_URL": url}
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=40)
    parser.add_argument("--size", default="40x60")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="postgresql,mysql")
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
    print(f"{args.tests} clone-per-test tests, {revisions}x{tables}; load {os.getloadavg()[0]:.2f}")
    print(f"{'backend':<11} {'wall s':>7} {'start s':>8} {'tests s':>8} {'exit s':>7} {'ratio':>6} {'load':>5}")
    for backend in args.backends.split(","):
        url = os.environ.get(f"DBTESTKIT_BENCH_{backend.upper()}_URL", URLS[backend])
        run_once(script, url, stamps)  # builds the golden; not recorded
        rows = [run_once(script, url, stamps) for _ in range(args.runs)]
        for wall, startup, tests, exit in rows:
            print(f"{backend:<11} {wall:7.2f} {startup:8.2f} {tests:8.2f} {exit:7.2f} "
                  f"{wall / (startup + tests):6.2f} {os.getloadavg()[0]:5.2f}")
        print(f"{backend:<11} median ratio {statistics.median(w / (s + t) for w, s, t, _ in rows):.2f}")


if __name__ == "__main__":
    main()
