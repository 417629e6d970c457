"""MySQL and MariaDB: the statements that copy a golden into a new database (a clone)."""

from dbtestkit.backends.server import quote


def copy_statements(connection, golden, rows=None):
    """Yield the statements that recreate everything in ``golden`` inside a new database.

    Sequences, tables (SHOW CREATE TABLE keeps foreign keys, which CREATE
    TABLE … LIKE drops on MariaDB), rows, stored routines, views, triggers:
    in that order, run inside the new database with foreign-key checks off.
    ``rows(table, columns)`` yields what stands for a table's rows instead of
    the ``INSERT … SELECT`` from ``golden`` (an archive carries the rows themselves).
    """
    source = quote(connection, golden)
    tables = connection.exec_driver_sql(
        "SELECT table_name, table_type FROM information_schema.TABLES WHERE table_schema = %s "
        "ORDER BY table_name", (golden,)
    ).all()
    # Sequences first: a column default may call NEXTVAL on one (MariaDB).
    for name in [name for name, kind in tables if kind == "SEQUENCE"]:
        yield from _sequence_statements(connection, source, name)
    base_tables = [name for name, kind in tables if kind == "BASE TABLE"]
    for table in base_tables:
        yield connection.exec_driver_sql(f"SHOW CREATE TABLE {source}.{quote(connection, table)}").first()[1]
    for table in base_tables:
        target = quote(connection, table)
        # Tables without rows cost nothing to copy if we skip them.
        if connection.exec_driver_sql(f"SELECT 1 FROM {source}.{target} LIMIT 1").first():
            stored = _stored_columns(connection, golden, table)
            if rows is not None:
                yield from rows(table, stored)
                continue
            columns = ", ".join(quote(connection, c) for c in stored)
            yield f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {source}.{target}"
    # Routines before views: a view may call a stored function.
    for name, kind in connection.exec_driver_sql(
        "SELECT routine_name, routine_type FROM information_schema.ROUTINES "
        "WHERE routine_schema = %s ORDER BY routine_type, routine_name", (golden,)
    ):
        row = connection.exec_driver_sql(f"SHOW CREATE {kind} {source}.{quote(connection, name)}").first()
        yield _unqualify(row[2], source)
    yield from _views_in_dependency_order(connection, source, [n for n, k in tables if k == "VIEW"])
    for (trigger,) in connection.exec_driver_sql(
        "SELECT trigger_name FROM information_schema.TRIGGERS WHERE trigger_schema = %s "
        "ORDER BY action_order", (golden,)
    ):
        row = connection.exec_driver_sql(f"SHOW CREATE TRIGGER {source}.{quote(connection, trigger)}").first()
        yield _unqualify(row[2], source)


def _sequence_statements(connection, source, name):
    sequence = quote(connection, name)
    yield connection.exec_driver_sql(f"SHOW CREATE SEQUENCE {source}.{sequence}").first()[1]
    # Continue where the golden stands, so a clone never reissues a used value.
    following = connection.exec_driver_sql(f"SELECT next_not_cached_value FROM {source}.{sequence}").scalar()
    yield f"SELECT SETVAL({sequence}, {int(following) - 1})"


def _stored_columns(connection, schema, table):
    # Generated columns are computed by the server and refuse inserted values.
    return connection.exec_driver_sql(
        "SELECT column_name FROM information_schema.COLUMNS WHERE table_schema = %s AND "
        "table_name = %s AND extra NOT LIKE %s AND extra NOT LIKE %s ORDER BY ordinal_position",
        (schema, table, "%GENERATED%", "%PERSISTENT%"),
    ).scalars().all()


def _views_in_dependency_order(connection, source, views):
    definitions = {}
    for view in views:
        row = connection.exec_driver_sql(f"SHOW CREATE VIEW {source}.{quote(connection, view)}").first()
        definitions[view] = _unqualify(row[1], source)
    done = []
    while definitions:
        ready = [v for v, sql in definitions.items()
                 if not any(quote(connection, other) in sql for other in definitions if other != v)]
        for view in ready or list(definitions):
            done.append(definitions.pop(view))
    return done


def _unqualify(sql, source):
    # Views and triggers name their own schema (``source``, quoted); the copy must name the clone.
    return sql.replace(f"{source}.", "")
