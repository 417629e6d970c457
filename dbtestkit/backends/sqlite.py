"""SQLite: goldens are files in the private cache; clones are in-memory or file copies."""

import contextlib
import os
import re
import shutil
import sqlite3
import time
from pathlib import Path

from dbtestkit.backends.base import (
    BackendBase, BuildTarget, GoldenListing, GoldenRecord, owner_is_gone, unique_suffix,
)
from dbtestkit.clone import Clone
from dbtestkit.progress import report

RECORD_TABLE = "dbtestkit_golden"
FILE_MODE = 0o600
SIDE_FILES = ("-journal", "-wal", "-shm")
OUTER_BUSY_TIMEOUT_MS = 100


class Backend(BackendBase):
    """The SQLite backend."""

    name = "sqlite"
    # Backup into memory costs about half of a file copy plus a new engine
    # (benchmarks/isolation.py), and memdb URLs work for any engine in the
    # process; file clones are for URLs shared with other processes.
    clone_storage_of = {"in_process": "memory", "shared": "file"}
    other_connections_lock_wait = OUTER_BUSY_TIMEOUT_MS / 1000

    def __init__(self, url, cache_dir):
        self.url = url
        self.directory = Path(cache_dir) / "sqlite"
        self.directory.mkdir(mode=0o700, exist_ok=True)
        self.clone_directory = self.directory / "clones"

    # -- identity -----------------------------------------------------------

    def identity(self):
        """Return what about this backend shapes a golden: name, library version, driver."""
        return f"sqlite {sqlite3.sqlite_version} {self.url.get_driver_name()}"

    def describe(self):
        """Return where this backend keeps goldens, for messages."""
        return str(self.directory)

    # -- golden -------------------------------------------------------------

    def golden_path(self, fingerprint):
        """Return the file a golden with ``fingerprint`` is published as."""
        return self.directory / f"golden-{fingerprint}.sqlite"

    def golden_url(self, fingerprint):
        """Return the URL of the golden (read it; never write it)."""
        return f"sqlite:///{self.golden_path(fingerprint)}"

    @contextlib.contextmanager
    def build_lock(self, fingerprint):
        """Hold the cross-process lock under which one golden is built."""
        # Imported here: a warm start (golden already built) never locks.
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.directory / f"golden-{fingerprint}.lock"), mode=FILE_MODE)
        try:
            lock.acquire(timeout=1)
        except Timeout:
            report(f"waiting for another process to build golden {fingerprint[:12]}")
            lock.acquire()
        try:
            yield
        finally:
            lock.release()

    def read_record(self, fingerprint):
        """Return the golden's record, None when there is no golden."""
        path = self.golden_path(fingerprint)
        if not path.exists():
            return None
        try:
            connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        except sqlite3.Error as error:
            return GoldenRecord(problem=f"it cannot be opened ({error})")
        try:
            rows = connection.execute(f"SELECT key, value FROM {RECORD_TABLE}").fetchall()
            record = GoldenRecord.from_rows(rows)
            if record.version_table:
                table = _quote(record.version_table)
                heads = [row[0] for row in connection.execute(f"SELECT version_num FROM {table}")]
                record.actual_heads = tuple(sorted(heads))
            return record
        except sqlite3.Error as error:
            return GoldenRecord(problem=f"it is unreadable ({error})")
        finally:
            connection.close()

    def start_build(self, fingerprint):
        """Create the temporary file a golden is built in."""
        name = f"build-{fingerprint[:16]}-{unique_suffix()}"
        path = self.directory / f"{name}.sqlite"
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
        return BuildTarget(url=f"sqlite:///{path}", name=name, location=path)

    def write_record(self, connection, record):
        """Store the golden's record inside it."""
        connection.exec_driver_sql(
            f"CREATE TABLE {RECORD_TABLE} (key VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL)"
        )
        for key, value in record.as_rows():
            connection.exec_driver_sql(f"INSERT INTO {RECORD_TABLE} VALUES (?, ?)", (key, value))

    def publish(self, build, fingerprint):
        """Atomically make a finished build the golden for ``fingerprint``."""
        os.chmod(build.location, FILE_MODE)
        os.replace(build.location, self.golden_path(fingerprint))
        _fsync_directory(self.directory)

    def abandon(self, build):
        """Delete a build that did not finish."""
        _unlink_database(build.location)

    def discard_golden(self, fingerprint):
        """Delete a golden that failed verification."""
        _unlink_database(self.golden_path(fingerprint))

    def remove_stale_builds(self, fingerprint):
        """Delete builds left by killed processes (call under ``fingerprint``'s build lock).

        Builds of ``fingerprint`` are stale whoever made them, since we hold
        its lock; builds of other fingerprints only when their process is gone.
        """
        for path in self.directory.glob("build-*.sqlite"):
            if path.name.startswith(f"build-{fingerprint[:16]}-") or owner_is_gone(path.name):
                _unlink_database(path)

    def run_sql_script(self, connection, sql):
        """Run a multi-statement SQL script (a seed file)."""
        cursor = connection.connection.driver_connection.cursor()
        for statement in _split_statements(sql):
            cursor.execute(statement)

    def list_goldens(self):
        """Yield a ``GoldenListing`` for every published golden."""
        for path in sorted(self.directory.glob("golden-*.sqlite")):
            fingerprint = path.stem[len("golden-"):]
            record = self.read_record(fingerprint) or GoldenRecord()
            info = path.stat()
            yield GoldenListing(fingerprint, path, info.st_size, info.st_mtime, record.label)

    def delete_golden(self, path):
        """Delete one golden file (used by prune), under its build lock."""
        with self.build_lock(path.stem[len("golden-"):]):
            _unlink_database(path)

    # -- clones -------------------------------------------------------------

    def clone(self, fingerprint, kind):
        """Copy the golden into a new clone of ``kind`` (``memory`` or ``file``)."""
        golden = self.golden_path(fingerprint)
        name = f"clone-{fingerprint[:12]}-{unique_suffix()}"
        if kind == "memory":
            uri = f"file:/dbtestkit-{name}?vfs=memdb"
            keeper = sqlite3.connect(uri, uri=True, check_same_thread=False)
            _backup(golden, keeper)
            return Clone(self, f"sqlite:///{uri}&uri=true", name, keeper=keeper)
        self.reap_once()
        self.clone_directory.mkdir(mode=0o700, exist_ok=True)
        path = self.clone_directory / f"{name}.sqlite"
        shutil.copyfile(golden, path)
        os.chmod(path, FILE_MODE)
        return Clone(self, f"sqlite:///{path}", name, location=path)

    def prepare_outer_engine(self, engine):
        """Make SAVEPOINT work on ``engine``, and other connections fail fast instead of waiting."""
        from sqlalchemy import event

        # pysqlite defers BEGIN until the first DML, which breaks savepoints
        # (the fix from SQLAlchemy's SQLite docs). It is applied only here:
        # with it, every read holds a lock until commit, which clone-per-test
        # suites that open several connections would trip over.
        @event.listens_for(engine, "connect")
        def _take_over_transactions(dbapi_connection, connection_record):
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _emit_begin(connection):
            connection.exec_driver_sql("BEGIN")

        super().prepare_outer_engine(engine)

    def limit_lock_wait(self, dbapi_connection):
        """Wait only briefly when the database is locked.

        An in-memory database locks readers out while a transaction writes,
        so the test's own connection keeps this short wait too: waiting 5 s
        (the driver's default) would only delay the same "database is locked".
        """
        dbapi_connection.execute(f"PRAGMA busy_timeout = {OUTER_BUSY_TIMEOUT_MS}")

    def is_lock_wait_timeout(self, dbapi_error):
        """Tell whether the error is SQLITE_BUSY, "database is locked"."""
        return "database is locked" in str(dbapi_error)

    def drop_clone(self, clone):
        """Delete a clone's storage."""
        if clone.location is not None:
            _unlink_database(clone.location)
        elif clone._keeper is not None:
            clone._keeper.close()

    def keep_clone(self, clone, label):
        """Keep a clone as a file named after ``label``; return its path."""
        kept = self.directory / "kept"
        kept.mkdir(mode=0o700, exist_ok=True)
        path = kept / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', label)}-{time.strftime('%Y%m%d-%H%M%S')}.sqlite"
        if clone.location is not None:
            os.replace(clone.location, path)
        else:
            target = sqlite3.connect(path)
            try:
                clone._keeper.backup(target)
            finally:
                target.close()
                clone._keeper.close()
            os.chmod(path, FILE_MODE)
        return str(path)

    def leftover_clones(self):
        """Return the file clones whose owning process is gone."""
        if not self.clone_directory.is_dir():
            return []
        return [p for p in self.clone_directory.glob("clone-*.sqlite") if owner_is_gone(p.name)]

    def reap(self):
        """Delete leftover clones of dead processes; return their names."""
        reaped = self.leftover_clones()
        for path in reaped:
            _unlink_database(path)
        return [p.name for p in reaped]


def _backup(golden, target):
    source = sqlite3.connect(f"file:{golden}?mode=ro", uri=True)
    try:
        source.backup(target)
    finally:
        source.close()


def _unlink_database(path):
    for suffix in ("", *SIDE_FILES):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


def _fsync_directory(directory):
    # Without this a power cut can lose the rename while keeping the data.
    if hasattr(os, "O_DIRECTORY"):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _quote(identifier):
    return '"' + identifier.replace('"', '""') + '"'


def _split_statements(sql):
    # sqlite3.complete_statement knows where a statement really ends (not
    # inside strings or triggers), unlike a naive split on ";".
    statement = ""
    for line in sql.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            if statement.strip():
                yield statement
            statement = ""
    if statement.strip():
        yield statement
