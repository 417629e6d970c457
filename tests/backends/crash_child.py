"""The child side of the crash-point harness (``python -m tests.backends.crash_child``).

It imports dbtestkit, SQLAlchemy, Alembic and the drivers once, then reads
jobs (one JSON line each) from stdin and runs each in a forked child, so a
job costs a fork, not an interpreter start. For every job it prints
``{"pid": …}`` once the child runs and ``{"exit": …}`` when it ends (a
negative exit is the signal that ended it).

A job's child records every *point*: each statement SQLAlchemy executes
(``after_cursor_execute`` on the Engine class), each statement or backup
dbtestkit issues through the ``sqlite3`` module directly, and each file
operation under the job's cache directory (create, write-open, replace,
rename, unlink, chmod, copy, mkdir). With ``kill_at`` it SIGKILLs itself
right after that point; with ``pause_at`` it stops itself (SIGSTOP) there
(``kill_on`` and ``pause_on``: the first point matching a regular expression).
"""

import builtins
import io
import json
import os
import re
import shutil
import signal
import sqlite3
import sys
import time
import traceback
import types

# Labels are cut to this many characters (statements can be long).
LABEL_LIMIT = 200

TEST_ID = "tests.backends.crash.Scenario.test_kept_after_a_failure"
_real_open = builtins.open


def preload():
    """Import everything a job needs, so that forked children start warm."""
    import alembic.command  # noqa: F401
    import alembic.runtime.migration  # noqa: F401
    import alembic.script  # noqa: F401
    import filelock  # noqa: F401
    import sqlalchemy.dialects.mysql.pymysql  # noqa: F401
    import sqlalchemy.dialects.postgresql.psycopg  # noqa: F401
    import sqlalchemy.dialects.sqlite.pysqlite  # noqa: F401

    import dbtestkit.database  # noqa: F401
    import dbtestkit.migrations.driver  # noqa: F401
    for name in ("sqlite", "postgresql", "mysql"):
        __import__(f"dbtestkit.backends.{name}")
    for driver in ("psycopg", "pymysql"):
        __import__(driver)


class Recorder:
    """Counts points; records them, and kills or stops the process at the chosen one."""

    def __init__(self, job):
        self.count = 0
        # Off while a scenario prepares what another scenario's points already cover.
        self.active = True
        self.kill_at = job.get("kill_at")
        self.pause_at = job.get("pause_at")
        # Or the first point whose label matches a regular expression.
        self.kill_on = job.get("kill_on")
        self.pause_on = job.get("pause_on")
        self.record = job.get("record")
        self.last = job.get("last")
        self.root = os.path.realpath(job["cache"])

    def point(self, label):
        if not self.active:
            return
        self.count += 1
        label = " ".join(str(label).split())[:LABEL_LIMIT]
        if self.record:
            with _real_open(self.record, "a") as stream:
                stream.write(f"{label}\n")
        kill = self.count == self.kill_at or bool(self.kill_on and re.search(self.kill_on, label))
        pause = self.count == self.pause_at or bool(self.pause_on and re.search(self.pause_on, label))
        if kill or pause:
            with _real_open(self.last, "w") as stream:
                stream.write(label)
            self.pause_on = None  # once
            os.kill(os.getpid(), signal.SIGKILL if kill else signal.SIGSTOP)

    def mine(self, path):
        try:
            return os.path.realpath(os.fspath(path)).startswith(self.root)
        except TypeError:
            return False  # a file descriptor

    def install(self):
        """Hook SQLAlchemy, the sqlite3 module as dbtestkit uses it, and file operations."""
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.listen(Engine, "after_cursor_execute",
                     lambda conn, cursor, statement, *rest: self.point(f"sql {statement}"))
        self._hook_files()
        self._hook_sqlite3()

    def _hook_files(self):
        recorder = self

        def after(name, function, paths=1, when=lambda *args, **kwargs: True):
            def hooked(*args, **kwargs):
                result = function(*args, **kwargs)
                targets = args[:paths]
                if any(recorder.mine(t) for t in targets) and when(*args, **kwargs):
                    shown = " ".join(os.path.basename(os.fspath(t)) for t in targets)
                    recorder.point(f"file {name} {shown}")
                return result
            return hooked

        writes = os.O_CREAT | os.O_WRONLY | os.O_RDWR | os.O_TRUNC
        os.open = after("open", os.open, when=lambda path, flags, *a, **k: flags & writes)
        for name in ("replace", "rename", "link", "symlink"):
            setattr(os, name, after(name, getattr(os, name), paths=2))
        for name in ("unlink", "remove", "rmdir", "mkdir", "chmod"):
            setattr(os, name, after(name, getattr(os, name)))
        for name in ("copyfile", "copy", "copy2", "move"):
            setattr(shutil, name, after(name, getattr(shutil, name), paths=2))
        written = after("open", _real_open,
                        when=lambda path, mode="r", *a, **k: any(c in mode for c in "wax+"))
        builtins.open = io.open = written

    def _hook_sqlite3(self):
        recorder = self

        # Cursors and connections both execute SQL: one set of recording methods for both.
        class RecordsSql:
            def execute(self, sql, *args):
                result = super().execute(sql, *args)
                recorder.point(f"sqlite3 {sql}")
                return result

            def executemany(self, sql, *args):
                result = super().executemany(sql, *args)
                recorder.point(f"sqlite3 {sql}")
                return result

            def executescript(self, sql):
                result = super().executescript(sql)
                recorder.point(f"sqlite3 script {sql}")
                return result

        class Cursor(RecordsSql, sqlite3.Cursor):
            pass

        class Connection(RecordsSql, sqlite3.Connection):
            def cursor(self, factory=Cursor):
                return super().cursor(factory)

            def commit(self):
                super().commit()
                recorder.point("sqlite3 commit")

            def backup(self, target, *args, **kwargs):
                super().backup(target, *args, **kwargs)
                recorder.point("sqlite3 backup")

        def connect(*args, **kwargs):
            kwargs.setdefault("factory", Connection)
            return sqlite3.connect(*args, **kwargs)

        # Only dbtestkit's own use of the module: SQLAlchemy's is recorded by the event.
        proxy = types.ModuleType("sqlite3")
        proxy.__dict__.update(vars(sqlite3))
        proxy.connect = connect
        for name, module in list(sys.modules.items()):
            if name.startswith("dbtestkit") and getattr(module, "sqlite3", None) is sqlite3:
                module.sqlite3 = proxy


