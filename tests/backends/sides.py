"""What the contract tests need to know about each backend: where things live, how to clean up.

Each side answers the same questions for its backend: everything of a
fingerprint that exists (``artifacts``), which of it is the golden
(``is_golden``), a throwaway account for server-wide operations
(``account``), and removing everything of a fingerprint as the admin.
"""

import contextlib
import json
import re
import secrets
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests import support


def side_for(test, backend):
    """Return the side object of ``backend`` for ``test`` (skips or fails when the server is down)."""
    if backend == "sqlite":
        return SQLiteSide()
    if backend == "embedded":
        return EmbeddedSide(support.embedded_postgresql_url(test))
    url = support.server_url(test, backend)
    return {"postgresql": PostgresSide, "mysql": MariaDBSide}[backend](url)


def run_sql(url, statement, params=None):
    """Run one statement in autocommit mode on ``url``; return its rows as tuples (or [])."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            result = connection.exec_driver_sql(statement, params or ())
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


class Side:
    """What every backend side shares: cleanup of the TestDatabases a test made."""

    backend = None
    url = None

    @property
    def database_url(self):
        """The URL a TestDatabase on this side is given (``url`` unless the side is a way to get a server)."""
        return self.url

    def attach(self, test):
        """Start working for ``test`` (after its setUp made the cache directory)."""
        self.cache_dir = Path(test.cache_dir)
        self.fingerprints = set()
        test.addCleanup(self._clean, self.fingerprints)

    def forget_after(self, test, database):
        """Close ``database`` and remove everything of its fingerprint after ``test``."""
        self.fingerprints.add(database.fingerprint())
        test.addCleanup(_close, database)

    def leftovers(self, fingerprint, cache_dir=None):
        """Return what of ``fingerprint`` exists besides its golden (should be nothing)."""
        return [a for a in self.artifacts(fingerprint, cache_dir) if not self.is_golden(fingerprint, a)]

    def clones(self, fingerprint, cache_dir=None):
        """Return the clones of ``fingerprint`` that exist (database names, or files of the cache)."""
        return [a for a in self.leftovers(fingerprint, cache_dir) if "clone" in a and not a.startswith("entry ")]

    def not_reaped(self, fingerprint, cache_dir=None):
        """Return the ``leftovers`` of ``fingerprint`` that the next run's reap would not remove (drops a run left)."""
        from dbtestkit.backends import backend_for
        from dbtestkit.backends.processes import creator_is_gone

        backend = backend_for(self.database_url, cache_dir or self.cache_dir)
        try:
            reapable = set(backend.leftover_clones())
            # A CREATE still running when its process exited: reap ends it and sweeps the intent.
            intents = getattr(backend, "intents", None)
            if intents is not None:
                reapable |= {n for n in intents.names() if creator_is_gone(intents.get(n) or {})}
        finally:
            backend.dispose()
        # An artifact names its database: itself, its catalog entry or its intent file.
        return [a for a in self.leftovers(fingerprint, cache_dir)
                if not any(name in a for name in reapable)]

    def has_golden(self, fingerprint, cache_dir=None):
        """Tell whether the golden of ``fingerprint`` exists."""
        return any(self.is_golden(fingerprint, a) for a in self.artifacts(fingerprint, cache_dir))

    def _clean(self, fingerprints):
        for fingerprint in sorted(fingerprints):
            self.remove_everything_of(fingerprint)

    def remove_everything_of(self, fingerprint):
        """Remove every database and record of ``fingerprint`` (files go with the temp dir)."""

    def account(self, test, fingerprints):
        """Return the URL of an account of ``test``'s own for ``fingerprints`` (dropped after it)."""
        return self.url

    def plant(self, url, name, rows=True):
        """Create database ``name`` through ``url`` as a user would, with a table and a row if asked."""
        run_sql(url, f"CREATE DATABASE {self.quote(name)}")
        if rows:
            database_url = make_url(url).set(database=name).render_as_string(hide_password=False)
            run_sql(database_url, "CREATE TABLE precious (id INTEGER)")
            run_sql(database_url, "INSERT INTO precious VALUES (42)")

    def precious(self, name):
        """Return the rows of the table ``plant`` made in ``name`` (the database must exist)."""
        database_url = make_url(self.url).set(database=name).render_as_string(hide_password=False)
        return [row[0] for row in run_sql(database_url, "SELECT id FROM precious")]

    def exists(self, name):
        """Tell whether database ``name`` exists on the server."""
        return name in self.all_databases()

    def tables(self, url):
        """Return the sorted names of the tables of the database at ``url``."""
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        try:
            return sorted(sa.inspect(engine).get_table_names())
        finally:
            engine.dispose()

    def name_has_pid(self, name, pid):
        """Tell whether clone or build ``name`` (a name, file name or path) records ``pid``."""
        return re.search(rf"[-_]{pid}[-_]", Path(str(name)).name) is not None

    def url_of(self, name):
        """Return the admin's URL of database ``name``."""
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)


