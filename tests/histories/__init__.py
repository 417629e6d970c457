"""Deliberately broken Alembic histories, each written on demand as a small project.

``write_history(name, folder)`` writes ``alembic.ini``, an env.py that uses the
injected connection, and the revisions of history ``name`` into ``folder`` and
returns the path of its alembic.ini; ``head_metadata(name)`` returns the
models' MetaData for it. Every history is the same little library schema
(author, book) with one defect, so a check that fails names that defect and
nothing else:

``healthy``                  no defect: every check passes.
``two_heads``                0002 and 0003 both revise 0001 (a forgotten merge).
``model_drift``              the models have author.email, which no migration adds;
                             the migrations create audit_log, which no model has.
``downgrade_leaves_column``  0003's downgrade drops the isbn index but not the column.
``failing_migration``        0003's upgrade updates a column that does not exist.
``missing_downgrade``        0001's downgrade raises NotImplementedError (floor: 0001).
``recreated_table``          healthy, but 0003 drops and recreates book (its downgrade
                             has nothing to undo), so on PostgreSQL the table's catalog
                             entries (OIDs) change while its shape does not.
``needs_before_migrations``  healthy, but it starts where ``create_legacy_author`` (a
                             before_migrations step) left off: 0001 alters author.
``alembic_not_implemented``  0002's downgrade drops a constraint without batch mode or
                             type_: Alembic raises NotImplementedError on SQLite and MySQL.
``helper_not_implemented``   0002's downgrade calls ``restore_archived_books``, which
                             raises NotImplementedError (not the revision itself).
"""

import sqlalchemy as sa

from tests.support import CONNECTION_ENV_PY, write_project, write_revision

CREATE_AUTHOR = (
    "0001", "create author",
    'op.create_table("author", sa.Column("id", sa.Integer, primary_key=True), '
    'sa.Column("name", sa.String(100), nullable=False))',
    'op.drop_table("author")',
)
CREATE_BOOK = (
    "0002", "create book",
    'op.create_table("book", sa.Column("id", sa.Integer, primary_key=True), '
    'sa.Column("title", sa.String(200), nullable=False), '
    'sa.Column("author_id", sa.Integer, sa.ForeignKey("author.id")))',
    'op.drop_table("book")',
)
ADD_ISBN = (
    "0003", "add isbn",
    'with op.batch_alter_table("book") as batch:\n'
    '    batch.add_column(sa.Column("isbn", sa.String(20)))\n'
    '    batch.create_index("ix_book_isbn", ["isbn"])',
    'with op.batch_alter_table("book") as batch:\n'
    '    batch.drop_index("ix_book_isbn")\n'
    '    batch.drop_column("isbn")',
)

# name: (revisions as (id, message, upgrade, downgrade[, down_revision]), extra models)
HISTORIES = {
    "healthy": [CREATE_AUTHOR, CREATE_BOOK, ADD_ISBN],
    "two_heads": [
        CREATE_AUTHOR, CREATE_BOOK,
        ("0003", "create publisher",
         'op.create_table("publisher", sa.Column("id", sa.Integer, primary_key=True), '
         'sa.Column("name", sa.String(100), nullable=False))',
         'op.drop_table("publisher")', "0001"),
    ],
    "model_drift": [
        CREATE_AUTHOR, CREATE_BOOK, ADD_ISBN,
        ("0004", "create audit log",
         'op.create_table("audit_log", sa.Column("id", sa.Integer, primary_key=True), '
         'sa.Column("message", sa.Text))',
         'op.drop_table("audit_log")'),
    ],
    "downgrade_leaves_column": [
        CREATE_AUTHOR, CREATE_BOOK,
        ADD_ISBN[:3] + ('with op.batch_alter_table("book") as batch:\n'
                        '    batch.drop_index("ix_book_isbn")',),
    ],
    "failing_migration": [
        CREATE_AUTHOR, CREATE_BOOK,
        ("0003", "fill isbn", 'op.execute("UPDATE book SET isbn = \'unknown\'")', "pass"),
    ],
    "recreated_table": [
        CREATE_AUTHOR, CREATE_BOOK,
        ("0003", "recreate book", 'op.drop_table("book")\n' + CREATE_BOOK[2], "pass"),
    ],
    "missing_downgrade": [
        CREATE_AUTHOR[:3] + ('raise NotImplementedError("authors are never dropped")',),
        CREATE_BOOK, ADD_ISBN,
    ],
    "needs_before_migrations": [
        ("0001", "add author email",
         'with op.batch_alter_table("author") as batch:\n'
         '    batch.add_column(sa.Column("email", sa.String(200)))',
         'with op.batch_alter_table("author") as batch:\n'
         '    batch.drop_column("email")'),
        CREATE_BOOK, ADD_ISBN,
    ],
    "alembic_not_implemented": [
        CREATE_AUTHOR,
        ("0002", "unique author name",
         'with op.batch_alter_table("author") as batch:\n'
         '    batch.create_unique_constraint("uq_author_name", ["name"])',
         'op.drop_constraint("uq_author_name", "author")'),
    ],
    "helper_not_implemented": [
        CREATE_AUTHOR,
        CREATE_BOOK[:3] + ('from tests.histories import restore_archived_books\n'
                           'restore_archived_books()\n' + CREATE_BOOK[3],),
    ],
}


def create_legacy_author(connection):
    """The before_migrations step of ``needs_before_migrations``: the table its history alters."""
    metadata = sa.MetaData()
    sa.Table("author", metadata, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("name", sa.String(100), nullable=False))
    metadata.create_all(connection)


def restore_archived_books():
    """What ``helper_not_implemented``'s downgrade calls: application code that cannot do it."""
    raise NotImplementedError("archived books cannot be restored")


def write_history(name, folder):
    """Write history ``name`` as an Alembic project into ``folder``; return its alembic.ini."""
    revisions = HISTORIES[name]
    ini = write_project(folder, revisions=[], env_py=CONNECTION_ENV_PY)
    versions = ini.parent / "migrations" / "versions"
    previous = None
    for revision in revisions:
        number, message, upgrade, downgrade, *down = revision
        write_revision(versions, number, message, upgrade, downgrade,
                       down[0] if down else previous)
        previous = number
    return ini


def head_metadata(name):
    """Return the models of history ``name``: its head schema, plus the drift if any."""
    metadata = sa.MetaData()
    author = [sa.Column("id", sa.Integer, primary_key=True),
              sa.Column("name", sa.String(100), nullable=False)]
    if name in ("model_drift", "needs_before_migrations"):
        author.append(sa.Column("email", sa.String(200)))
    sa.Table("author", metadata, *author)
    book = [sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("title", sa.String(200), nullable=False),
            sa.Column("author_id", sa.Integer, sa.ForeignKey("author.id"))]
    if name not in ("two_heads", "recreated_table"):
        book.append(sa.Column("isbn", sa.String(20), index=True))
    sa.Table("book", metadata, *book)
    if name == "two_heads":
        sa.Table("publisher", metadata, sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("name", sa.String(100), nullable=False))
    return metadata
