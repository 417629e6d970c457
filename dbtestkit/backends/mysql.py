"""MySQL and MariaDB: goldens are databases published by a marker row; clones copy tables."""

import contextlib

from dbtestkit.backends.base import BuildTarget, GoldenListing, GoldenRecord, unique_suffix
from dbtestkit.backends.server import (
    PREFIX, AdminConnection, ServerBackend, database_name, epoch_of, made_here_unmarked,
    marker_text, parse_marker,
)
from dbtestkit.clone import Clone
from dbtestkit.exceptions import DbtestkitError
from dbtestkit.progress import report

START_HINT = "Start it (e.g. start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd)"
# Every database dbtestkit makes holds this table; for a golden, its row is
# written last, which is what publishes it (MySQL has no RENAME DATABASE).
MARKER_TABLE = "dbtestkit_marker"
LOCK_POLL_SECONDS = 5
# A test's DDL commits implicitly on MySQL and erases every savepoint:
# error 1305, "SAVEPOINT ... does not exist".
SAVEPOINT_DOES_NOT_EXIST = 1305
# A row lock (innodb_lock_wait_timeout) or table lock (lock_wait_timeout) wait ran out.
LOCK_WAIT_TIMEOUT = 1205


class Backend(ServerBackend):
    """The MySQL / MariaDB backend."""

    name = "mysql"

    def __init__(self, url, cache_dir):
        self.url = url
        self.admin = AdminConnection(url, "MySQL/MariaDB", START_HINT)
        self._version = None
        self._copy_scripts = {}
        self._copier = None

    # -- identity -----------------------------------------------------------

    @property
    def server_version(self):
        """The server's version string, e.g. ``10.11.19-MariaDB-0+deb12u1``."""
        if self._version is None:
            with self.admin.connect() as connection:
                self._version = connection.exec_driver_sql("SELECT VERSION()").scalar()
        return self._version

    def identity(self):
        """Return what about this server shapes a golden: flavour and major.minor version."""
        flavour = "mariadb" if "mariadb" in self.server_version.lower() else "mysql"
        return f"{flavour} {'.'.join(self.server_version.split('.')[:2])}"

    # -- golden -------------------------------------------------------------

    @contextlib.contextmanager
    def build_lock(self, fingerprint):
        """Hold the named lock (GET_LOCK) under which one golden is built, on any machine."""
        lock = f"{PREFIX}_{fingerprint[:40]}"
        with self.admin.connect() as connection:
            waited = False
            while not connection.exec_driver_sql(
                "SELECT GET_LOCK(%s, %s)", (lock, LOCK_POLL_SECONDS)
            ).scalar():
                if not waited:
                    report(f"waiting for another process to build golden {fingerprint[:12]}")
                    waited = True
            try:
                yield
            finally:
                connection.exec_driver_sql("SELECT RELEASE_LOCK(%s)", (lock,))

    def read_record(self, fingerprint):
        """Return the golden's record, None when there is no golden."""
        name = self.golden_name(fingerprint)
        with self.admin.connect() as connection:
            if not self._exists(connection, name):
                return None
            marker = self._marker(connection, name)
            if marker is None and self._is_empty(connection, name):
                # Killed between CREATE DATABASE and writing the build marker:
                # an empty database holds nothing to lose.
                self._drop(connection, name)
                return None
            if marker is None:
                return GoldenRecord(problem=self._foreign(name, {}), foreign=True)
            if marker.get("owner") != self._current_user(connection):
                return GoldenRecord(problem=self._foreign(name, marker), foreign=True)
            if marker.get("kind") != "golden":
                return GoldenRecord(problem="its build never finished")
            record = GoldenRecord.from_rows(marker.get("record", {}).items())
            if record.version_table:
                rows = connection.exec_driver_sql(
                    f"SELECT version_num FROM {quote(name)}.{quote(record.version_table)}"
                )
                record.actual_heads = tuple(sorted(row[0] for row in rows))
            return record

    def _foreign(self, name, marker):
        return (
            f"database {name} was made by {marker.get('owner', 'someone else')}, not by this "
            "user; dbtestkit never uses or drops databases it did not create. Drop it yourself "
            "or connect as the user that made it"
        )

    def start_build(self, fingerprint):
        """Create the golden's database, marked as a build until it is published."""
        name = self.golden_name(fingerprint)
        with self.admin.connect() as connection:
            self._create(connection, name, "build", fingerprint=fingerprint[:40])
        return BuildTarget(url=self.url_of(name), name=name)

    def write_record(self, connection, record):
        """Publish: replace the build marker by the golden's record, in one statement."""
        text = marker_text("golden", owner=self._current_user(connection), record=dict(record.as_rows()))
        connection.exec_driver_sql(f"UPDATE {MARKER_TABLE} SET marker = %s", (text,))

    def publish(self, build, fingerprint):
        """Nothing left to do: the marker row written by write_record was the publication."""
        self._copy_scripts.pop(fingerprint, None)

    def abandon(self, build):
        """Drop a build that did not finish."""
        with self.admin.connect() as connection:
            if self._marker_kind(connection, build.name) == "build":
                self._drop(connection, build.name)

    def discard_golden(self, fingerprint):
        """Drop a golden of ours that failed verification."""
        self._drop_if_ours(self.golden_name(fingerprint))

    def remove_stale_builds(self, fingerprint):
        """Drop this fingerprint's unfinished build (its builder is gone: we hold the lock)."""
        name = self.golden_name(fingerprint)
        with self.admin.connect() as connection:
            marker = self._marker(connection, name) if self._exists(connection, name) else None
            if marker and marker.get("kind") == "build" and marker.get("owner") == self._current_user(connection):
                self._drop(connection, name)

    def run_sql_script(self, connection, sql):
        """Run a multi-statement SQL script (a seed file), one statement at a time."""
        for statement in filter(None, (part.strip() for part in sql.split(";"))):
            connection.exec_driver_sql(statement)

    def list_goldens(self):
        """Yield a ``GoldenListing`` for every golden of ours."""
        with self.admin.connect() as connection:
            for name, marker in self._ours(connection, "golden"):
                size = connection.exec_driver_sql(
                    "SELECT COALESCE(SUM(data_length + index_length), 0) FROM "
                    "information_schema.TABLES WHERE table_schema = %s", (name,)
                ).scalar()
                record = marker.get("record", {})
                yield GoldenListing(name[len(f"{PREFIX}_golden_"):], name, int(size),
                                    epoch_of(record.get("built_at", "")), record.get("label", ""))

    # -- clones -------------------------------------------------------------

    def clone(self, fingerprint, kind):
        """Create a database and copy every table, view and trigger of the golden into it."""
        golden = self.golden_name(fingerprint)
        self.reap_once()
        name = database_name("clone", fingerprint[:12], unique_suffix("_"))
        script = self._copy_script(fingerprint, golden)
        with self.admin.connect() as connection:
            self._create(connection, name, "clone")
        try:
            with self._copier_engine().connect() as connection:
                connection.exec_driver_sql(f"USE {quote(name)}")
                connection.exec_driver_sql("SET SESSION foreign_key_checks = 0")
                for statement in script:
                    connection.exec_driver_sql(statement)
                connection.commit()
        except BaseException:
            with self.admin.connect() as connection:
                self._drop(connection, name)
            raise
        return Clone(self, self.url_of(name), name)

    def _copier_engine(self):
        # Its own connections, not pooled: they switch databases with USE, and
        # a pooled one left "in" a clone would be killed when that clone is dropped.
        if self._copier is None:
            from sqlalchemy import create_engine
            from sqlalchemy.pool import NullPool

            self._copier = create_engine(self.url, poolclass=NullPool)
        return self._copier

    def _copy_script(self, fingerprint, golden):
        """Return (and cache: goldens never change) the statements that copy the golden."""
        if fingerprint not in self._copy_scripts:
            with self.admin.connect() as connection:
                self._copy_scripts[fingerprint] = list(copy_statements(connection, golden))
        return self._copy_scripts[fingerprint]

    def limit_lock_wait(self, dbapi_connection):
        """Make row locks (InnoDB) and table locks (metadata) wait only briefly in this session."""
        seconds = max(1, round(self.other_connections_lock_wait))
        _run(dbapi_connection, f"SET SESSION innodb_lock_wait_timeout = {seconds}, "
                               f"SESSION lock_wait_timeout = {seconds}")

    def restore_lock_wait(self, dbapi_connection):
        """Give this session the server's own lock waits again."""
        _run(dbapi_connection, "SET SESSION innodb_lock_wait_timeout = DEFAULT, "
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
        """Keep a clone (MySQL cannot rename databases); return its URL, password masked."""
        with self.admin.connect() as connection:
            connection.exec_driver_sql(
                f"UPDATE {quote(clone.name)}.{MARKER_TABLE} SET marker = %s",
                (marker_text("kept", owner=self._current_user(connection), label=label),),
            )
        return self.url.set(database=clone.name).render_as_string(hide_password=True)

    # -- helpers --------------------------------------------------------------

    def _current_user(self, connection):
        return connection.exec_driver_sql("SELECT CURRENT_USER()").scalar()

    def _exists(self, connection, name):
        return connection.exec_driver_sql(
            "SELECT 1 FROM information_schema.SCHEMATA WHERE schema_name = %s", (name,)
        ).first() is not None

    def _is_empty(self, connection, name):
        return connection.exec_driver_sql(
            "SELECT 1 FROM information_schema.TABLES WHERE table_schema = %s LIMIT 1", (name,)
        ).first() is None

    def _marker(self, connection, name):
        from sqlalchemy.exc import DBAPIError

        try:
            text = connection.exec_driver_sql(
                f"SELECT marker FROM {quote(name)}.{MARKER_TABLE} LIMIT 1"
            ).scalar()
        except DBAPIError:
            return None
        return parse_marker(text)

    def _marker_kind(self, connection, name):
        marker = self._marker(connection, name)
        return None if marker is None else marker.get("kind")

    def _create(self, connection, name, kind, **fields):
        try:
            connection.exec_driver_sql(f"CREATE DATABASE {quote(name)} CHARACTER SET utf8mb4")
        except Exception as error:
            raise DbtestkitError(f"Cannot create database {name} on {self.describe()}: {error}") from error
        connection.exec_driver_sql(
            f"CREATE TABLE {quote(name)}.{MARKER_TABLE} (marker TEXT NOT NULL) ENGINE=InnoDB"
        )
        text = marker_text(kind, owner=self._current_user(connection), **fields)
        connection.exec_driver_sql(f"INSERT INTO {quote(name)}.{MARKER_TABLE} VALUES (%s)", (text,))

    def _ours(self, connection, kind):
        names = connection.exec_driver_sql(
            "SELECT schema_name FROM information_schema.SCHEMATA WHERE schema_name LIKE %s "
            "ORDER BY schema_name", (f"{PREFIX}\\_{kind}\\_%",)
        ).scalars().all()
        user = self._current_user(connection)
        for name in names:
            marker = self._marker(connection, name)
            if marker is None and made_here_unmarked(name, kind):
                marker = {"kind": kind, "owner": user}
            if marker is not None and marker.get("kind") == kind and marker.get("owner") == user:
                yield name, marker

    def _drop_if_ours(self, name):
        with self.admin.connect() as connection:
            if not self._exists(connection, name):
                return
            marker = self._marker(connection, name)
            unmarked_ours = marker is None and made_here_unmarked(name, "clone")
            if not unmarked_ours and (
                marker is None or marker.get("owner") != self._current_user(connection)
            ):
                raise DbtestkitError(f"Refusing to drop {self._foreign(name, marker or {})}.")
            self._drop(connection, name)

    def _drop(self, connection, name):
        # A connection a test left inside the database would hold metadata
        # locks and make DROP DATABASE wait; end those connections first.
        for (process_id,) in connection.exec_driver_sql(
            "SELECT id FROM information_schema.PROCESSLIST WHERE db = %s AND id <> CONNECTION_ID()",
            (name,),
        ):
            with contextlib.suppress(Exception):
                connection.exec_driver_sql(f"KILL {int(process_id)}")
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote(name)}")


