"""Helpers shared by dbtestkit's own tests: throwaway Alembic projects and cache dirs."""

import os
import re
import tempfile
import textwrap
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
EXAMPLES = REPO / "examples"

# What the env.py of `alembic init` and of `alembic init -t async` share, word for word.
ENV_PY_CONFIG = '''\
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


'''
ENV_PY_MAIN = '''

if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
'''

# env.py exactly as `alembic init` writes it (engine from sqlalchemy.url).
STOCK_ENV_PY = '''\
from logging.config import fileConfig

from sqlalchemy import engine_from_config
from sqlalchemy import pool

from alembic import context

''' + ENV_PY_CONFIG + '''\
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
''' + ENV_PY_MAIN

# env.py exactly as `alembic init -t async` writes it (async engine from sqlalchemy.url, asyncio.run).
ASYNC_ENV_PY = '''\
import asyncio
from logging.config import fileConfig

from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from alembic import context

''' + ENV_PY_CONFIG + '''\
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
''' + ENV_PY_MAIN

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
        self.addCleanup(rmtree, self.tmp)
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


def iter_tests(suite):
    """Yield the individual tests of a (nested) unittest suite, in order."""
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from iter_tests(item)
        else:
            yield item


def rmtree(path):
    """Remove ``path`` and everything below it, if it exists."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)


# Re-exported: most tests import everything from tests.support.
from tests.support.processes import (  # noqa: E402
    ENSURE_AND_READ, CASES_RUNNER, child_env, dead_pid, kill, python_env, run_python, start_python,
    wait_until,
)
from tests.support.revisions import AUTHOR, sleep_revision, stalling_revision  # noqa: E402
from tests.support.servers import (  # noqa: E402
    SERVERS, embedded_postgresql_url, required_components, server_url, skip_or_fail,
)