def _close(database):
    database.close()
    admin = getattr(database.backend, "admin", None)
    if admin is not None:
        admin.dispose()


class SQLiteSide(Side):
    """SQLite: goldens, builds and clones are files in the cache directory."""

    backend = "sqlite"
    url = "sqlite://"

    def artifacts(self, fingerprint, cache_dir=None):
        """Every file dbtestkit keeps under the cache's sqlite folder (one cache per test or slot)."""
        root = Path(cache_dir or self.cache_dir) / "sqlite"
        if not root.is_dir():
            return []
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir())

    def is_golden(self, fingerprint, artifact):
        """The golden file and its companions (lock, record) are named after the fingerprint."""
        return artifact.startswith(f"golden-{fingerprint}")

    def has_golden(self, fingerprint, cache_dir=None):
        """The golden file itself (not only its lock) exists."""
        return f"golden-{fingerprint}.sqlite" in self.artifacts(fingerprint, cache_dir)

    def tamper_record(self, golden):
        """Make the golden's record name another fingerprint."""
        from tests.support import record_path

        path = record_path(golden)
        path.write_text(json.dumps({**json.loads(path.read_text()), "fingerprint": "0" * 64}))

    def tamper_golden(self, golden):
        """Move the golden's version table back to its first revision, behind dbtestkit's back."""
        from tests.support import golden_path, tamper

        tamper(golden_path(golden), "UPDATE alembic_version SET version_num = '0001'")


