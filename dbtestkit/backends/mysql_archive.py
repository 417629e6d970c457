"""MySQL and MariaDB golden archives without client binaries: the clone's DDL, and rows as typed JSON.

The DDL is what a clone runs (``mysql_copy``); the rows are read through
the driver and inserted again with parameters. The digest that checks a
restore is the same DDL read back (AUTO_INCREMENT counters and sequence
positions included) and every table's row count.
"""

import base64
import datetime
import decimal
import hashlib
import json

from dbtestkit.backends.archive_format import frame
from dbtestkit.backends.mysql_copy import copy_statements
from dbtestkit.backends.server import quote

ROWS_PER_FRAME = 1000
# Explicit ids of 0 stay 0; values are inserted as they were read.
RESTORE_SQL_MODE = "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_AUTO_VALUE_ON_ZERO')"


def dump_frames(connection, database):
    """Return the archive frames of ``database``: statements, and typed JSON rows per table."""
    source = quote(connection, database)

    def rows(table, columns):
        names = ", ".join(quote(connection, column) for column in columns)
        result = connection.exec_driver_sql(f"SELECT {names} FROM {source}.{quote(connection, table)}")
        while True:
            batch = result.fetchmany(ROWS_PER_FRAME)
            if not batch:
                break
            yield ("rows", {"table": table, "columns": list(columns),
                            "rows": [[_encode(value) for value in row] for row in batch]})

    frames = []
    for item in copy_statements(connection, database, rows):
        if isinstance(item, str):
            frames.append(frame("sql", item.encode("utf-8")))
        else:
            frames.append(frame("rows", json.dumps(item[1]).encode("utf-8")))
    return frames


def load_frames(connection, frames):
    """Run archive frames inside the (new, empty) database ``connection`` uses."""
    connection.exec_driver_sql("SET SESSION foreign_key_checks = 0")
    connection.exec_driver_sql(RESTORE_SQL_MODE)
    cursor = connection.connection.driver_connection.cursor()
    try:
        for tag, data in frames:
            if tag == "sql":
                cursor.execute(data.decode("utf-8"))
            elif tag == "rows":
                batch = json.loads(data)
                names = ", ".join(quote(connection, column) for column in batch["columns"])
                marks = ", ".join(["%s"] * len(batch["columns"]))
                cursor.executemany(f"INSERT INTO {quote(connection, batch['table'])} ({names}) "
                                   f"VALUES ({marks})",
                                   [tuple(_decode(value) for value in row) for row in batch["rows"]])
    finally:
        cursor.close()


def schema_digest(connection, database):
    """Return a digest of ``database``'s DDL (counters included) and row counts, the same in every copy."""
    source = quote(connection, database)

    def counts(table, columns):
        yield connection.exec_driver_sql(f"SELECT COUNT(*) FROM {source}.{quote(connection, table)}").scalar()

    digest = hashlib.sha256()
    for item in copy_statements(connection, database, counts):
        digest.update(repr(item).encode("utf-8"))
    return digest.hexdigest()


def _encode(value):
    if isinstance(value, decimal.Decimal):
        return {"$": "decimal", "v": str(value)}
    if isinstance(value, datetime.datetime):
        return {"$": "datetime", "v": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"$": "date", "v": value.isoformat()}
    if isinstance(value, datetime.timedelta):  # TIME columns
        return {"$": "time", "v": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, datetime.time):
        return {"$": "clock", "v": value.isoformat()}
    if isinstance(value, (bytes, bytearray)):
        return {"$": "bytes", "v": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, set):
        return ",".join(sorted(value))
    return value


def _decode(value):
    if not isinstance(value, dict):
        return value
    kind, data = value["$"], value["v"]
    if kind == "decimal":
        return decimal.Decimal(data)
    if kind == "datetime":
        return datetime.datetime.fromisoformat(data)
    if kind == "date":
        return datetime.date.fromisoformat(data)
    if kind == "time":
        return datetime.timedelta(days=data[0], seconds=data[1], microseconds=data[2])
    if kind == "clock":
        return datetime.time.fromisoformat(data)
    return base64.b64decode(data)