def _run(dbapi_connection, statement):
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


def copy_statements(connection, golden):
    """Yield the statements that recreate everything in ``golden`` inside a new database.

    Sequences, tables (SHOW CREATE TABLE keeps foreign keys, which CREATE
    TABLE … LIKE drops on MariaDB), rows, stored routines, views, triggers:
    in that order, run inside the new database with foreign-key checks off.
    """
    source = quote(golden)
    tables = connection.exec_driver_sql(
        "SELECT table_name, table_type FROM information_schema.TABLES WHERE table_schema = %s "
        "ORDER BY table_name", (golden,)
    ).all()
    # Sequences first: a column default may call NEXTVAL on one (MariaDB).
    for name in [name for name, kind in tables if kind == "SEQUENCE"]:
        yield from _sequence_statements(connection, golden, name)
    base_tables = [name for name, kind in tables if kind == "BASE TABLE" and name != MARKER_TABLE]
    for table in base_tables:
        yield connection.exec_driver_sql(f"SHOW CREATE TABLE {source}.{quote(table)}").first()[1]
    for table in base_tables:
        # Tables without rows cost nothing to copy if we skip them.
        if connection.exec_driver_sql(f"SELECT 1 FROM {source}.{quote(table)} LIMIT 1").first():
            columns = ", ".join(quote(c) for c in _stored_columns(connection, golden, table))
            yield f"INSERT INTO {quote(table)} ({columns}) SELECT {columns} FROM {source}.{quote(table)}"
    # Routines before views: a view may call a stored function.
    for name, kind in connection.exec_driver_sql(
        "SELECT routine_name, routine_type FROM information_schema.ROUTINES "
        "WHERE routine_schema = %s ORDER BY routine_type, routine_name", (golden,)
    ):
        row = connection.exec_driver_sql(f"SHOW CREATE {kind} {source}.{quote(name)}").first()
        yield _unqualify(row[2], golden)
    yield from _views_in_dependency_order(connection, golden, [n for n, k in tables if k == "VIEW"])
    for (trigger,) in connection.exec_driver_sql(
        "SELECT trigger_name FROM information_schema.TRIGGERS WHERE trigger_schema = %s "
        "ORDER BY action_order", (golden,)
    ):
        row = connection.exec_driver_sql(f"SHOW CREATE TRIGGER {source}.{quote(trigger)}").first()
        yield _unqualify(row[2], golden)