class PostgresSide(Side):
    """PostgreSQL: databases named ``dbtk_<kind>_<fingerprint part>``; intent files in the cache."""

    backend = "postgresql"

    def __init__(self, url):
        self.url = url

    def databases(self, fingerprint):
        """Return the names of every database of ``fingerprint`` on the server (any owner)."""
        return sorted(name for (name,) in run_sql(
            self.url, "SELECT datname FROM pg_database WHERE datname ~ %(p)s",
            {"p": f"^dbtk_[a-z]+_{fingerprint[:12]}"}))

    def artifacts(self, fingerprint, cache_dir=None):
        """The databases of ``fingerprint`` and every intent record in the cache."""
        intents = Path(cache_dir or self.cache_dir) / "intents"
        files = sorted(f"intent {p.name}" for p in intents.iterdir()) if intents.is_dir() else []
        return self.databases(fingerprint) + files

    def is_golden(self, fingerprint, artifact):
        return artifact == f"dbtk_golden_{fingerprint[:40]}"

    quote = staticmethod(lambda name: f'"{name}"')

    def all_databases(self):
        return {name for (name,) in run_sql(self.url, "SELECT datname FROM pg_database")}

    def marker(self, name):
        """Return the marker dbtestkit keeps in database ``name``'s comment."""
        [(comment,)] = run_sql(self.url, "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                                         "WHERE datname = %(n)s", {"n": name})
        assert comment and comment.startswith("dbtestkit:"), comment
        return json.loads(comment[len("dbtestkit:"):])

    def tamper_record(self, golden):
        name = make_url(golden.url).database
        marker = self.marker(name)
        marker["record"]["fingerprint"] = "0" * 64
        text = ("dbtestkit:" + json.dumps(marker, sort_keys=True)).replace("'", "''")
        run_sql(self.url, f'ALTER DATABASE "{name}" WITH IS_TEMPLATE false')
        run_sql(self.url, f"COMMENT ON DATABASE \"{name}\" IS '{text}'")
        run_sql(self.url, f'ALTER DATABASE "{name}" WITH IS_TEMPLATE true')

    def tamper_golden(self, golden):
        """Open the golden (a closed template) and move its version table back, leaving it open."""
        name = make_url(golden.url).database
        run_sql(self.url, f'ALTER DATABASE "{name}" WITH IS_TEMPLATE false ALLOW_CONNECTIONS true')
        run_sql(self.url_of(name), "UPDATE alembic_version SET version_num = '0001'")

    def remove_everything_of(self, fingerprint):
        for name in self.databases(fingerprint):
            drop_pg_database(self.url, name)

    def drop(self, name):
        """Drop database ``name`` (a template too), disconnecting whoever is on it."""
        drop_pg_database(self.url, name)

    def account(self, test, fingerprints=()):
        """Create a login role that may create databases, for ``test`` alone; return its URL."""
        role = f"dbtk_t_{secrets.token_hex(6)}"
        password = secrets.token_hex(12)
        run_sql(self.url, f'CREATE ROLE "{role}" LOGIN CREATEDB PASSWORD \'{password}\'')
        test.addCleanup(drop_pg_role, self.url, role)
        return make_url(self.url).set(username=role, password=password).render_as_string(
            hide_password=False)


class EmbeddedSide(PostgresSide):
    """The embedded PostgreSQL cluster: the PostgreSQL side, reached through ``postgresql+embedded://``.

    ``url`` (for the admin's own SQL) is the cluster's unix socket; the
    TestDatabases the contract makes are given the embedded URL itself.
    """

    database_url = "postgresql+embedded://"


def drop_pg_database(url, name):
    """Drop a database (a template too), disconnecting whoever is on it."""
    # Only a template needs it; an ALTER of a database whose DROP is still
    # running (one a process that exited had asked for) fails.
    if run_sql(url, "SELECT 1 FROM pg_database WHERE datname = %s AND datistemplate", (name,)):
        run_sql(url, f'ALTER DATABASE "{name}" WITH IS_TEMPLATE false')
    run_sql(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drop_pg_role(url, role):
    """Drop ``role`` and every database it owns."""
    owned = run_sql(url, "SELECT datname FROM pg_database WHERE datdba = "
                         "(SELECT oid FROM pg_roles WHERE rolname = %(r)s)", {"r": role})
    for (name,) in owned:
        drop_pg_database(url, name)
    run_sql(url, f'DROP ROLE IF EXISTS "{role}"')


class MariaDBSide(Side):
    """MariaDB: databases named after the fingerprint, and their entries in dbtestkit's catalog."""

    backend = "mysql"

    def __init__(self, url):
        self.url = url

    def databases(self, fingerprint):
        """Return the names of every golden and clone database of ``fingerprint`` on the server."""
        names = run_sql(
            self.url, "SELECT schema_name FROM information_schema.SCHEMATA WHERE schema_name = %s "
            "OR schema_name LIKE %s ORDER BY schema_name",
            (f"dbtk_golden_{fingerprint[:40]}", f"dbtk\\_clone\\_{fingerprint[:12]}\\_%"))
        return [name for (name,) in names]

    def entries(self, fingerprint):
        """Return ``entry <name> <kind>`` for every catalog entry of ``fingerprint``."""
        from dbtestkit.backends.mysql_catalog import TABLE

        with contextlib.suppress(sa.exc.DBAPIError):  # no catalog yet
            return [f"entry {name} {kind}" for name, kind in run_sql(
                self.url, f"SELECT name, kind FROM {TABLE} WHERE fingerprint = %s ORDER BY name",
                (fingerprint,))]
        return []

    def artifacts(self, fingerprint, cache_dir=None):
        return self.databases(fingerprint) + self.entries(fingerprint)

    def is_golden(self, fingerprint, artifact):
        name = f"dbtk_golden_{fingerprint[:40]}"
        return artifact in (name, f"entry {name} golden")

    quote = staticmethod(lambda name: f"`{name}`")

    def all_databases(self):
        return {name for (name,) in run_sql(self.url, "SELECT schema_name FROM information_schema.SCHEMATA")}

    def has_golden(self, fingerprint, cache_dir=None):
        """The golden's database exists and its catalog entry says golden (not build)."""
        name = f"dbtk_golden_{fingerprint[:40]}"
        found = self.artifacts(fingerprint, cache_dir)
        return name in found and f"entry {name} golden" in found

    def entry(self, name):
        """Return the catalog entry of ``name``: kind, owner, fingerprint and record (a dict)."""
        from dbtestkit.backends.mysql_catalog import TABLE

        rows = run_sql(self.url, f"SELECT kind, owner, fingerprint, record FROM {TABLE} WHERE name = %s",
                       (name,))
        return [{"kind": kind, "owner": owner, "fingerprint": fingerprint, "record": json.loads(record)}
                for kind, owner, fingerprint, record in rows]

    def set_entry(self, name, **changes):
        """Change fields of ``name``'s catalog entry (``record``: a dict) behind dbtestkit's back."""
        from dbtestkit.backends.mysql_catalog import TABLE

        for key, value in changes.items():
            value = json.dumps(value, sort_keys=True) if key == "record" else value
            run_sql(self.url, f"UPDATE {TABLE} SET {key} = %s WHERE name = %s", (value, name))

    def tamper_record(self, golden):
        name = make_url(golden.url).database
        [entry] = self.entry(name)
        self.set_entry(name, record={**entry["record"], "fingerprint": "0" * 64})
        run_sql(self.url, f"CREATE TABLE `{name}`.planted (id INTEGER)")

    def tamper_golden(self, golden):
        run_sql(self.url, f"UPDATE `{make_url(golden.url).database}`.alembic_version SET version_num = '0001'")

    def remove_everything_of(self, fingerprint):
        from dbtestkit.backends.mysql_catalog import TABLE

        for name in self.databases(fingerprint):
            self.drop(name)
        with contextlib.suppress(sa.exc.DBAPIError):
            run_sql(self.url, f"DELETE FROM {TABLE} WHERE fingerprint = %s", (fingerprint,))

    def drop(self, name):
        """Drop database ``name`` (and its catalog entry), ending connections left inside it."""
        from dbtestkit.backends.mysql_catalog import TABLE

        for (process_id,) in run_sql(self.url, "SELECT id FROM information_schema.PROCESSLIST "
                                               "WHERE db = %s AND id <> CONNECTION_ID()", (name,)):
            with contextlib.suppress(sa.exc.DBAPIError):
                run_sql(self.url, f"KILL {int(process_id)}")
        run_sql(self.url, f"DROP DATABASE IF EXISTS `{name}`")
        with contextlib.suppress(sa.exc.DBAPIError):  # no catalog yet
            run_sql(self.url, f"DELETE FROM {TABLE} WHERE name = %s", (name,))

    def account(self, test, fingerprints):
        """Create a user that may work only on the databases of ``fingerprints``; return its URL."""
        from dbtestkit.backends.mysql_catalog import CATALOG

        user, password = f"dbtk_t_{secrets.token_hex(6)}", secrets.token_hex(12)
        run_sql(self.url, "CREATE USER %s@%s IDENTIFIED BY %s", (user, "%", password))
        test.addCleanup(self.drop_user, user)
        grants = [CATALOG.replace("_", "\\_")]
        for fingerprint in fingerprints:
            self.fingerprints.add(fingerprint)
            grants += [f"dbtk\\_golden\\_{fingerprint[:40]}", f"dbtk\\_clone\\_{fingerprint[:12]}\\_%"]
        for pattern in grants:
            run_sql(self.url, f"GRANT ALL PRIVILEGES ON `{pattern.replace('%', '%%')}`.* TO %s@%s",
                    (user, "%"))
        return make_url(self.url).set(username=user, password=password, database="").render_as_string(
            hide_password=False)

    def drop_user(self, user):
        from dbtestkit.backends.mysql_catalog import TABLE

        with contextlib.suppress(sa.exc.DBAPIError):
            run_sql(self.url, f"DELETE FROM {TABLE} WHERE owner = %s", (f"{user}@%",))
        run_sql(self.url, "DROP USER IF EXISTS %s@%s", (user, "%"))


def normalise(label):
    """Return a statement or file operation with names, numbers and paths made comparable."""
    # The clone strategy is chosen by timing, so it may differ from run to run.
    label = re.sub(r"\b(WAL_LOG|FILE_COPY)\b", "STRATEGY", label)
    label = re.sub(r"/\S*/", "/…/", label)
    label = re.sub(r"[0-9a-f]{6,}", "H", label)
    label = re.sub(r"\d+", "N", label)
    return label
