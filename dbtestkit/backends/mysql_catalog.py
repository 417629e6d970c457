"""dbtestkit's catalog on a MySQL/MariaDB server: who made which database, and what it is.

MySQL databases have no owner and no comment that every server supports, and
nothing of dbtestkit's may live inside them (the application would see it).
So every database dbtestkit creates has a row in ``dbtk_catalog.entries``,
written *before* its CREATE DATABASE (the intent: who, host, pid, name, kind)
and changed in one statement when it becomes a golden (the publication) or a
kept clone. A database without a row of the current user is not ours.

The catalog is created by the first dbtestkit process that needs it. Other
MySQL users share it: each row records the account that wrote it
(``CURRENT_USER()``), and dbtestkit acts only on rows of the current account.
"""

import json
import time
from typing import NamedTuple

from sqlalchemy.exc import DBAPIError

from dbtestkit.backends.processes import creator
from dbtestkit.exceptions import DbtestkitError

CATALOG = "dbtk_catalog"
COLUMNS = ("name", "kind", "owner", "host", "pid", "fingerprint", "created_at", "record")
CREATE_TABLE_AS = """CREATE TABLE IF NOT EXISTS {table} (
    name VARCHAR(64) NOT NULL PRIMARY KEY,
    kind VARCHAR(16) NOT NULL,
    owner VARCHAR(300) NOT NULL,
    host VARCHAR(64) NOT NULL,
    pid INT NOT NULL,
    fingerprint VARCHAR(64) NOT NULL,
    created_at DOUBLE NOT NULL,
    record TEXT NOT NULL
) ENGINE=InnoDB CHARACTER SET utf8mb4 COMMENT='dbtestkit: which databases dbtestkit made, for whom'"""
TABLE = f"`{CATALOG}`.`entries`"
CREATE_TABLE = CREATE_TABLE_AS.format(table=TABLE)
# Server errors that mean the catalog (or a privilege on it) is missing.
UNKNOWN_DATABASE, NO_SUCH_TABLE = 1049, 1146
ACCESS_DENIED = (1044, 1142, 1143)


class Entry(NamedTuple):
    """One catalog row: a database dbtestkit made (or is about to make)."""

    name: str
    kind: str  # build, golden, clone, kept
    owner: str  # the MySQL account that made it, as CURRENT_USER() says
    host: str
    pid: int
    fingerprint: str
    created_at: float
    record: dict
    mine: bool  # made by the current account

    @property
    def creator(self):
        """The creator's ``host`` and ``pid``, for ``creator_is_gone``."""
        return {"host": self.host, "pid": self.pid}


