"""PostgreSQL: goldens are template databases; clones are CREATE DATABASE … TEMPLATE."""

import time
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from dbtestkit.backends.postgresql_archive import DumpedGoldens
from dbtestkit.backends.postgresql_catalog import (  # noqa: F401 (literal: also imported from here)
    Ours, database_row, literal, databases_of_ours, foreign_reason, lock_key,
)
from dbtestkit.backends.processes import creator, creator_is_gone
from dbtestkit.backends.records import BuildTarget, GoldenListing, GoldenRecord, KeptClone
from dbtestkit.backends.intents import IntentJournal
from dbtestkit.backends.server import (
    PREFIX, AdminConnection, database_name, epoch_of, Leftover, marker_text, parse_marker, quote,
    run_on_dbapi, server_suffix, ServerBackend,
)
from dbtestkit.backends.postgresql_clone_cost import CloneCosts
from dbtestkit.backends.postgresql_locks import AdvisoryLocks
from dbtestkit.backends.clone import Clone
from dbtestkit.exceptions import DbtestkitError

START_HINT = "Start it (e.g. pg_ctlcluster --skip-systemctl-redirect <version> main start)"
# A template being connected to cannot be copied: a clone racing that is retried this long.
TEMPLATE_BUSY_SECONDS = 10
# SQLSTATE of a statement that gave up waiting for a lock (lock_timeout, NOWAIT).
LOCK_NOT_AVAILABLE = "55P03"


