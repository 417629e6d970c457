"""Which databases on a PostgreSQL server are dbtestkit's: owned by this role, marked or announced.

A database of ours is owned by the current role and carries dbtestkit's
marker in its COMMENT, or, between its CREATE DATABASE and that COMMENT,
an intent record of this server and user (intents.py).
"""

from dbtestkit.backends.processes import creator_is_gone, owner_is_gone
from dbtestkit.backends.server import PREFIX, parse_marker


def database_row(connection, name):
    """Return pg_database's row of ``name`` (template, connections, owner, ours, comment), or None."""
    return connection.exec_driver_sql(
        "SELECT d.datname, d.datistemplate, d.datallowconn, "
        "pg_get_userbyid(d.datdba) AS owner, pg_get_userbyid(d.datdba) = current_user AS ours, "
        "shobj_description(d.oid, 'pg_database') AS comment "
        "FROM pg_database d WHERE d.datname = %(name)s",
        {"name": name},
    ).first()


def databases_of_ours(connection, intents):
    """Return the databases of ours: owned by this role, and marked or announced by an intent."""
    rows = connection.exec_driver_sql(
        "SELECT d.datname, d.datistemplate, d.datallowconn, "
        "shobj_description(d.oid, 'pg_database') FROM pg_database d "
        "WHERE d.datname LIKE %(pattern)s AND d.datdba = "
        "(SELECT oid FROM pg_roles WHERE rolname = current_user) ORDER BY d.datname",
        {"pattern": f"{PREFIX}\\_%"},
    ).all()
    found = []
    for name, template, allows_connections, comment in rows:
        fields = parse_marker(comment) or intents.get(name)
        if fields is not None:
            found.append(Ours(name, fields, template, allows_connections))
    return found


def foreign_reason(row):
    """Explain why the database of ``row`` (from ``database_row``) is not provably ours."""
    return (
        f"database {row.datname} belongs to role {row.owner} or lacks dbtestkit's marker; "
        "dbtestkit never uses or drops databases it did not create. Drop it yourself or "
        "connect as the role that made it"
    )


class Ours:
    """A database this role owns and dbtestkit provably made (by its marker or intent record)."""

    def __init__(self, name, fields, template, allows_connections):
        self.name = name
        self.fields = fields
        self.template = template
        self.broken = not template or allows_connections
        kind = fields.get("kind")
        if name.startswith(f"{PREFIX}_build_"):
            # Even when its marker already says golden: it was never renamed into place.
            kind = "build"
        elif name.startswith(f"{PREFIX}_kept_") and kind == "clone":
            kind = "kept"  # kept by an older dbtestkit, which renamed clones without re-marking them
        elif name.startswith(f"{PREFIX}_golden_") != (kind == "golden"):
            kind = None
        self.kind = kind
        self.fingerprint = name.split("_")[2] if kind in ("build", "golden") else fields.get(
            "fingerprint", "")

    @property
    def creator_gone(self):
        """Whether the process that made it is dead (older markers hold no pid: judged by the name)."""
        if "pid" in self.fields:
            return creator_is_gone(self.fields)
        return owner_is_gone(self.name)


def lock_key(fingerprint):
    """Return the advisory-lock key of a fingerprint: its first 15 hex digits (fits a bigint)."""
    try:
        return int(fingerprint[:15], 16)
    except ValueError:
        return 0


def literal(text):
    """Quote a string literal for PostgreSQL (standard_conforming_strings is on since 9.1)."""
    return "'" + text.replace("'", "''") + "'"