class Catalog:
    """Reads and writes the catalog on connections of the admin engine."""

    def __init__(self, describe, name=CATALOG):
        self.describe = describe
        self.name = name
        self.table = f"`{name}`.`entries`"
        self._ready = False

    # -- reading --------------------------------------------------------------

    def get(self, connection, name):
        """Return the entry of database ``name``, or None (also when there is no catalog yet)."""
        rows = self._select(connection, "WHERE name = %s", (name,))
        return rows[0] if rows else None

    def entries(self, connection, kinds=None):
        """Return the current account's entries (of ``kinds``), oldest first."""
        rows = self._select(connection, "WHERE owner = CURRENT_USER() ORDER BY created_at, name", ())
        return [entry for entry in rows if kinds is None or entry.kind in kinds]

    def _select(self, connection, where, params):
        try:
            self._check(connection)
            rows = connection.exec_driver_sql(
                f"SELECT {', '.join(COLUMNS)}, owner = CURRENT_USER() FROM {self.table} {where}", params
            ).all()
        except DBAPIError as error:
            if _code(error) in (UNKNOWN_DATABASE, NO_SUCH_TABLE):
                self._ready = False
                return []  # no catalog: nothing was ever made here
            raise self._error(connection, error, "read") from error
        return [Entry(*row[:7], _record(row[7]), bool(row[8])) for row in rows]

    # -- writing --------------------------------------------------------------

    def add(self, connection, name, kind, fingerprint):
        """Record the intent to create ``name`` (before the CREATE DATABASE)."""
        fields = creator()
        self._write(connection, (
            f"INSERT INTO {self.table} ({', '.join(COLUMNS)}) "
            "VALUES (%s, %s, CURRENT_USER(), %s, %s, %s, %s, %s)"
        ), (name, kind, fields["host"], fields["pid"], fingerprint, time.time(), "{}"), name)

    def change(self, connection, name, from_kind, kind, record):
        """Turn our ``from_kind`` entry ``name`` into ``kind`` with ``record``, in one statement."""
        changed = self._write(connection, (
            f"UPDATE {self.table} SET kind = %s, record = %s "
            "WHERE name = %s AND kind = %s AND owner = CURRENT_USER()"
        ), (kind, json.dumps(record, sort_keys=True), name, from_kind), name)
        if changed != 1:
            raise DbtestkitError(
                f"dbtestkit's catalog {self.name} on {self.describe()} has no {from_kind} entry of "
                f"this user for database {name} (was it dropped or edited?); {name} cannot be "
                f"marked as a {kind}. Drop {name} yourself, then run again."
            )

    def remove(self, connection, name):
        """Forget our entry of ``name`` (after its database was dropped)."""
        self._write(connection, f"DELETE FROM {self.table} WHERE name = %s AND owner = CURRENT_USER()",
                    (name,), name)

    def _write(self, connection, statement, params, name):
        for attempt in (1, 2):
            try:
                self._ensure(connection)
                return connection.exec_driver_sql(statement, params).rowcount
            except DBAPIError as error:
                if attempt == 1 and _code(error) in (UNKNOWN_DATABASE, NO_SUCH_TABLE):
                    self._ready = False  # dropped while we ran: create it again, once
                    continue
                raise self._error(connection, error, f"record database {name} in") from error

    # -- the catalog itself ----------------------------------------------------

    def _ensure(self, connection):
        self._check(connection)
        if not self._ready:
            # Missing: the first process that needs it creates it (IF NOT EXISTS: several may race).
            connection.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS `{self.name}` CHARACTER SET utf8mb4")
            connection.exec_driver_sql(CREATE_TABLE_AS.format(table=self.table))
            self._check(connection)

    def _check(self, connection):
        """Make sure ``dbtk_catalog.entries`` is dbtestkit's (checked once per process)."""
        if self._ready:
            return
        columns = connection.exec_driver_sql(
            "SELECT column_name FROM information_schema.COLUMNS WHERE table_schema = %s "
            "AND table_name = 'entries'", (self.name,)
        ).scalars().all()
        if not columns:
            return  # missing: created on the first write
        if sorted(column.lower() for column in columns) != sorted(COLUMNS):
            raise DbtestkitError(
                f"Table {self.name}.entries on {self.describe()} is not dbtestkit's catalog (its "
                f"columns are {sorted(columns)}, not {sorted(COLUMNS)}). dbtestkit records there "
                "which databases it made; rename or drop that table (dbtestkit then treats "
                "earlier databases as not its own), or point DBTESTKIT_URL at another server."
            )
        self._ready = True

    def _error(self, connection, error, action):
        detail = str(getattr(error, "orig", error)).strip().splitlines()[0]
        if _code(error) in ACCESS_DENIED:
            account = connection.exec_driver_sql("SELECT CURRENT_USER()").scalar()
            user, _, host = account.partition("@")
            return DbtestkitError(
                f"dbtestkit cannot {action} its catalog {self.name} on {self.describe()}: {detail}. "
                f"dbtestkit records there which databases it made. Ask an administrator to run "
                f"CREATE DATABASE IF NOT EXISTS {self.name}; GRANT CREATE, SELECT, INSERT, UPDATE, "
                f"DELETE ON {self.name}.* TO '{user}'@'{host}';"
            )
        return DbtestkitError(f"dbtestkit cannot {action} its catalog {self.name} on {self.describe()}: "
                              f"{detail}.")


def _code(error):
    args = getattr(getattr(error, "orig", None), "args", ())
    return args[0] if args else None


def _record(text):
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
