"""MySQL and MariaDB: goldens are databases published by a catalog row; clones copy tables."""

import contextlib
import time

from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from dbtestkit.backends.mysql_archive import dump_frames, load_frames, schema_digest
from dbtestkit.backends.processes import creator_is_gone
from dbtestkit.backends.records import BuildTarget, GoldenListing, GoldenRecord, KeptClone
from dbtestkit.backends.mysql_catalog import Catalog
from dbtestkit.backends.mysql_copy import copy_statements
from dbtestkit.backends.server import (
    PREFIX, AdminConnection, epoch_of, foreign_message, Leftover, quote, run_on_dbapi, ServerBackend,
)
from dbtestkit.backends.clone import Clone
from dbtestkit.exceptions import DbtestkitError

START_HINT = "Start it (e.g. start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd)"
# Part of the fingerprint: goldens whose record lived in a table inside them
# (before the catalog) get other names, so neither kind mistakes the other for foreign.
RECORDS = "catalog-1"
LOCK_POLL_SECONDS = 5
UNRECORDED = "nobody dbtestkit knows of (its catalog has no entry for it)"
# A test's DDL commits implicitly on MySQL and erases every savepoint:
# error 1305, "SAVEPOINT ... does not exist".
SAVEPOINT_DOES_NOT_EXIST = 1305
# A row lock (innodb_lock_wait_timeout) or table lock (lock_wait_timeout) wait ran out.
LOCK_WAIT_TIMEOUT = 1205