def _sequence_statements(connection, golden, name):
    source = f"{quote(golden)}.{quote(name)}"
    yield connection.exec_driver_sql(f"SHOW CREATE SEQUENCE {source}").first()[1]
    # Continue where the golden stands, so a clone never reissues a used value.
    following = connection.exec_driver_sql(f"SELECT next_not_cached_value FROM {source}").scalar()
    yield f"SELECT SETVAL({quote(name)}, {int(following) - 1})"


def _stored_columns(connection, schema, table):
    # Generated columns are computed by the server and refuse inserted values.
    return connection.exec_driver_sql(
        "SELECT column_name FROM information_schema.COLUMNS WHERE table_schema = %s AND "
        "table_name = %s AND extra NOT LIKE %s AND extra NOT LIKE %s ORDER BY ordinal_position",
        (schema, table, "%GENERATED%", "%PERSISTENT%"),
    ).scalars().all()


def _views_in_dependency_order(connection, golden, views):
    definitions = {}
    for view in views:
        row = connection.exec_driver_sql(f"SHOW CREATE VIEW {quote(golden)}.{quote(view)}").first()
        definitions[view] = _unqualify(row[1], golden)
    done = []
    while definitions:
        ready = [v for v, sql in definitions.items()
                 if not any(quote(other) in sql for other in definitions if other != v)]
        for view in ready or list(definitions):
            done.append(definitions.pop(view))
    return done


def _unqualify(sql, schema):
    # Views and triggers name their own schema; the copy must name the clone.
    return sql.replace(f"{quote(schema)}.", "")


def quote(identifier):
    """Quote an identifier for MySQL."""
    return "`" + identifier.replace("`", "``") + "`"

