"""Generate synthetic but realistic Alembic projects for the benchmarks.

The output is deterministic: the same arguments always produce the same
bytes, so fingerprints and timings are comparable between runs.
"""
import contextlib
import dataclasses
import datetime
import io
import os
import random
import re
import shutil
import tempfile

__all__ = ["Project", "generate_project", "build_database", "head_metadata", "write_env_py"]

# Fixed base date so "Create Date" headers never depend on the clock.
_BASE_DATE = datetime.datetime(2024, 1, 1, 9, 0, 0)

_NOUNS = (
    "account", "address", "invoice", "payment", "product", "order",
    "shipment", "supplier", "customer", "contract", "ticket", "project",
    "task", "employee", "team", "region", "warehouse", "coupon", "review",
    "category", "tag", "document", "message", "session", "device",
)

# What alembic init's generic env.py becomes: run_migrations_online uses
# config.attributes["connection"] when a caller gives one (dbtestkit hands over
# a Connection, pytest-alembic an Engine-like object), and the models come from
# config.attributes["target_metadata"] (pytest-alembic's way of passing them).
_ONLINE = '''def run_migrations_online() -> None:
    """Run migrations in 'online' mode, on config.attributes["connection"] if given."""
    connectable = config.attributes.get("connection", None)
    if isinstance(connectable, Connection):
        do_run_migrations(connectable)
        return
    if connectable is None:
        connectable = engine_from_config(
            config.get_section(config.config_ini_section, {}),
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )
    with connectable.connect() as connection:
        do_run_migrations(connection)


def do_run_migrations(connection) -> None:
    """Run the migrations on an open connection."""
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
'''

# (old text, new text) applied to alembic init's files; each old text must be there.
_ENV_EDITS = [
    ("from alembic import context\n",
     "from alembic import context\nfrom sqlalchemy.engine import Connection\n"),
    ("target_metadata = None\n", 'target_metadata = config.attributes.get("target_metadata")\n'),
]
_INI_EDITS = [
    ("sqlalchemy.url = driver://user:pass@localhost/dbname", "sqlalchemy.url = sqlite:///%(here)s/app.db"),
    # WARNING rather than INFO: one "Running upgrade" line per revision per
    # test would bury the benchmark's output.
    ("[logger_alembic]\nlevel = INFO", "[logger_alembic]\nlevel = WARNING"),
]


def _edit(path, edits, pattern=None, replacement=None):
    """Apply ``edits`` to the file at ``path``; fail if alembic init wrote something else."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    count = 1
    if pattern is not None:
        text, count = re.subn(pattern, lambda _: replacement, text, flags=re.S | re.M)
    missing = [old for old, _ in edits if old not in text] + ([pattern] if count != 1 else [])
    if missing:
        raise RuntimeError("alembic init wrote an unexpected %s (no %r); update "
                           "benchmarks/projectgen.py" % (os.path.basename(path), missing[0]))
    for old, new in edits:
        text = text.replace(old, new)
    _write(path, text)


def _alembic_init(directory):
    """``alembic init`` into ``directory`` (generic template), edited as above."""
    from alembic import command
    from alembic.config import Config

    ini = os.path.join(directory, "alembic.ini")
    with contextlib.redirect_stdout(io.StringIO()):  # its "Creating directory ..." lines
        command.init(Config(ini), os.path.join(directory, "migrations"))
    _edit(ini, _INI_EDITS, r"^script_location = [^\n]*", "script_location = %(here)s/migrations")
    _edit(os.path.join(directory, "migrations", "env.py"), _ENV_EDITS,
          r"def run_migrations_online\(\) -> None:.*?(?=\n\nif context\.is_offline_mode\(\))",
          _ONLINE.rstrip("\n") + "\n")
    return ini


def write_env_py(path):
    """Write the env.py of a generated project at ``path`` (for other histories)."""
    with tempfile.TemporaryDirectory() as tmp:
        _alembic_init(tmp)
        shutil.copyfile(os.path.join(tmp, "migrations", "env.py"), path)


_REVISION_HEADER = '''\
"""{message}

Revision ID: {revision}
Revises: {down_revision}
Create Date: {create_date}