# -- scenarios: what a job's child does ---------------------------------------------------------


def _database(job):
    import dbtestkit

    return dbtestkit.TestDatabase(job["url"], alembic_ini=job["ini"], cache_dir=job["cache"],
                                  keep=False)


def build(job, recorder):
    """Build and publish the golden (the slot starts without one)."""
    golden = _database(job).ensure_golden()
    return {"built": golden.built}


def clone(job, recorder):
    """Make and drop one clone of every storage the backend offers (the golden exists)."""
    database = _database(job)
    golden = database.ensure_golden()
    storages = sorted(set(database.backend.clone_storage_of.values()))
    # The first clone's reap, in this thread: on the servers it runs in the
    # background, and the order of the points must not depend on threads.
    database.backend.reap_once()
    for storage in storages:
        database.backend.clone(golden.fingerprint, storage).drop()
    return {"kinds": storages}


def keep(job, recorder):
    """Keep a clone as a failed test would, find it with list_kept, delete it with delete_kept.

    Making the clone is the clone scenario's business: its points start at the keep.
    """
    recorder.active = False
    database = _database(job)
    backend = database.backend
    golden = database.ensure_golden()
    copy = backend.clone(golden.fingerprint, backend.clone_storage())
    recorder.active = True
    copy.keep(TEST_ID)
    for kept in list(backend.list_kept()):
        if kept.test_id == TEST_ID:
            backend.delete_kept(kept)
    return {}


def recover(job, recorder=None):
    """What the next, normal run does: use the golden (building it if need be), then reap."""
    from sqlalchemy import inspect, text

    database = _database(job)
    backend = database.backend
    golden = database.ensure_golden()
    # One clone, as a test takes it (without the pool's clones made ahead, to keep runs short).
    with backend.clone(golden.fingerprint, backend.clone_storage()) as copy, \
            copy.engine.connect() as connection:
        result = {
            "built": golden.built,
            "tables": sorted(inspect(connection).get_table_names()),
            "heads": connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all(),
        }
    if job.get("delete_kept") and hasattr(backend, "list_kept"):
        # What `dbtestkit prune --kept` does: a kept clone is the user's, until they delete it.
        for kept in list(backend.list_kept()):
            if kept.test_id == TEST_ID:
                backend.delete_kept(kept)
    result["reaped"] = backend.reap()
    return result


SCENARIOS = {"build": build, "clone": clone, "keep": keep, "recover": recover}


def run_job(job):
    """Run one job in this (forked) process; write its result; exit 0, or 1 on an error."""
    log = os.open(job["log"], os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    code = 0
    try:
        recorder = Recorder(job)
        if job["scenario"] != "recover":
            recorder.install()
        result = SCENARIOS[job["scenario"]](job, recorder)
        with _real_open(job["result"], "w") as stream:
            json.dump(result, stream)
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main():
    """Serve jobs from stdin until it closes."""
    preload()
    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            run_job(job)
        print(json.dumps({"pid": pid}), flush=True)
        deadline = time.monotonic() + job.get("timeout", 120)
        kill_after = job.get("kill_after")
        started = time.monotonic()
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            now = time.monotonic()
            if now > deadline or (kill_after is not None and now - started >= kill_after):
                os.kill(pid, signal.SIGKILL)
                kill_after = None
                if now > deadline:
                    print(json.dumps({"timeout": True}), flush=True)
            time.sleep(0.002)
        print(json.dumps({"exit": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    main()
