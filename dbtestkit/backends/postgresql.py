"""PostgreSQL: goldens are template databases; clones are CREATE DATABASE … TEMPLATE."""

import contextlib
import time

from dbtestkit.backends.base import BuildTarget, GoldenListing, GoldenRecord, unique_suffix
from dbtestkit.backends.server import (
    PREFIX, AdminConnection, ServerBackend, database_name, epoch_of, made_here_unmarked,
    marker_text, parse_marker,
)
from dbtestkit.clone import Clone
from dbtestkit.exceptions import DbtestkitError
from dbtestkit.progress import report

START_HINT = "Start it (e.g. pg_ctlcluster --skip-systemctl-redirect <version> main start)"
# A template cannot be copied while anyone is connected to it; a clone that
# races a brief connection is retried for this long.
TEMPLATE_BUSY_SECONDS = 10
# SQLSTATE of a statement that gave up waiting for a lock (lock_timeout, NOWAIT).
LOCK_NOT_AVAILABLE = "55P03"


class Backend(ServerBackend):
    """The PostgreSQL backend."""

    name = "postgresql"

    def __init__(self, url, cache_dir):
        self.url = url
        self.admin = AdminConnection(url, "PostgreSQL", START_HINT, usual_database="postgres")
        self._server_version = None
        # CREATE DATABASE strategy for clones; None is the server's default
        # (WAL_LOG on 15+), which benchmarks/servers.py measured faster than
        # FILE_COPY on these machines, on disk and on tmpfs.
        self.strategy = None

    # -- identity -----------------------------------------------------------

    @property
    def server_version(self):
        """The server's version number (e.g. 150020), read once."""
        if self._server_version is None:
            with self.admin.connect() as connection:
                self._server_version = int(connection.exec_driver_sql("SHOW server_version_num").scalar())
        return self._server_version

    def identity(self):
        """Return what about this server shapes a golden: product and major version."""
        return f"postgresql {self.server_version // 10000}"

    # -- golden -------------------------------------------------------------

    @contextlib.contextmanager
    def build_lock(self, fingerprint):
        """Hold the advisory lock under which one golden is built, on any machine."""
        key = lock_key(fingerprint)
        with self.admin.connect() as connection:
            if not connection.exec_driver_sql(f"SELECT pg_try_advisory_lock({key})").scalar():
                report(f"waiting for another process to build golden {fingerprint[:12]}")
                connection.exec_driver_sql(f"SELECT pg_advisory_lock({key})")
            try:
                yield
            finally:
                connection.exec_driver_sql(f"SELECT pg_advisory_unlock({key})")

    def read_record(self, fingerprint):
        """Return the golden's record from its marker, None when there is no golden."""
        row = self._database_row(self.golden_name(fingerprint))
        if row is None:
            return None
        marker = parse_marker(row.comment)
        if not row.ours or marker is None or marker.get("kind") != "golden":
            return GoldenRecord(problem=self._foreign(row), foreign=True)
        record = GoldenRecord.from_rows(marker.get("record", {}).items())
        # The heads were checked inside the golden before it was published,
        # and connections to it are disallowed since, so they cannot drift.
        record.actual_heads = tuple(sorted(record.heads))
        if not row.datistemplate or row.datallowconn:
            record.problem = "it was not published completely (not a closed template)"
        return record

    def _foreign(self, row):
        return (
            f"database {row.datname} belongs to role {row.owner} or lacks dbtestkit's marker; "
            "dbtestkit never uses or drops databases it did not create. Drop it yourself or "
            "connect as the role that made it"
        )

    def _database_row(self, name):
        with self.admin.connect() as connection:
            return connection.exec_driver_sql(
                "SELECT d.datname, d.datistemplate, d.datallowconn, "
                "pg_get_userbyid(d.datdba) AS owner, pg_get_userbyid(d.datdba) = current_user AS ours, "
                "shobj_description(d.oid, 'pg_database') AS comment "
                "FROM pg_database d WHERE d.datname = %(name)s",
                {"name": name},
            ).first()

    def start_build(self, fingerprint):
        """Create the temporary database a golden is built in."""
        name = database_name("build", fingerprint[:15], unique_suffix("_"))
        self._create(name, marker_text("build", fingerprint=fingerprint[:15]))
        return BuildTarget(url=self.url_of(name), name=name)

    def write_record(self, connection, record):
        """Store the golden's record in its marker (written before it is published)."""
        name = connection.exec_driver_sql("SELECT current_database()").scalar()
        text = marker_text("golden", record=dict(record.as_rows()))
        connection.exec_driver_sql(f"COMMENT ON DATABASE {quote(name)} IS {literal(text)}")

    def publish(self, build, fingerprint):
        """Close the build to connections, make it a template, and rename it into place."""
        golden = self.golden_name(fingerprint)
        with self.admin.connect() as connection:
            self._terminate(connection, build.name)
            connection.exec_driver_sql(
                f"ALTER DATABASE {quote(build.name)} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"
            )
            self._terminate(connection, build.name)
            connection.exec_driver_sql(f"ALTER DATABASE {quote(build.name)} RENAME TO {quote(golden)}")

    def abandon(self, build):
        """Drop a build that did not finish."""
        self._drop_if_ours(build.name)

    def discard_golden(self, fingerprint):
        """Drop a golden of ours that failed verification."""
        self._drop_if_ours(self.golden_name(fingerprint))

    def remove_stale_builds(self, fingerprint):
        """Drop builds whose builder is gone: nobody holds their fingerprint's advisory lock."""
        own_key = lock_key(fingerprint)
        with self.admin.connect() as connection:
            for name, fields in self._ours(connection, "build"):
                key = lock_key(fields.get("fingerprint", ""))
                if key == own_key or self._lock_is_free(connection, key):
                    self._drop(connection, name)

    def _lock_is_free(self, connection, key):
        if connection.exec_driver_sql(f"SELECT pg_try_advisory_lock({key})").scalar():
            connection.exec_driver_sql(f"SELECT pg_advisory_unlock({key})")
            return True
        return False

    def run_sql_script(self, connection, sql):
        """Run a multi-statement SQL script (a seed file)."""
        connection.exec_driver_sql(sql)

    def list_goldens(self):
        """Yield a ``GoldenListing`` for every golden of ours."""
        with self.admin.connect() as connection:
            for name, fields in self._ours(connection, "golden"):
                size = connection.exec_driver_sql(
                    "SELECT pg_database_size(%(n)s)", {"n": name}
                ).scalar()
                record = fields.get("record", {})
                yield GoldenListing(name[len(f"{PREFIX}_golden_"):], name, int(size),
                                    epoch_of(record.get("built_at", "")), record.get("label", ""))

    # -- clones -------------------------------------------------------------

    def clone(self, fingerprint, kind):
        """Create a new database from the golden template."""
        self.reap_once()
        name = database_name("clone", fingerprint[:12], unique_suffix("_"))
        self._create(name, marker_text("clone"), template=self.golden_name(fingerprint))
        return Clone(self, self.url_of(name), name)

    def before_savepoint_rollback(self, connection):
        """Check deferred constraints now, so a test cannot pass with data that fails at commit."""
        connection.exec_driver_sql("SET CONSTRAINTS ALL IMMEDIATE")

    def limit_lock_wait(self, dbapi_connection):
        """Set this session's ``lock_timeout`` to the short wait of savepoint mode's other connections."""
        _run_and_commit(dbapi_connection, f"SET lock_timeout = {int(self.other_connections_lock_wait * 1000)}")

    def restore_lock_wait(self, dbapi_connection):
        """Give this session the server's (or role's, database's) own ``lock_timeout`` again."""
        _run_and_commit(dbapi_connection, "SET lock_timeout = DEFAULT")

    def is_lock_wait_timeout(self, dbapi_error):
        """Tell whether the error is SQLSTATE 55P03, lock_not_available."""
        code = getattr(dbapi_error, "sqlstate", None) or getattr(dbapi_error, "pgcode", None)
        return code == LOCK_NOT_AVAILABLE

    def keep_clone(self, clone, label):
        """Keep a clone under a ``dbtk_kept_`` name; return its URL (password masked)."""
        name = database_name("kept", time.strftime("%Y%m%d%H%M%S"), label)
        with self.admin.connect() as connection:
            self._terminate(connection, clone.name)
            connection.exec_driver_sql(f"ALTER DATABASE {quote(clone.name)} RENAME TO {quote(name)}")
        return self.url.set(database=name).render_as_string(hide_password=True)

    # -- helpers --------------------------------------------------------------

    def _create(self, name, marker, template=None):
        from sqlalchemy.exc import DBAPIError

        statement = f"CREATE DATABASE {quote(name)}"
        if template:
            statement += f" TEMPLATE {quote(template)}"
            if self.strategy and self.server_version >= 150000:
                statement += f" STRATEGY {self.strategy}"
        deadline = time.monotonic() + TEMPLATE_BUSY_SECONDS
        with self.admin.connect() as connection:
            while True:
                try:
                    connection.exec_driver_sql(statement)
                    break
                except DBAPIError as error:
                    busy = "is being accessed by other users" in str(error.orig)
                    if not busy or time.monotonic() > deadline:
                        raise DbtestkitError(
                            f"Cannot create database {name} on {self.describe()}: {error.orig}"
                        ) from error
                    time.sleep(0.05)
            connection.exec_driver_sql(f"COMMENT ON DATABASE {quote(name)} IS {literal(marker)}")

    def _ours(self, connection, kind):
        rows = connection.exec_driver_sql(
            "SELECT d.datname, shobj_description(d.oid, 'pg_database') FROM pg_database d "
            "WHERE d.datname LIKE %(pattern)s AND d.datdba = "
            "(SELECT oid FROM pg_roles WHERE rolname = current_user) ORDER BY d.datname",
            {"pattern": f"{PREFIX}\\_{kind}\\_%"},
        )
        for name, comment in rows:
            fields = parse_marker(comment)
            if fields is None and comment is None and made_here_unmarked(name, kind):
                fields = {"kind": kind}
            if fields is not None and fields.get("kind") == kind:
                yield name, fields

    def _drop_if_ours(self, name):
        row = self._database_row(name)
        if row is None:
            return
        unmarked_ours = row.comment is None and any(
            made_here_unmarked(name, kind) for kind in ("clone", "build")
        )
        if not row.ours or (parse_marker(row.comment) is None and not unmarked_ours):
            raise DbtestkitError(f"Refusing to drop {self._foreign(row)}.")
        with self.admin.connect() as connection:
            self._drop(connection, name, template=row.datistemplate)

    def _drop(self, connection, name, template=True):
        if template:
            connection.exec_driver_sql(f"ALTER DATABASE {quote(name)} WITH IS_TEMPLATE false")
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote(name)} WITH (FORCE)")

    def _terminate(self, connection, name):
        connection.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %(name)s AND pid <> pg_backend_pid()",
            {"name": name},
        )


def _run_and_commit(dbapi_connection, statement):
    # Committed at once: a SET inside a transaction that rolls back is undone.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(statement)
    finally:
        cursor.close()
    dbapi_connection.commit()


def lock_key(fingerprint):
    """Return the advisory-lock key of a fingerprint: its first 15 hex digits (fits a bigint)."""
    try:
        return int(fingerprint[:15], 16)
    except ValueError:
        return 0


def quote(identifier):
    """Quote an identifier for PostgreSQL."""
    return '"' + identifier.replace('"', '""') + '"'


def literal(text):
    """Quote a string literal for PostgreSQL (standard_conforming_strings is on since 9.1)."""
    return "'" + text.replace("'", "''") + "'"

