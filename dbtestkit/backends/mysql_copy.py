"""MySQL and MariaDB: the statements that copy a golden into a new database (a clone)."""


def copy_statements(connection, golden):
    """Yield the statements that recreate everything in ``golden`` inside a new database.

    Sequences, tables (SHOW CREATE TABLE keeps foreign keys, which CREATE
    TABLE … LIKE drops on MariaDB), rows, stored routines, views, triggers:
    in that order, run inside the new database with foreign-key checks off.
    """
    source = quote(golden)
    tables = connection.exec_driver_sql(
        "SELECT table_name, table_type FROM information_schema.TABLES WHERE table_schema = %s "
        "ORDER BY table_name", (golden,)
    ).all()
    # Sequences first: a column default may call NEXTVAL on one (MariaDB).
    for name in [name for name, kind in tables if kind == "SEQUENCE"]:
        yield from _sequence_statements(connection, golden, name)
    base_tables = [name for name, kind in tables if kind == "BASE TABLE"]
    for table in base_tables:
        yield connection.exec_driver_sql(f"SHOW CREATE TABLE {source}.{quote(table)}").first()[1]
    for table in base_tables:
        # Tables without rows cost nothing to copy if we skip them.
        if connection.exec_driver_sql(f"SELECT 1 FROM {source}.{quote(table)} LIMIT 1").first():
            columns = ", ".join(quote(c) for c in _stored_columns(connection, golden, table))
            yield f"INSERT INTO {quote(table)} ({columns}) SELECT {columns} FROM {source}.{quote(table)}"
    # Routines before views: a view may call a stored function.
    for name, kind in connection.exec_driver_sql(
        "SELECT routine_name, routine_type FROM information_schema.ROUTINES "
        "WHERE routine_schema = %s ORDER BY routine_type, routine_name", (golden,)
    ):
        row = connection.exec_driver_sql(f"SHOW CREATE {kind} {source}.{quote(name)}").first()
        yield _unqualify(row[2], golden)
    yield from _views_in_dependency_order(connection, golden, [n for n, k in tables if k == "VIEW"])
    for (trigger,) in connection.exec_driver_sql(
        "SELECT trigger_name FROM information_schema.TRIGGERS WHERE trigger_schema = %s "
        "ORDER BY action_order", (golden,)
    ):
        row = connection.exec_driver_sql(f"SHOW CREATE TRIGGER {source}.{quote(trigger)}").first()
        yield _unqualify(row[2], golden)


def _sequence_statements(connection, golden, name):
    source = f"{quote(golden)}.{quote(name)}"
    yield connection.exec_driver_sql(f"SHOW CREATE SEQUENCE {source}").first()[1]
    # Continue where the golden stands, so a clone never reissues a used value.
    following = connection.exec_driver_sql(f"SELECT next_not_cached_value FROM {source}").scalar()
    yield f"SELECT SETVAL({quote(name)}, {int(following) - 1})"


def _stored_columns(connection, schema, table):
    # Generated columns are computed by the server and refuse inserted values.
    return connection.exec_driver_sql(
        "SELECT column_name FROM information_schema.COLUMNS WHERE table_schema = %s AND "
        "table_name = %s AND extra NOT LIKE %s AND extra NOT LIKE %s ORDER BY ordinal_position",
        (schema, table, "%GENERATED%", "%PERSISTENT%"),
    ).scalars().all()


def _views_in_dependency_order(connection, golden, views):
    definitions = {}
    for view in views:
        row = connection.exec_driver_sql(f"SHOW CREATE VIEW {quote(golden)}.{quote(view)}").first()
        definitions[view] = _unqualify(row[1], golden)
    done = []
    while definitions:
        ready = [v for v, sql in definitions.items()
                 if not any(quote(other) in sql for other in definitions if other != v)]
        for view in ready or list(definitions):
            done.append(definitions.pop(view))
    return done


def _unqualify(sql, schema):
    # Views and triggers name their own schema; the copy must name the clone.
    return sql.replace(f"{quote(schema)}.", "")


def quote(identifier):
    """Quote an identifier for MySQL."""
    return "`" + identifier.replace("`", "``") + "`"

