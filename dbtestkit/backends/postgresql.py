"""PostgreSQL: goldens are template databases; clones are CREATE DATABASE … TEMPLATE."""

import contextlib
import time
from pathlib import Path

from dbtestkit.backends.processes import creator, creator_is_gone, owner_is_gone
from dbtestkit.backends.records import BuildTarget, GoldenListing, GoldenRecord, KeptClone
from dbtestkit.backends.intents import IntentJournal
from dbtestkit.backends.server import (
    PREFIX, AdminConnection, database_name, epoch_of, Leftover, marker_text, parse_marker,
    server_suffix, ServerBackend,
)
from dbtestkit.backends.clone import Clone
from dbtestkit.exceptions import DbtestkitError
from dbtestkit.report import report

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
        server = f"postgresql://{url.host or ''}:{url.port or ''}"
        self.intents = IntentJournal(Path(cache_dir) / "intents", server, url.username)
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
        name = database_name("build", fingerprint[:15], server_suffix())
        self._create(name, "build", fingerprint)
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
        """Drop a golden of ours that failed verification (called under its build lock)."""
        self._drop_if_ours(self.golden_name(fingerprint))

    def remove_stale_builds(self, fingerprint):
        """Drop builds of ours whose builder is gone: nobody holds their fingerprint's lock.

        Called under ``fingerprint``'s lock, so its own builds are stale
        whoever made them; each other build is dropped while its lock is held.
        """
        own_key = lock_key(fingerprint)
        with self.admin.connect() as connection:
            for ours in self._ours(connection):
                if ours.kind != "build":
                    continue
                if lock_key(ours.fingerprint) == own_key:
                    self._drop(connection, ours.name, ours.template)
                else:
                    with self._lock_if_free(connection, ours.fingerprint) as free:
                        if not free:
                            continue
                        self._drop(connection, ours.name, ours.template)
                self.intents.forget(ours.name)

    @contextlib.contextmanager
    def _lock_if_free(self, connection, fingerprint):
        key = lock_key(fingerprint)
        free = connection.exec_driver_sql(f"SELECT pg_try_advisory_lock({key})").scalar()
        try:
            yield free
        finally:
            if free:
                connection.exec_driver_sql(f"SELECT pg_advisory_unlock({key})")

    def run_sql_script(self, connection, sql):
        """Run a multi-statement SQL script (a seed file)."""
        connection.exec_driver_sql(sql)

    def list_goldens(self):
        """Yield a ``GoldenListing`` for every golden of ours."""
        with self.admin.connect() as connection:
            for ours in self._ours(connection):
                if ours.kind != "golden":
                    continue
                size = connection.exec_driver_sql(
                    "SELECT pg_database_size(%(n)s)", {"n": ours.name}
                ).scalar()
                record = ours.fields.get("record", {})
                yield GoldenListing(ours.fingerprint, ours.name, int(size),
                                    epoch_of(record.get("built_at", "")), record.get("label", ""))

    # -- clones -------------------------------------------------------------

    def clone(self, fingerprint, kind):
        """Create a new database from the golden template."""
        self.reap_once()
        name = database_name("clone", fingerprint[:12], server_suffix())
        self._create(name, "clone", fingerprint, template=self.golden_name(fingerprint))
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
        """Keep a clone under a unique ``dbtk_kept_`` name, marked with the test id ``label``.

        The marker says "kept" before the rename, so a kill between the two
        leaves a kept clone, never one that reap would drop.
        """
        row = self._database_row(clone.name)
        fields = (parse_marker(row.comment) if row is not None else None) or {}
        fingerprint = fields.get("fingerprint", "")
        golden = self.read_record(fingerprint) if fingerprint else None
        marker = marker_text("kept", fingerprint=fingerprint, test_id=label, kept_at=time.time(),
                             label=golden.label if golden else "", **creator())
        name = self.kept_name(fingerprint or clone.name[len(f"{PREFIX}_clone_"):])
        with self.admin.connect() as connection:
            self._terminate(connection, clone.name)
            connection.exec_driver_sql(f"COMMENT ON DATABASE {quote(clone.name)} IS {literal(marker)}")
            connection.exec_driver_sql(f"ALTER DATABASE {quote(clone.name)} RENAME TO {quote(name)}")
        return self.url.set(database=name).render_as_string(hide_password=True)

    def list_kept(self):
        """Yield a ``KeptClone`` for every clone of ours kept after its test failed."""
        with self.admin.connect() as connection:
            kept = [ours for ours in self._ours(connection) if ours.kind == "kept"]
        for ours in kept:
            yield KeptClone(self.url.set(database=ours.name).render_as_string(hide_password=True),
                            ours.fields.get("test_id", ""), float(ours.fields.get("kept_at", 0)),
                            ours.fields.get("label", ""))

    # -- leftovers ------------------------------------------------------------

    def leftovers(self):
        """Return the ``Leftover`` databases of ours that ``reap`` removes.

        Clones whose process is gone, builds (published or not) and broken
        goldens whose fingerprint's lock nobody holds: a killed process can
        leave each of these, at any point.
        """
        found = []
        with self.admin.connect() as connection:
            for ours in self._ours(connection):
                if ours.kind == "clone" and ours.creator_gone:
                    found.append(Leftover(ours.name, "clone", ours.fingerprint, "its process is gone"))
                elif ours.kind == "build" or (ours.kind == "golden" and ours.broken):
                    with self._lock_if_free(connection, ours.fingerprint) as free:
                        if free:
                            found.append(Leftover(ours.name, ours.kind, ours.fingerprint,
                                                  "its build never finished"))
        return found

    def _remove_leftover(self, leftover):
        with self.admin.connect() as connection:
            if leftover.kind == "clone":
                self._drop_if_ours(leftover.name, kinds=("clone",))
                return True
            # Decided again under the fingerprint's lock: a build may have started since.
            with self._lock_if_free(connection, leftover.fingerprint) as free:
                if free:
                    self._drop_if_ours(leftover.name, kinds=("build", "golden"))
                return free

    def reap(self):
        """Remove leftovers (see ``leftovers``) and intent records of dead creators."""
        reaped = super().reap()
        with self.admin.connect() as connection:
            existing = set(connection.exec_driver_sql(
                "SELECT datname FROM pg_database WHERE datname LIKE %(p)s", {"p": f"{PREFIX}\\_%"}
            ).scalars())
        self.intents.sweep(existing)
        return reaped

    # -- helpers --------------------------------------------------------------

    def _create(self, name, kind, fingerprint, template=None):
        from sqlalchemy.exc import DBAPIError

        statement = f"CREATE DATABASE {quote(name)}"
        if template:
            statement += f" TEMPLATE {quote(template)}"
            if self.strategy and self.server_version >= 150000:
                statement += f" STRATEGY {self.strategy}"
        marker = marker_text(kind, fingerprint=fingerprint, **creator())
        deadline = time.monotonic() + TEMPLATE_BUSY_SECONDS
        # Written first: if this process dies between the CREATE and its
        # COMMENT, the database is still provably ours (and its creator dead).
        self.intents.record(name, kind, fingerprint)
        with self.admin.connect() as connection:
            while True:
                try:
                    connection.exec_driver_sql(statement)
                    break
                except DBAPIError as error:
                    busy = "is being accessed by other users" in str(error.orig)
                    if not busy or time.monotonic() > deadline:
                        self.intents.forget(name)
                        raise DbtestkitError(
                            f"Cannot create database {name} on {self.describe()}: {error.orig}"
                        ) from error
                    time.sleep(0.05)
            connection.exec_driver_sql(f"COMMENT ON DATABASE {quote(name)} IS {literal(marker)}")
        self.intents.forget(name)

    def _ours(self, connection):
        """Return the databases of ours: owned by this role, and marked or announced by an intent."""
        rows = connection.exec_driver_sql(
            "SELECT d.datname, d.datistemplate, d.datallowconn, "
            "shobj_description(d.oid, 'pg_database') FROM pg_database d "
            "WHERE d.datname LIKE %(pattern)s AND d.datdba = "
            "(SELECT oid FROM pg_roles WHERE rolname = current_user) ORDER BY d.datname",
            {"pattern": f"{PREFIX}\\_%"},
        ).all()
        found = []
        for name, template, allows_connections, comment in rows:
            fields = parse_marker(comment) or self.intents.get(name)
            if fields is not None:
                found.append(Ours(name, fields, template, allows_connections))
        return found

    def _drop_if_ours(self, name, kinds=None):
        row = self._database_row(name)
        if row is None:
            self.intents.forget(name)
            return
        fields = parse_marker(row.comment) or self.intents.get(name)
        if not row.ours or fields is None:
            raise DbtestkitError(f"Refusing to drop {self._foreign(row)}.")
        ours = Ours(name, fields, row.datistemplate, row.datallowconn)
        if kinds is not None and ours.kind not in kinds:
            raise DbtestkitError(
                f"Refusing to drop database {name}: it is a {ours.kind or 'database'} of "
                f"dbtestkit's, not a {' or '.join(kinds)}."
            )
        with self.admin.connect() as connection:
            self._drop(connection, name, template=row.datistemplate)
        self.intents.forget(name)

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


class Ours:
    """A database this role owns and dbtestkit provably made (by its marker or intent record)."""

    def __init__(self, name, fields, template, allows_connections):
        self.name = name
        self.fields = fields
        self.template = template
        self.broken = not template or allows_connections
        kind = fields.get("kind")
        if name.startswith(f"{PREFIX}_build_"):
            # Even when its marker already says golden: it was never renamed into place.
            kind = "build"
        elif name.startswith(f"{PREFIX}_kept_") and kind == "clone":
            kind = "kept"  # kept by an older dbtestkit, which renamed clones without re-marking them
        elif name.startswith(f"{PREFIX}_golden_") != (kind == "golden"):
            kind = None
        self.kind = kind
        self.fingerprint = name.split("_")[2] if kind in ("build", "golden") else fields.get(
            "fingerprint", "")

    @property
    def creator_gone(self):
        """Whether the process that made it is dead (older markers hold no pid: judged by the name)."""
        if "pid" in self.fields:
            return creator_is_gone(self.fields)
        return owner_is_gone(self.name)


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