class Backend(ServerBackend):
    """The MySQL / MariaDB backend."""

    name = "mysql"
    # A downgrade costs about half an upgrade (benchmarks/data_migrations.py).
    downgrade_step_cost = 0.5
    ddl_commits_implicitly = True

    def __init__(self, url, cache_dir):
        super().__init__(url, AdminConnection(url, "MySQL/MariaDB", START_HINT))
        self._version = None
        self._copy_scripts = {}
        self._copier = None
        # Which databases are ours lives beside them, never inside (the app would see it).
        self.catalog = Catalog(self.describe)

    # -- identity -----------------------------------------------------------

    @property
    def server_version(self):
        """The server's version string, e.g. ``10.11.19-MariaDB-0+deb12u1``."""
        if self._version is None:
            with self.admin.connect() as connection:
                self._version = connection.exec_driver_sql("SELECT VERSION()").scalar()
        return self._version

    def identity(self):
        """Return what shapes a golden here: flavour, major.minor version, how records are kept."""
        flavour = "mariadb" if "mariadb" in self.server_version.lower() else "mysql"
        return f"{flavour} {'.'.join(self.server_version.split('.')[:2])} {RECORDS}"

    # -- golden -------------------------------------------------------------

    @contextlib.contextmanager
    def _hold_build_lock(self, fingerprint, waiting):
        """Hold the named lock (GET_LOCK) of ``fingerprint``, on any machine."""
        lock = f"{PREFIX}_{fingerprint[:40]}"
        with self.admin.connect() as connection:
            waited = False
            while not connection.exec_driver_sql(
                "SELECT GET_LOCK(%s, %s)", (lock, LOCK_POLL_SECONDS)
            ).scalar():
                if not waited:
                    waiting()
                    waited = True
            try:
                yield
            finally:
                connection.exec_driver_sql("SELECT RELEASE_LOCK(%s)", (lock,))

    def read_record(self, fingerprint):
        """Return the golden's record, None when there is no golden. Never drops anything."""
        name = self.golden_name(fingerprint)
        with self.admin.connect() as connection:
            entry = self.catalog.get(connection, name)
            exists = self._exists(connection, name)
            if entry is None and not exists:
                return None
            if entry is None or not entry.mine:
                owner = entry.owner if entry else UNRECORDED
                return GoldenRecord(problem=foreign_message(name, owner), foreign=True)
            if entry.kind != "golden":
                return GoldenRecord(problem="its build never finished")
            if not exists:
                return GoldenRecord(problem="its database is missing")
            record = GoldenRecord.from_rows(entry.record.items())
            if record.version_table:
                try:
                    rows = connection.exec_driver_sql(
                        f"SELECT version_num FROM {quote(connection, name)}."
                        f"{quote(connection, record.version_table)}"
                    ).all()
                except Exception as error:
                    record.problem = f"its version table cannot be read ({error})"
                    return record
                record.actual_heads = tuple(sorted(row[0] for row in rows))
            return record

    def start_build(self, fingerprint, parent=None):
        """Create the golden's database (a copy of the golden ``parent``), a build until it is published."""
        name = self.golden_name(fingerprint)
        if parent is None:
            self._create(name, "build", fingerprint)
            return BuildTarget(url=self.url_of(name), name=name)
        try:
            self._copy_database(self.golden_name(parent), name, "build", fingerprint)
        except Exception as error:
            raise DbtestkitError(f"Cannot copy golden {parent[:12]}: {error}") from error
        return BuildTarget(url=self.url_of(name), name=name)

    def write_record(self, connection, record):
        """Publish: turn the catalog's build entry into the golden's record, in one statement."""
        name = connection.exec_driver_sql("SELECT DATABASE()").scalar()
        self.catalog.change(connection, name, "build", "golden", dict(record.as_rows()))

    def publish(self, build, fingerprint):
        """Nothing left to do: the catalog row written by write_record was the publication."""
        self._copy_scripts.pop(self.golden_name(fingerprint), None)

    def abandon(self, build):
        """Drop a build that did not finish."""
        with self.admin.connect() as connection:
            entry = self.catalog.get(connection, build.name)
            if entry is not None and entry.mine and entry.kind == "build":
                self._drop(connection, build.name)

    def discard_golden(self, fingerprint):
        """Drop a golden of ours that failed verification (called under its build lock)."""
        self._drop_if_ours(self.golden_name(fingerprint))

    def remove_stale_builds(self, fingerprint):
        """Drop this fingerprint's unfinished build (its builder is gone: we hold the lock)."""
        name = self.golden_name(fingerprint)
        with self.admin.connect() as connection:
            entry = self.catalog.get(connection, name)
            if entry is not None and entry.mine and entry.kind == "build":
                self._drop(connection, name)

    def run_sql_script(self, connection, sql):
        """Run a multi-statement SQL script (a seed file), one statement at a time."""
        for statement in filter(None, (part.strip() for part in sql.split(";"))):
            connection.exec_driver_sql(statement)

    def list_goldens(self):
        """Yield a ``GoldenListing`` for every golden of ours."""
        with self.admin.connect() as connection:
            for entry in self.catalog.entries(connection, ("golden",)):
                if not self._exists(connection, entry.name):
                    continue
                size = connection.exec_driver_sql(
                    "SELECT COALESCE(SUM(data_length + index_length), 0) FROM "
                    "information_schema.TABLES WHERE table_schema = %s", (entry.name,)
                ).scalar()
                yield GoldenListing(entry.name[len(f"{PREFIX}_golden_"):], entry.name, int(size),
                                    epoch_of(entry.record.get("built_at", "")),
                                    entry.record.get("label", ""))

    def golden_names(self):
        """Return the names of this account's goldens in the catalog (one query)."""
        with self.admin.connect() as connection:
            return {entry.name for entry in self.catalog.entries(connection, ("golden",))}

    # -- archives -------------------------------------------------------------

    def export_frames(self, fingerprint):
        """Dump the golden (a plain database, only read here): its DDL and typed rows."""
        name = self.golden_name(fingerprint)
        with self.admin.connect() as connection:
            return dump_frames(connection, name), schema_digest(connection, name)

    def restore_frames(self, build, frames):
        """Run the archive's statements and inserts in the new build."""
        engine = create_engine(build.url, poolclass=NullPool)
        try:
            with engine.begin() as connection:
                load_frames(connection, frames)
        finally:
            engine.dispose()
        with self.admin.connect() as connection:
            return schema_digest(connection, build.name)

    # -- clones -------------------------------------------------------------

    def _copy_golden(self, fingerprint, name, storage):
        """Create a database and copy every table, view and trigger of the golden into it."""
        self._copy_database(self.golden_name(fingerprint), name, "clone", fingerprint)
        return Clone(self, self.url_of(name), name, fingerprint=fingerprint)

    def _copy_clone(self, source, name, storage):
        """Create a database and copy every table, view and trigger of the clone ``source`` into it."""
        self._copy_database(source.name, name, "clone", source.fingerprint)
        return Clone(self, self.url_of(name), name, fingerprint=source.fingerprint)

    def _copy_database(self, source, name, kind, fingerprint):
        """Create database ``name`` (a ``kind`` of ours) holding a copy of everything in ``source``."""
        script = self._copy_script(source)
        self._create(name, kind, fingerprint)
        try:
            with self._copier_engine().connect() as connection:
                connection.exec_driver_sql(f"USE {quote(connection, name)}")
                connection.exec_driver_sql("SET SESSION foreign_key_checks = 0")
                for statement in script:
                    connection.exec_driver_sql(statement)
                connection.commit()
        except BaseException:
            with self.admin.connect() as connection:
                self._drop(connection, name)
            raise

    def drop_clone(self, clone):
        """Drop a clone, and forget how to copy it (a class snapshot is copied until it is dropped)."""
        self._copy_scripts.pop(clone.name, None)
        super().drop_clone(clone)

    def dispose(self):
        """Close the admin connections and the copier's engine."""
        super().dispose()
        if self._copier is not None:
            self._copier.dispose()

    def _copier_engine(self):
        # Its own connections, not pooled: they switch databases with USE, and
        # a pooled one left "in" a clone would be killed when that clone is dropped.
        if self._copier is None:
            self._copier = create_engine(self.url, poolclass=NullPool)
        return self._copier

    def _copy_script(self, source):
        """Return (and cache: goldens and snapshots never change) the statements that copy ``source``."""
        if source not in self._copy_scripts:
            with self.admin.connect() as connection:
                self._copy_scripts[source] = list(copy_statements(connection, source))
        return self._copy_scripts[source]

    def limit_lock_wait(self, dbapi_connection):
        """Make row locks (InnoDB) and table locks (metadata) wait only briefly in this session."""
        seconds = max(1, round(self.other_connections_lock_wait))
        run_on_dbapi(dbapi_connection, f"SET SESSION innodb_lock_wait_timeout = {seconds}, "
                                       f"SESSION lock_wait_timeout = {seconds}")

    def restore_lock_wait(self, dbapi_connection):
        """Give this session the server's own lock waits again."""
        run_on_dbapi(dbapi_connection, "SET SESSION innodb_lock_wait_timeout = DEFAULT, "
                                       "SESSION lock_wait_timeout = DEFAULT")

    def is_lock_wait_timeout(self, dbapi_error):
        """Tell whether the error is 1205, "Lock wait timeout exceeded"."""
        args = getattr(dbapi_error, "args", ())
        return bool(args) and args[0] == LOCK_WAIT_TIMEOUT

    def savepoint_lost(self, error):
        """Tell whether ``error`` says the test's savepoint vanished (DDL committed implicitly)."""
        args = getattr(getattr(error, "orig", None), "args", ())
        return bool(args) and args[0] == SAVEPOINT_DOES_NOT_EXIST

    def keep_clone(self, clone, label):
        """Keep a clone (MySQL cannot rename databases); return its URL, password masked.

        Its catalog entry becomes "kept", with the test id ``label``, in one statement.
        """
        with self.admin.connect() as connection:
            entry = self.catalog.get(connection, clone.name)
            golden = self.catalog.get(connection, self.golden_name(entry.fingerprint)) if entry else None
            self.catalog.change(connection, clone.name, "clone", "kept", {
                "test_id": label, "kept_at": time.time(),
                # The project the clone was made for; the golden's builder may be another.
                "label": clone.project or (golden.record.get("label", "") if golden else ""),
            })
        return self.url.set(database=clone.name).render_as_string(hide_password=True)

    def list_kept(self):
        """Yield a ``KeptClone`` for every clone of ours kept after its test failed."""
        with self.admin.connect() as connection:
            kept = [entry for entry in self.catalog.entries(connection, ("kept",))
                    if self._exists(connection, entry.name)]
        for entry in kept:
            yield KeptClone(self.url.set(database=entry.name).render_as_string(hide_password=True),
                            entry.record.get("test_id", ""), float(entry.record.get("kept_at", 0)),
                            entry.record.get("label", ""))

    # -- leftovers ------------------------------------------------------------

    def leftovers(self):
        """Return the ``Leftover`` entries of ours that ``reap`` removes.

        Clones whose process is gone, builds whose fingerprint's lock nobody
        holds, and entries whose database is gone (a kill between a DROP and
        forgetting its entry, or between the intent and its CREATE).
        """
        found = []
        with self.admin.connect() as connection:
            for entry in self.catalog.entries(connection):
                exists = self._exists(connection, entry.name)
                if entry.kind == "clone" and creator_is_gone(entry.creator):
                    found.append(Leftover(entry.name, "clone", entry.fingerprint, "its process is gone"))
                elif entry.kind == "build":
                    with self._lock_if_free(connection, entry.fingerprint) as free:
                        if free:
                            found.append(Leftover(entry.name, "build", entry.fingerprint,
                                                  "its build never finished"))
                elif not exists and entry.kind in ("golden", "kept"):
                    found.append(Leftover(entry.name, "record", entry.fingerprint,
                                          "its database is gone"))
        return found

    def _remove_leftover(self, leftover):
        with self.admin.connect() as connection:
            if leftover.kind != "build":
                self._drop_if_ours(leftover.name)
                return True
            # Decided again under the fingerprint's lock: a build may have started since.
            with self._lock_if_free(connection, leftover.fingerprint) as free:
                entry = self.catalog.get(connection, leftover.name)
                if free and entry is not None and entry.mine and entry.kind == "build":
                    self._drop(connection, leftover.name)
                return free

    @contextlib.contextmanager
    def _lock_if_free(self, connection, fingerprint):
        lock = f"{PREFIX}_{fingerprint[:40]}"
        free = bool(connection.exec_driver_sql("SELECT GET_LOCK(%s, 0)", (lock,)).scalar())
        try:
            yield free
        finally:
            if free:
                connection.exec_driver_sql("SELECT RELEASE_LOCK(%s)", (lock,))

    # -- helpers --------------------------------------------------------------

    def _exists(self, connection, name):
        return connection.exec_driver_sql(
            "SELECT 1 FROM information_schema.SCHEMATA WHERE schema_name = %s", (name,)
        ).first() is not None

    def _record_intent(self, connection, name, kind, fingerprint):
        """Add the catalog entry: killed right after the CREATE, the database is still provably ours."""
        self.catalog.add(connection, name, kind, fingerprint)

    def _create_database(self, connection, name, template):
        connection.exec_driver_sql(f"CREATE DATABASE {quote(connection, name)} CHARACTER SET utf8mb4")

    def _forget_intent(self, connection, name):
        """Remove the catalog entry of a CREATE that failed, when no database of that name exists."""
        if not self._exists(connection, name):
            self.catalog.remove(connection, name)

    def _drop_if_ours(self, name, kinds=None):
        with self.admin.connect() as connection:
            entry = self.catalog.get(connection, name)
            if entry is None or not entry.mine:
                if not self._exists(connection, name):
                    return
                owner = entry.owner if entry else UNRECORDED
                raise DbtestkitError(f"Refusing to drop {foreign_message(name, owner)}.")
            if kinds is not None and entry.kind not in kinds:
                raise DbtestkitError(
                    f"Refusing to drop database {name}: it is a {entry.kind} of dbtestkit's, "
                    f"not a {' or '.join(kinds)}."
                )
            self._drop(connection, name)

    def _drop(self, connection, name):
        """Drop database ``name`` of ours, then forget its entry (in that order: see leftovers)."""
        # A connection a test left inside the database would hold metadata
        # locks and make DROP DATABASE wait; end those connections first.
        for (process_id,) in connection.exec_driver_sql(
            "SELECT id FROM information_schema.PROCESSLIST WHERE db = %s AND id <> CONNECTION_ID()",
            (name,),
        ):
            with contextlib.suppress(Exception):
                connection.exec_driver_sql(f"KILL {int(process_id)}")
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote(connection, name)}")
        self.catalog.remove(connection, name)
