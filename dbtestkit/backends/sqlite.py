"""SQLite: goldens are files in the private cache; clones are in-memory or file copies."""

import contextlib
import os
import re
import shutil
import sqlite3
import time
from pathlib import Path

from sqlalchemy import event

from dbtestkit.backends.sqlite_archive import FileArchives
from dbtestkit.backends.sqlite_foreign_keys import enforce_for, stop_enforcing_for
from dbtestkit.backends.base import BackendBase
from dbtestkit.backends.clone import Clone
from dbtestkit.backends.processes import owner_is_gone, unique_suffix
from dbtestkit.backends.records import BuildTarget, GoldenListing, GoldenRecord, KeptClone
from dbtestkit.backends.sqlite_files import (
    FILE_MODE, Sidecar, Unsafe, backup, backup_into_file, check_private, owned, publish_golden,
    leftover_files, read_sidecar, signature, split_statements, unlink, unlink_database, vouch,
)
from dbtestkit.backends.sqlite_memory import (
    CAN_DESERIALIZE, GoldenBytes, LazilySharedClone, close_storage, memdb_clone,
)
from dbtestkit.config import private_directory
from dbtestkit.exceptions import DbtestkitError, GoldenMismatch

OUTER_BUSY_TIMEOUT_MS = 100


class Backend(FileArchives, BackendBase):
    """The SQLite backend."""

    name = "sqlite"
    # Memory: the golden's bytes, backed up into memdb once a URL is needed (sqlite_memory.py).
    clone_storage_of = {"in_process": "memory", "shared": "file"}
    other_connections_lock_wait = OUTER_BUSY_TIMEOUT_MS / 1000
    # Tables, indexes and triggers as written: a change detector (batch mode rewrites the DDL).
    schema_digest_sql = (
        "SELECT 'table', tbl_name, group_concat(type || ' ' || name || ' ' || coalesce(sql, ''), ';') "
        "FROM (SELECT * FROM sqlite_master WHERE type IN ('table', 'index', 'trigger') "
        "AND name NOT LIKE 'sqlite_%' AND tbl_name NOT IN "
        "(SELECT name FROM sqlite_master WHERE type = 'view') ORDER BY tbl_name, type, name) "
        "GROUP BY tbl_name "
        "UNION ALL SELECT 'view', name, sql FROM sqlite_master WHERE type = 'view'"
    )

    def __init__(self, url, cache_dir):
        super().__init__(url)
        self.directory = private_directory(Path(cache_dir) / "sqlite")
        self.clone_directory = self.directory / "clones"
        self.kept_directory = self.directory / "kept"
        self._clone_directory_checked = False
        # fingerprint -> the stat signature of its golden, as last vouched for.
        self._vouched = {}
        self._bytes = GoldenBytes()

    # -- identity -----------------------------------------------------------

    def identity(self):
        """Return what about this backend shapes a golden: name, library version, driver."""
        # "sqlite://" means pysqlite: said here, since asking the URL imports the dialect.
        driver = self.url.drivername.partition("+")[2] or "pysqlite"
        return f"sqlite {sqlite3.sqlite_version} {driver}"

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
    def _hold_build_lock(self, fingerprint, waiting):
        """Hold the file lock beside the golden."""
        # Imported here: a warm start (golden already built) never locks.
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.directory / f"golden-{fingerprint}.lock"), mode=FILE_MODE)
        try:
            lock.acquire(timeout=1)
        except Timeout:
            waiting()
            lock.acquire()
        try:
            yield
        finally:
            lock.release()

    def record_path(self, fingerprint):
        """Return the sidecar file holding the record of the golden with ``fingerprint``."""
        return self.directory / f"golden-{fingerprint}.json"

    def read_record(self, fingerprint):
        """Return the golden's record, None when there is no golden.

        The record says why the golden cannot be trusted (``problem``) unless
        the file is a private file of ours holding exactly the bytes it had
        when it was published.
        """
        path = self.golden_path(fingerprint)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return None
        try:
            check_private(path, info, "golden file")
            fields = read_sidecar(self.record_path(fingerprint), "golden record")
            if fields is None:
                raise Unsafe("it has no record beside it (interrupted publication, or removed)")
            self._check_bytes(fingerprint, path, info, fields)
            record = GoldenRecord.from_rows((k, v) for k, v in fields.items() if isinstance(v, str))
        except Unsafe as error:
            return GoldenRecord(problem=str(error), foreign=error.foreign)
        # The heads were checked in the build, and the bytes have not changed since.
        record.actual_heads = tuple(sorted(record.heads))
        return record

    def _check_bytes(self, fingerprint, path, info, fields):
        vouched = vouch(path, info, fields, self.record_path(fingerprint),
                        lambda: self._restamp_sidecar(fingerprint))
        if vouched is not None:
            self._vouched[fingerprint] = vouched

    def _restamp_sidecar(self, fingerprint):
        for path in self.directory.glob(f"restamp-{fingerprint[:16]}-*"):
            if owner_is_gone(path.name) and owned(path):
                unlink(path)  # left by a process killed while restamping
        try:
            return Sidecar(self.directory / f"restamp-{fingerprint[:16]}-{unique_suffix()}.json")
        except OSError:
            return None  # a read-only cache: the bytes are still checked, just not stamped

    def _check_golden_unchanged(self, fingerprint, path):
        try:
            current = signature(os.lstat(path))
        except FileNotFoundError:
            current = None
        if current is not None and current == self._vouched.get(fingerprint):
            return
        # Changed since it was checked (a test that wrote to the golden's path, say).
        record = self.read_record(fingerprint)
        problem = "it is gone" if record is None else record.mismatch(fingerprint)
        if problem:
            raise GoldenMismatch(f"Golden {fingerprint[:12]} ({path}) cannot be cloned: {problem}.")

    def start_build(self, fingerprint, parent=None):
        """Create the temporary file a golden is built in (a copy of the golden ``parent``, if given)."""
        name = f"build-{fingerprint[:16]}-{unique_suffix()}"
        path = self.directory / f"{name}.sqlite"
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
        if parent is not None:
            try:
                self._check_golden_unchanged(parent, self.golden_path(parent))
                backup_into_file(lambda target: backup(self.golden_path(parent), target), path)
            except BaseException:
                unlink_database(path)
                raise
        return BuildTarget(url=f"sqlite:///{path}", name=name, location=path)

    def publish(self, build, fingerprint):
        """Rename a finished build to the golden of ``fingerprint``, then publish its record beside it."""
        try:
            self._vouched[fingerprint] = publish_golden(
                build.location, self.golden_path(fingerprint), self.record_path(fingerprint),
                self.directory / f"{build.name}.json", dict(build.record.as_rows()),
            )
        except Unsafe as error:
            raise GoldenMismatch(f"Cannot publish golden {fingerprint[:12]}: {error}. Run again; "
                                 "the next run rebuilds it.") from error

    def abandon(self, build):
        """Delete a build that did not finish."""
        unlink_database(build.location)
        unlink(self.directory / f"{build.name}.json")

    def discard_golden(self, fingerprint):
        """Delete a golden that failed verification: its record first, so a kill leaves nothing trusted."""
        self._vouched.pop(fingerprint, None)
        self._bytes.forget(fingerprint)
        unlink(self.record_path(fingerprint))
        unlink_database(self.golden_path(fingerprint))

    def remove_stale_builds(self, fingerprint):
        """Delete builds left by killed processes (call under ``fingerprint``'s build lock).

        Builds of ``fingerprint`` are stale whoever made them, since we hold
        its lock; builds of other fingerprints, and records being restamped,
        only when their process is gone.
        """
        for path in [*self.directory.glob("build-*"), *self.directory.glob("restamp-*")]:
            ours_now = path.name.startswith(f"build-{fingerprint[:16]}-")
            if (ours_now or owner_is_gone(path.name)) and owned(path):
                unlink(path)

    def run_sql_script(self, connection, sql):
        """Run a multi-statement SQL script (a seed file)."""
        cursor = connection.connection.driver_connection.cursor()
        for statement in split_statements(sql):
            cursor.execute(statement)

    def list_goldens(self):
        """Yield a ``GoldenListing`` for every published golden of ours."""
        for path in sorted(self.directory.glob("golden-*.sqlite")):
            if not owned(path):
                continue
            fingerprint = path.stem[len("golden-"):]
            info = path.lstat()
            yield GoldenListing(fingerprint, path, info.st_size, info.st_mtime,
                                self._sidecar_fields(self.record_path(fingerprint)).get("label", ""))

    def delete_golden(self, path):
        """Delete one golden file and its record (used by prune), under its build lock."""
        fingerprint = path.stem[len("golden-"):]
        with self.build_lock(fingerprint):
            self.discard_golden(fingerprint)

    def _sidecar_fields(self, path):
        try:
            return read_sidecar(path, "record") or {}
        except (Unsafe, OSError):
            return {}

    # -- clones -------------------------------------------------------------

    def _survives_crash(self, storage):
        """Only file clones do: a memory clone goes with its process."""
        return storage != "memory"

    def _clone_name(self, fingerprint):
        """Return ``clone-<fingerprint>-<host>-<pid>-<n>-<random>``."""
        return f"clone-{fingerprint[:12]}-{unique_suffix()}"

    def _copy_golden(self, fingerprint, name, storage):
        """Back the golden up into memory (``memory``), or copy its file into ``clones/`` (``file``)."""
        golden = self.golden_path(fingerprint)
        # A stat per clone: a golden written to since it was checked is never copied.
        self._check_golden_unchanged(fingerprint, golden)

        def fill(target):  # checked again: a private copy may be shared much later
            self._check_golden_unchanged(fingerprint, golden)
            backup(golden, target)

        data = self._bytes.read(fingerprint, golden, self._vouched.get(fingerprint)) \
            if storage == "memory" and CAN_DESERIALIZE else None
        if data is not None:
            return LazilySharedClone(self, name, fingerprint, data, fill)
        return self._new_clone(name, storage, fingerprint, fill, lambda path: shutil.copyfile(golden, path))

    def _copy_clone(self, source, name, storage):
        """Back the clone ``source`` (in memory or a file) up into memory or a new file."""
        if source.keeper is not None:
            fill = source.keeper.backup
        else:
            def fill(target):
                backup(source.location, target)
        return self._new_clone(name, storage, source.fingerprint, fill)

    def _new_clone(self, name, storage, fingerprint, fill, copy_file=None):
        # fill(target) backs the source up into an open sqlite3 connection; copy_file(path) is faster.
        if storage == "memory":
            return memdb_clone(self, name, fingerprint, fill)
        if not self._clone_directory_checked:
            private_directory(self.clone_directory)
            self._clone_directory_checked = True
        path = self.clone_directory / f"{name}.sqlite"
        if copy_file is not None:
            copy_file(path)
            os.chmod(path, FILE_MODE)
        else:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
            backup_into_file(fill, path)
        return Clone(self, f"sqlite:///{path}", name, location=path, fingerprint=fingerprint)

    def prepare_build_engine(self, engine):
        """Commit without waiting for the disk: ``publish`` flushes the finished build once."""
        event.listen(engine, "connect", lambda dbapi, _: dbapi.execute("PRAGMA synchronous = OFF"))

    def prepare_outer_engine(self, engine):
        """Make SAVEPOINT work on ``engine``, and other connections fail fast instead of waiting."""
        _emit_begin(engine)
        super().prepare_outer_engine(engine)

    def prepare_own_engine(self, engine):
        """Make SAVEPOINT work on ``engine``, and its connections wait only briefly (see ``limit_lock_wait``)."""
        _emit_begin(engine)
        event.listen(engine, "connect", lambda dbapi_connection, _: self.limit_lock_wait(dbapi_connection))

    def limit_lock_wait(self, dbapi_connection):
        """Wait only briefly when the database is locked.

        An in-memory database locks readers out while a transaction writes,
        so the test's own connection keeps this short wait too: waiting 5 s
        (the driver's default) would only delay the same "database is locked".
        """
        # Through a cursor (freed at once): aiosqlite's adapted connection has no execute().
        dbapi_connection.cursor().execute(f"PRAGMA busy_timeout = {OUTER_BUSY_TIMEOUT_MS}")

    def is_lock_wait_timeout(self, dbapi_error):
        """Tell whether the error is SQLITE_BUSY, "database is locked"."""
        return "database is locked" in str(dbapi_error)

    def enforce_foreign_keys(self, clone):
        """Switch foreign keys on for every connection to ``clone``: SQLite leaves them off."""
        enforce_for(clone)

    def drop_clone(self, clone):
        """Delete a clone's storage."""
        stop_enforcing_for(clone)
        if clone.location is not None:
            unlink_database(clone.location)
        else:
            close_storage(clone)

    def keep_clone(self, clone, label):
        """Keep a clone as a file in ``kept/``, its test id ``label`` and time beside it; return its path."""
        stop_enforcing_for(clone)
        kept = private_directory(self.kept_directory)
        stem = f"{re.sub(r'[^A-Za-z0-9_.-]', '_', label)[:100]}-{unique_suffix()}"
        path = kept / f"{stem}.sqlite"
        golden = self._sidecar_fields(self.record_path(clone.fingerprint or ""))
        project = clone.project or golden.get("label", "")
        fields = {"test_id": label, "kept_at": time.time(), "label": project,
                  "fingerprint": clone.fingerprint or ""}
        if clone.location is not None:
            os.replace(clone.location, path)
        else:
            # Created here, exclusively and private, before the backup fills it.
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
            try:
                backup_into_file(clone.keeper.backup, path)
            finally:
                close_storage(clone)
        # Written after the file: a kill in between leaves a kept file with an unknown test id.
        sidecar = Sidecar(kept / f"{stem}.json.partial")
        try:
            sidecar.publish(fields, str(kept / f"{stem}.json"))
        finally:
            sidecar.discard()
        return str(path)

    def list_kept(self):
        """Yield a ``KeptClone`` for every clone of ours kept after its test failed."""
        if not self.kept_directory.is_dir():
            return
        kept = private_directory(self.kept_directory)
        for path in sorted(kept.glob("*.sqlite")):
            if not owned(path):
                continue
            fields = self._sidecar_fields(path.with_suffix(".json"))
            kept_at = fields.get("kept_at")
            if not isinstance(kept_at, (int, float)):
                kept_at = path.lstat().st_mtime
            yield KeptClone(str(path), str(fields.get("test_id", "")), float(kept_at),
                            str(fields.get("label", "")))

    def delete_kept(self, kept):
        """Delete one kept clone (a ``KeptClone`` from ``list_kept``) and its sidecar."""
        path = Path(kept.location)
        if path.parent.resolve() != self.kept_directory.resolve() or path.suffix != ".sqlite":
            raise DbtestkitError(
                f"{path} is not a clone kept in {self.kept_directory}; dbtestkit deletes only its own."
            )
        if not owned(path):
            raise DbtestkitError(f"Refusing to delete {path}: it belongs to another user.")
        unlink(path.with_suffix(".json"))
        unlink(path.with_suffix(".json.partial"))
        unlink_database(path)

    def leftover_clones(self):
        """Return the file clones, and the half-kept clones, whose owning process is gone."""
        return leftover_files(self.clone_directory, self.kept_directory)

    def reap(self):
        """Delete leftover clones of dead processes; return their names."""
        reaped = self.leftover_clones()
        for path in reaped:
            unlink_database(path)
        return [p.name for p in reaped]


def _emit_begin(engine):
    # pysqlite and aiosqlite defer BEGIN until the first DML, which breaks savepoints
    # (SQLAlchemy's documented fix). Only in savepoint mode: with it every read holds
    # a lock until commit, which clone-per-test suites with several connections trip over.
    @event.listens_for(engine, "connect")
    def _take_over_transactions(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN")