class Backend(DumpedGoldens, CloneCosts, AdvisoryLocks, ServerBackend):
    """The PostgreSQL backend."""

    name = "postgresql"
    # Raw catalog fields rather than pg_get_*def(): half the cost, and OIDs
    # that differ where reflection would not only cost a reflection.
    schema_digests_exact = True
    # Dropping is cheap here: 30 downgrades cost about what 10 upgrades do.
    downgrade_step_cost = 0.3
    schema_digest_sql = (
        "SELECT 'table', c.relname, md5(concat_ws('|', "
        "(SELECT string_agg(concat_ws(' ', a.attname, a.atttypid, a.atttypmod, a.attcollation, "
        "a.attnotnull, a.attidentity, a.attgenerated, d.adbin), ',' ORDER BY a.attnum) "
        "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), "
        "(SELECT string_agg(concat_ws(' ', co.conname, co.contype, co.conkey, co.confrelid, co.confkey, "
        "co.confupdtype, co.confdeltype, co.confmatchtype, co.condeferrable, co.condeferred, co.conbin), "
        "',' ORDER BY co.conname) FROM pg_constraint co WHERE co.conrelid = c.oid), "
        "(SELECT string_agg(concat_ws(' ', ic.relname, i.indkey, i.indisunique, i.indexprs, i.indpred, "
        "i.indclass, i.indoption, i.indcollation), ',' ORDER BY ic.relname) "
        "FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = c.oid))) "
        "FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace "
        "AND c.relkind IN ('r', 'p') "
        "UNION ALL SELECT CASE c.relkind WHEN 'S' THEN 'sequence' WHEN 'm' THEN 'materialized view' "
        "ELSE 'view' END, c.relname, CASE c.relkind WHEN 'S' THEN '' ELSE pg_get_viewdef(c.oid) END "
        "FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace "
        "AND c.relkind IN ('v', 'm', 'S') "
        "UNION ALL SELECT 'enum type', t.typname, "
        "'(' || string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) || ')' "
        "FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid "
        "WHERE t.typnamespace = current_schema()::regnamespace GROUP BY t.typname"
    )

    def __init__(self, url, cache_dir):
        super().__init__(url, AdminConnection(url, "PostgreSQL", START_HINT, usual_database="postgres"))
        self._server_version = None
        # A unix socket's folder is a host too (the embedded cluster's).
        server = f"postgresql://{url.host or url.query.get('host') or ''}:{url.port or ''}"
        self.intents = IntentJournal(Path(cache_dir) / "intents", server, url.username)
        # CREATE DATABASE strategy for every clone, when set; otherwise each
        # golden's measured choice (postgresql_clone_cost), else the server's default.
        self.strategy = None
        self._init_clone_costs()

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

    def read_record(self, fingerprint):
        """Return the golden's record from its marker, None when there is no golden."""
        row = self._database_row(self.golden_name(fingerprint))
        if row is None:
            return None
        marker = parse_marker(row.comment)
        if not row.ours or marker is None or marker.get("kind") != "golden":
            return GoldenRecord(problem=foreign_reason(row), foreign=True)
        record = GoldenRecord.from_rows(marker.get("record", {}).items())
        # The heads were checked inside the golden before it was published,
        # and connections to it are disallowed since, so they cannot drift.
        record.actual_heads = tuple(sorted(record.heads))
        if not row.datistemplate or row.datallowconn:
            record.problem = "it was not published completely (not a closed template)"
        return record

    def _database_row(self, name):
        with self.admin.connect() as connection:
            return database_row(connection, name)

    def start_build(self, fingerprint, parent=None):
        """Create the temporary database a golden is built in (from the golden ``parent``'s template)."""
        name = database_name("build", fingerprint[:15], server_suffix())
        self._create(name, "build", fingerprint,
                     template=self.golden_name(parent) if parent is not None else None)
        return BuildTarget(url=self.url_of(name), name=name)

    def write_record(self, connection, record):
        """Store the golden's record in its marker (written before it is published)."""
        name = connection.exec_driver_sql("SELECT current_database()").scalar()
        text = marker_text("golden", record=dict(record.as_rows()))
        connection.exec_driver_sql(f"COMMENT ON DATABASE {quote(connection, name)} IS {literal(text)}")

    def publish(self, build, fingerprint):
        """Close the build to connections, make it a template, and rename it into place."""
        golden = self.golden_name(fingerprint)
        with self.admin.connect() as connection:
            # Outlive a server killed right after (the embedded cluster commits asynchronously).
            connection.exec_driver_sql("SET synchronous_commit TO on")
            self._terminate(connection, build.name)
            connection.exec_driver_sql(
                f"ALTER DATABASE {quote(connection, build.name)} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"
            )
            self._terminate(connection, build.name)
            connection.exec_driver_sql(
                f"ALTER DATABASE {quote(connection, build.name)} RENAME TO {quote(connection, golden)}"
            )

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
                    with self._lock_if_free(ours.fingerprint) as free:
                        if not free:
                            continue
                        self._drop(connection, ours.name, ours.template)
                self.intents.forget(ours.name)

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

    def _copy_golden(self, fingerprint, name, storage):
        """Create a new database from the golden template."""
        self._create(name, "clone", fingerprint, template=self.golden_name(fingerprint))
        return Clone(self, self.url_of(name), name, fingerprint=fingerprint)

    def _copy_clone(self, source, name, storage):
        """Create a new database with the clone ``source`` as its template (nobody is connected to it)."""
        self._create(name, "clone", source.fingerprint, template=source.name)
        return Clone(self, self.url_of(name), name, fingerprint=source.fingerprint)

    def before_savepoint_rollback(self, connection):
        """Check deferred constraints now, so a test cannot pass with data that fails at commit."""
        connection.exec_driver_sql("SET CONSTRAINTS ALL IMMEDIATE")

    def limit_lock_wait(self, dbapi_connection):
        """Set this session's ``lock_timeout`` to the short wait of savepoint mode's other connections."""
        run_on_dbapi(dbapi_connection, f"SET lock_timeout = {int(self.other_connections_lock_wait * 1000)}",
                     commit=True)

    def restore_lock_wait(self, dbapi_connection):
        """Give this session the server's (or role's, database's) own ``lock_timeout`` again."""
        run_on_dbapi(dbapi_connection, "SET lock_timeout = DEFAULT", commit=True)

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
        # Labelled with the project the clone was made for; the golden's builder may be another.
        marker = marker_text("kept", fingerprint=fingerprint, test_id=label, kept_at=time.time(),
                             label=clone.project or (golden.label if golden else ""), **creator())
        name = self.kept_name(fingerprint or clone.name[len(f"{PREFIX}_clone_"):])
        with self.admin.connect() as connection:
            self._terminate(connection, clone.name)
            connection.exec_driver_sql(f"COMMENT ON DATABASE {quote(connection, clone.name)} IS {literal(marker)}")
            connection.exec_driver_sql(
                f"ALTER DATABASE {quote(connection, clone.name)} RENAME TO {quote(connection, name)}"
            )
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
                    with self._lock_if_free(ours.fingerprint) as free:
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
            with self._lock_if_free(leftover.fingerprint) as free:
                if free:
                    self._drop_if_ours(leftover.name, kinds=("build", "golden"))
                return free

    def reap(self):
        """Remove leftovers (see ``leftovers``) and intent records of dead creators."""
        self._end_orphaned_creates()
        reaped = super().reap()
        with self.admin.connect() as connection:
            existing = set(connection.exec_driver_sql(
                "SELECT datname FROM pg_database WHERE datname LIKE %(p)s", {"p": f"{PREFIX}\\_%"}
            ).scalars())
        self.intents.sweep(existing)
        return reaped

    def _end_orphaned_creates(self):
        """End the CREATE DATABASE statements of creators that died: the server would finish them
        later, after their intent was swept, leaving a database nobody can prove is ours."""
        names = [name for name in self.intents.names() if creator_is_gone(self.intents.get(name) or {})]
        if not names:
            return
        with self.admin.connect() as connection:
            statements = tuple(f"CREATE DATABASE {quote(connection, name)} " for name in names)
            deadline = time.monotonic() + TEMPLATE_BUSY_SECONDS
            while time.monotonic() < deadline:
                running = [pid for pid, query in connection.exec_driver_sql(
                    "SELECT pid, query FROM pg_stat_activity WHERE query LIKE 'CREATE DATABASE %%' "
                    "AND state = 'active' AND pid <> pg_backend_pid()") if (query + " ").startswith(statements)]
                if not running:
                    return
                for pid in running:
                    connection.exec_driver_sql("SELECT pg_terminate_backend(%(pid)s)", {"pid": pid})
                time.sleep(0.02)

    # -- helpers --------------------------------------------------------------

    def _record_intent(self, connection, name, kind, fingerprint):
        """Write an intent file: a database of ours without its COMMENT is proven ours by it."""
        self.intents.record(name, kind, fingerprint)

    def _create_database(self, connection, name, template):
        """CREATE DATABASE, retried while the template is briefly in use."""
        statement = f"CREATE DATABASE {quote(connection, name)}"
        strategy, timed = None, False
        if template:
            statement += f" TEMPLATE {quote(connection, template)}"
            strategy, timed = self._strategy_for(template)
            if strategy and self.server_version >= 150000:
                statement += f" STRATEGY {strategy}"
        deadline = time.monotonic() + TEMPLATE_BUSY_SECONDS
        while True:
            try:
                began = time.perf_counter()
                connection.exec_driver_sql(statement)
                if timed:
                    self._timed(template, strategy, (time.perf_counter() - began) * 1000)
                return
            except DBAPIError as error:
                if "is being accessed by other users" not in str(error.orig) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _forget_intent(self, connection, name):
        """Remove the intent file of a CREATE that failed."""
        self.intents.forget(name)

    def _mark(self, connection, name, kind, fingerprint):
        """Set the marker COMMENT, then forget the intent it replaces."""
        marker = marker_text(kind, fingerprint=fingerprint, **creator())
        connection.exec_driver_sql(f"COMMENT ON DATABASE {quote(connection, name)} IS {literal(marker)}")
        self.intents.forget(name)

    def _ours(self, connection):
        return databases_of_ours(connection, self.intents)

    def _drop_if_ours(self, name, kinds=None):
        row = self._database_row(name)
        if row is None:
            self.intents.forget(name)
            return
        fields = parse_marker(row.comment) or self.intents.get(name)
        if not row.ours or fields is None:
            raise DbtestkitError(f"Refusing to drop {foreign_reason(row)}.")
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
            connection.exec_driver_sql(f"ALTER DATABASE {quote(connection, name)} WITH IS_TEMPLATE false")
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote(connection, name)} WITH (FORCE)")

    def _terminate(self, connection, name):
        connection.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %(name)s AND pid <> pg_backend_pid()",
            {"name": name},
        )

