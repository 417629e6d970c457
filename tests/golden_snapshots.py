"""What a golden holds, read through a clone: schema, rows, version table and the next generated ids.

Two goldens that should be exact copies of each other (an incremental golden
and a build from empty, a restored archive and its original) must give the
same ``snapshot``. A history that exercises everything the snapshot sees:
``HISTORY`` (four revisions) and ``NEXT_REVISION`` (the fifth).
"""

import sqlalchemy as sa

HISTORY = [
    ("0001", "create author", (
        'op.create_table("author", sa.Column("id", sa.Integer, primary_key=True), '
        'sa.Column("name", sa.String(100), nullable=False, unique=True), sqlite_autoincrement=True)'
    ), 'op.drop_table("author")'),
    ("0002", "create book", (
        'op.create_table("book", sa.Column("id", sa.Integer, primary_key=True), '
        'sa.Column("title", sa.String(200), nullable=False, server_default="untitled"), '
        'sa.Column("price", sa.Numeric(8, 2)), sa.Column("published", sa.Date), '
        'sa.Column("author_id", sa.Integer, sa.ForeignKey("author.id")))\n'
        'op.create_index("ix_book_title", "book", ["title"])'
    ), 'op.drop_table("book")'),
    ("0003", "seed authors", (
        'op.execute("INSERT INTO author (name) VALUES (\'Le Guin\'), (\'Herbert\'), (\'Banks\')")\n'
        'op.execute("DELETE FROM author WHERE name = \'Banks\'")\n'
        'op.execute("INSERT INTO book (title, price, published, author_id) '
        'VALUES (\'Dune\', 9.99, \'1965-08-01\', 2)")'
    ), 'op.execute("DELETE FROM author")'),
    ("0004", "add isbn", (
        'with op.batch_alter_table("book") as batch:\n'
        '    batch.add_column(sa.Column("isbn", sa.String(20)))\n'
        '    batch.create_unique_constraint("uq_book_isbn", ["isbn"])'
    ), 'pass'),
]
NEXT_REVISION = ("0005", "add reviews", (
    'op.create_table("review", sa.Column("id", sa.Integer, primary_key=True), '
    'sa.Column("book_id", sa.Integer, sa.ForeignKey("book.id"), nullable=False), '
    'sa.Column("stars", sa.Integer, nullable=False))\n'
    'op.execute("INSERT INTO author (name) VALUES (\'Jemisin\')")\n'
    'op.execute("INSERT INTO review (book_id, stars) VALUES (1, 5)")'
), 'op.drop_table("review")')


def snapshot(url):
    """Return everything a test could observe in the database at ``url``, as plain data."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            tables = sorted(inspector.get_table_names())
            found = {"views": sorted(inspector.get_view_names())}
            for table in tables:
                found[table] = {
                    "columns": [(c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                                for c in inspector.get_columns(table)],
                    "pk": inspector.get_pk_constraint(table)["constrained_columns"],
                    "fks": sorted((tuple(fk["constrained_columns"]), fk["referred_table"])
                                  for fk in inspector.get_foreign_keys(table)),
                    "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                                      for i in inspector.get_indexes(table)),
                    "uniques": sorted((u["name"], tuple(u["column_names"]))
                                      for u in inspector.get_unique_constraints(table)),
                    "rows": sorted(map(repr, connection.execute(sa.text(f"SELECT * FROM {table}")))),
                }
            found["sequences"] = _sequences(connection)
        # What the next insert is given: sequences and counters, whatever the backend calls them.
        with engine.connect() as connection:
            found["next author id"] = connection.execute(
                sa.text("INSERT INTO author (name) VALUES ('next')")).lastrowid \
                if engine.dialect.name != "postgresql" else connection.execute(
                sa.text("INSERT INTO author (name) VALUES ('next') RETURNING id")).scalar()
            connection.rollback()
        return found
    finally:
        engine.dispose()


def _sequences(connection):
    name = connection.dialect.name
    if name == "postgresql":
        names = connection.execute(sa.text(
            "SELECT relname FROM pg_class WHERE relkind = 'S' ORDER BY relname")).scalars().all()
        return [(n, tuple(connection.execute(sa.text(f"SELECT last_value, is_called FROM {n}")).first()))
                for n in names]
    if name in ("mysql", "mariadb"):
        return connection.execute(sa.text(
            "SELECT table_name, auto_increment FROM information_schema.TABLES "
            "WHERE table_schema = DATABASE() ORDER BY table_name")).all()
    return connection.execute(sa.text("SELECT name, seq FROM sqlite_sequence ORDER BY name")).all()