"""
import datetime
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = {revision!r}
down_revision: Union[str, Sequence[str], None] = {down_revision_repr}
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
'''


@dataclasses.dataclass(frozen=True)
class Project:
    """Paths and facts about one generated Alembic project."""

    directory: str
    alembic_ini: str
    versions_dir: str
    revision_ids: tuple
    tables: tuple
    # A table created by the first revision; the benchmark body writes here.
    body_table: str


@dataclasses.dataclass
class _Table:
    """Plan for one generated table."""

    name: str
    revision: int
    fks: list
    seeded: bool


@dataclasses.dataclass
class _Alter:
    """Plan for one batch_alter_table block."""

    table: str
    revision: int
    column: str


def _table_name(index):
    """Readable, unique table name for table number ``index``."""
    return "%s_%03d" % (_NOUNS[index % len(_NOUNS)], index + 1)


def _revision_id(number):
    """Readable revision id, e.g. ``0007``."""
    return "%04d" % number


def _plan(revisions, tables, rng):
    """Decide which revision creates, seeds and alters which table."""
    planned = []
    for index in range(tables):
        # Spread tables evenly; revision numbers are 1-based.
        revision = index * revisions // tables + 1
        earlier = list(range(index))
        fk_count = min(len(earlier), rng.choice((0, 1, 1, 2)))
        fks = sorted(rng.sample(earlier, fk_count))
        planned.append(_Table(_table_name(index), revision, fks,
                              seeded=index % 4 == 0))
    alters = []
    altered = set()
    # Alters start in the second third so they hit tables that already exist.
    for revision in range(max(2, revisions // 3), revisions + 1):
        if revision % 3:
            continue
        candidates = [t for t in planned
                      if t.revision < revision and t.name not in altered]
        if not candidates:
            continue
        target = rng.choice(candidates)
        altered.add(target.name)
        alters.append(_Alter(target.name, revision, "note_r%d" % revision))
    return planned, alters


def _create_table_code(table, planned):
    """Source lines creating ``table`` (and its indexes, seed rows)."""
    var = "t_" + table.name
    lines = ["    %s = op.create_table(" % var, "        %r," % table.name,
             "        sa.Column('id', sa.Integer(), primary_key=True),",
             "        sa.Column('name', sa.String(length=80), nullable=False),",
             "        sa.Column('label', sa.String(length=40), nullable=True),",
             "        sa.Column('amount', sa.Numeric(precision=10, scale=2), "
             "nullable=True),",
             "        sa.Column('created_on', sa.Date(), nullable=True),"]
    for fk in table.fks:
        parent = planned[fk].name
        lines.append("        sa.Column(%r, sa.Integer(), "
                     "sa.ForeignKey(%r), nullable=True),"
                     % (parent + "_id", parent + ".id"))
    lines.append("    )")
    lines.append("    op.create_index(%r, %r, ['name'])"
                 % ("ix_%s_name" % table.name, table.name))
    for fk in table.fks:
        column = planned[fk].name + "_id"
        lines.append("    op.create_index(%r, %r, [%r])"
                     % ("ix_%s_%s" % (table.name, column), table.name, column))
    return lines, var


def _seed_code(table, var, seed_rows):
    """Source lines bulk-inserting ``seed_rows`` rows into ``table``."""
    lines = ["    op.bulk_insert(%s, [" % var]
    for row in range(seed_rows):
        lines.append("        {'id': %d, 'name': %r, 'label': %r, "
                     "'amount': %d.5, 'created_on': datetime.date(2024, 1, %d)},"
                     % (row + 1, "%s seed %d" % (table.name, row + 1),
                        "L%d" % (row + 1), row * 10, row % 28 + 1))
    lines.append("    ])")
    return lines


def _alter_code(alter):
    """Source lines for one batch alter: add column, alter nullable, index."""
    return [
        "    with op.batch_alter_table(%r) as batch_op:" % alter.table,
        "        batch_op.add_column(sa.Column(%r, sa.String(length=120), "
        "nullable=True))" % alter.column,
        "        batch_op.alter_column('label', existing_type=sa.String("
        "length=40), nullable=False, server_default='')",
        "        batch_op.create_index(%r, [%r])"
        % ("ix_%s_%s" % (alter.table, alter.column), alter.column),
    ]


def _downgrade_code(created, alters):
    """Source lines undoing a revision, in reverse order."""
    lines = []
    for alter in reversed(alters):
        lines += [
            "    with op.batch_alter_table(%r) as batch_op:" % alter.table,
            "        batch_op.drop_index(%r)"
            % ("ix_%s_%s" % (alter.table, alter.column)),
            "        batch_op.alter_column('label', existing_type=sa.String("
            "length=40), nullable=True, server_default=None)",
            "        batch_op.drop_column(%r)" % alter.column,
        ]
    for table in reversed(created):
        lines.append("    op.drop_table(%r)" % table.name)
    return lines or ["    pass"]


def _revision_source(number, planned, alters, seed_rows):
    """Complete text of migration file number ``number``."""
    created = [t for t in planned if t.revision == number]
    altered = [a for a in alters if a.revision == number]
    parts = []
    if created:
        parts.append("create " + ", ".join(t.name for t in created))
    if altered:
        parts.append("alter " + ", ".join(a.table for a in altered))
    message = "; ".join(parts) or "empty revision"
    down = _revision_id(number - 1) if number > 1 else None
    text = _REVISION_HEADER.format(
        message=message[:70], revision=_revision_id(number),
        down_revision=down or "", down_revision_repr=repr(down),
        create_date=(_BASE_DATE + datetime.timedelta(hours=number))
        .isoformat(" ") + ".000000")
    body = []
    for table in created:
        lines, var = _create_table_code(table, planned)
        body += lines
        if table.seeded and seed_rows:
            body += _seed_code(table, var, seed_rows)
    for alter in altered:
        body += _alter_code(alter)
    text += "\n".join(body or ["    pass"]) + "\n"
    text += '\n\ndef downgrade() -> None:\n    """Downgrade schema."""\n'
    text += "\n".join(_downgrade_code(created, altered)) + "\n"
    return text, message


def _slug(message):
    """File-name friendly version of a revision message."""
    words = message.replace(",", " ").replace(";", " ").split()[:3]
    return "_".join(words) or "empty"


def _write(path, text):
    """Write ``text`` with fixed newlines so output bytes are stable."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def generate_project(directory, revisions, tables, seed_rows=3):
    """Write an Alembic project into ``directory`` and describe it."""
    if revisions < 1 or tables < 1:
        raise ValueError("need at least one revision and one table")
    rng = random.Random("dbtestkit-bench-%d-%d-%d"
                        % (revisions, tables, seed_rows))
    planned, alters = _plan(revisions, tables, rng)
    os.makedirs(directory, exist_ok=True)
    ini = _alembic_init(directory)
    versions = os.path.join(directory, "migrations", "versions")
    ids = []
    for number in range(1, revisions + 1):
        text, message = _revision_source(number, planned, alters, seed_rows)
        name = "%s_%s.py" % (_revision_id(number), _slug(message))
        _write(os.path.join(versions, name), text)
        ids.append(_revision_id(number))
    return Project(directory=directory, alembic_ini=ini,
                   versions_dir=versions, revision_ids=tuple(ids),
                   tables=tuple(t.name for t in planned),
                   body_table=planned[0].name)


def alembic_config(project, url=None):
    """Return an alembic ``Config`` for ``project``, optionally re-pointed."""
    from alembic.config import Config

    cfg = Config(project.alembic_ini)
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def build_database(project, path):
    """Create a SQLite file at ``path`` upgraded to head; return ``path``."""
    from alembic import command

    command.upgrade(alembic_config(project, "sqlite:///" + path), "head")
    return path


def head_metadata(project, database=None):
    """Return a ``MetaData`` equal to the head schema, reflected from SQLite.

    Reflecting a database upgraded once is the honest way to get the schema
    a "create_all per test" suite would use; pass ``database`` to reuse an
    already upgraded file.
    """
    import sqlalchemy as sa

    with tempfile.TemporaryDirectory() as tmp:
        path = database or build_database(project,
                                          os.path.join(tmp, "head.sqlite"))
        engine = sa.create_engine("sqlite:///" + path)
        try:
            metadata = sa.MetaData()
            metadata.reflect(engine)
        finally:
            engine.dispose()
    # alembic_version is bookkeeping, not part of the application schema.
    metadata.remove(metadata.tables["alembic_version"])
    return metadata

