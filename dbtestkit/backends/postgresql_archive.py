"""PostgreSQL golden archives without client binaries: DDL read from the catalogs, rows by COPY.

A golden holding what this dumper cannot carry (extensions, other schemas,
partitions, rules, policies, privileges, …) is refused at export, so an
archive restores exactly or is not written. After a restore, a digest of
the schema read from the catalogs (names and definitions, never OIDs) and
of the sequences and row counts must equal the one taken at export.
"""

import hashlib

from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from dbtestkit.backends.archive_format import frame
from dbtestkit.backends.server import PREFIX
from dbtestkit.exceptions import DbtestkitError

NS = "current_schema()::regnamespace"
# (why, query returning a row per offending object): what this dumper does not carry.
UNSUPPORTED = [
    ("the schema is not public", "SELECT current_schema() WHERE current_schema() <> 'public'"),
    ("an extension", "SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'"),
    ("another schema", "SELECT nspname FROM pg_namespace WHERE nspname NOT IN "
                       "('public', 'information_schema') AND left(nspname, 3) <> 'pg_'"),
    ("a partitioned, foreign or materialized relation or a composite type",
     f"SELECT relname FROM pg_class WHERE relnamespace = {NS} AND relkind IN ('p', 'f', 'm', 'c')"),
    ("table inheritance", "SELECT inhrelid::regclass::text FROM pg_inherits"),
    ("an unlogged table", f"SELECT relname FROM pg_class WHERE relnamespace = {NS} AND relpersistence <> 'p'"),
    ("privileges or storage options", f"SELECT relname FROM pg_class WHERE relnamespace = {NS} "
                                      "AND (relacl IS NOT NULL OR reloptions IS NOT NULL)"),
    ("a rule", f"SELECT rulename FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class "
               f"WHERE c.relnamespace = {NS} AND r.rulename <> '_RETURN'"),
    ("a row security policy", "SELECT polname FROM pg_policy"),
    ("a domain, range or base type", f"SELECT typname FROM pg_type WHERE typnamespace = {NS} "
                                     "AND typtype IN ('d', 'r', 'm', 'b', 'p') AND typcategory <> 'A'"),
    ("an aggregate or window function", f"SELECT proname FROM pg_proc WHERE pronamespace = {NS} "
                                        "AND prokind IN ('a', 'w')"),
    ("a constraint trigger or disabled trigger",
     f"SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = {NS} "
     "AND NOT t.tgisinternal AND (t.tgconstraint <> 0 OR t.tgenabled <> 'O')"),
]
ENUMS = (f"SELECT quote_ident(t.typname), string_agg(quote_literal(e.enumlabel), ', ' "
         f"ORDER BY e.enumsortorder) FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid "
         f"WHERE t.typnamespace = {NS} GROUP BY t.oid, t.typname ORDER BY t.oid")
FUNCTIONS = f"SELECT pg_get_functiondef(oid) FROM pg_proc WHERE pronamespace = {NS} ORDER BY oid"
SEQUENCES = (
    "SELECT quote_ident(c.relname), format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, "
    "s.seqmin, s.seqmax, s.seqcache, s.seqcycle, "
    "(SELECT d.deptype FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid "
    " AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') LIMIT 1), "
    "(SELECT quote_ident(r.relname) || '.' || quote_ident(a.attname) FROM pg_depend d "
    " JOIN pg_class r ON r.oid = d.refobjid JOIN pg_attribute a ON a.attrelid = d.refobjid "
    " AND a.attnum = d.refobjsubid WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid "
    " AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') LIMIT 1) "
    f"FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid WHERE c.relnamespace = {NS} ORDER BY c.oid"
)
COLUMNS = (
    "SELECT quote_ident(c.relname), quote_ident(a.attname), format_type(a.atttypid, a.atttypmod), "
    "a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated, "
    "CASE WHEN a.attcollation <> t.typcollation THEN quote_ident(co.collname) END, quote_ident(s.relname) "
    "FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid JOIN pg_type t ON t.oid = a.atttypid "
    "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
    "LEFT JOIN pg_collation co ON co.oid = a.attcollation "
    "LEFT JOIN pg_depend dep ON dep.refclassid = 'pg_class'::regclass AND dep.refobjid = a.attrelid "
    "AND dep.refobjsubid = a.attnum AND dep.deptype = 'i' AND dep.classid = 'pg_class'::regclass "
    "LEFT JOIN pg_class s ON s.oid = dep.objid AND s.relkind = 'S' "
    f"WHERE c.relnamespace = {NS} AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped "
    "ORDER BY c.oid, a.attnum"
)
CONSTRAINTS = (
    "SELECT quote_ident(r.relname), quote_ident(co.conname), pg_get_constraintdef(co.oid), co.contype "
    f"FROM pg_constraint co JOIN pg_class r ON r.oid = co.conrelid WHERE r.relnamespace = {NS} "
    "AND co.contype IN ('p', 'u', 'c', 'x', 'f') ORDER BY co.contype = 'f', co.oid"
)
INDEXES = (
    "SELECT pg_get_indexdef(i.indexrelid), EXISTS (SELECT 1 FROM pg_constraint co WHERE "
    "co.conindid = i.indexrelid AND co.conrelid = i.indrelid AND co.contype IN ('p', 'u', 'x')) "
    f"FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = {NS} "
    "ORDER BY i.indexrelid"
)
VIEWS = (f"SELECT quote_ident(relname), pg_get_viewdef(oid) FROM pg_class WHERE relnamespace = {NS} "
         "AND relkind = 'v' ORDER BY oid")
TRIGGERS = ("SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            f"WHERE c.relnamespace = {NS} AND NOT t.tgisinternal ORDER BY t.oid")
COMMENTS = (
    "SELECT CASE c.relkind WHEN 'v' THEN 'VIEW ' WHEN 'S' THEN 'SEQUENCE ' WHEN 'i' THEN 'INDEX ' "
    "ELSE CASE WHEN d.objsubid = 0 THEN 'TABLE ' ELSE 'COLUMN ' END END || quote_ident(c.relname) || "
    "CASE WHEN d.objsubid = 0 THEN '' ELSE '.' || quote_ident(a.attname) END, quote_literal(d.description) "
    "FROM pg_description d JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass "
    "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid "
    f"WHERE c.relnamespace = {NS} ORDER BY c.oid, d.objsubid"
)


class DumpedGoldens:
    """The PostgreSQL backend's archive hooks (``BackendBase.export_frames``, ``restore_frames``, ``golden_names``)."""

    def golden_names(self):
        """Return the names of the golden databases on the server (one query)."""
        with self.admin.connect() as connection:
            return set(connection.exec_driver_sql(
                "SELECT datname FROM pg_database WHERE datname LIKE %(p)s", {"p": f"{PREFIX}\\_golden\\_%"}
            ).scalars())

    def export_frames(self, fingerprint):
        """Dump a clone of the golden (templates refuse connections): catalog DDL and COPY data."""
        clone = self.clone(fingerprint, "database")
        try:
            return dump_database(clone.url)
        except Unsupported as error:
            raise DbtestkitError(f"Golden {fingerprint[:12]} cannot be archived: {error}.") from error
        finally:
            clone.drop()

    def restore_frames(self, build, frames):
        """Run the archive's statements and COPY data in the new build, in one transaction."""
        return restore_database(build.url, frames)


class Unsupported(Exception):
    """The golden holds something this dumper cannot carry exactly."""


def dump_database(url):
    """Return ``(frames, digest)`` of the database at ``url``."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return dump_frames(connection), schema_digest(connection)
    finally:
        engine.dispose()


def restore_database(url, frames):
    """Load ``frames`` into the new, empty database at ``url`` in one transaction; return its digest."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            load_frames(connection, frames)
        with engine.connect() as connection:
            return schema_digest(connection)
    finally:
        engine.dispose()


def dump_frames(connection):
    """Return the archive frames of the database of ``connection``: DDL statements and COPY data."""
    for why, sql in UNSUPPORTED:
        found = [row[0] for row in connection.exec_driver_sql(sql)]
        if found:
            raise Unsupported(f"it holds {why} ({', '.join(map(str, found[:3]))}), which archives "
                              "do not carry")
    statements = [f"CREATE TYPE {name} AS ENUM ({labels})" for name, labels in connection.exec_driver_sql(ENUMS)]
    statements += [row[0] for row in connection.exec_driver_sql(FUNCTIONS)]
    sequences = connection.exec_driver_sql(SEQUENCES).all()
    options = {}
    late = []
    for name, kind, start, step, low, high, cache, cycle, dependency, owner in sequences:
        options[name] = (f"AS {kind} START WITH {start} INCREMENT BY {step} MINVALUE {low} "
                         f"MAXVALUE {high} CACHE {cache} {'CYCLE' if cycle else 'NO CYCLE'}")
        if dependency != "i":
            statements.append(f"CREATE SEQUENCE {name} {options[name]}")
            if dependency == "a":
                late.append(f"ALTER SEQUENCE {name} OWNED BY {owner}")
    tables = {}
    for table, *column in connection.exec_driver_sql(COLUMNS):
        tables.setdefault(table, []).append(_column(column, options))
    inline, foreign = {}, []
    # Keys and checks go inside CREATE TABLE (cheaper than ALTER TABLE, and few
    # rows to check); foreign keys after every table and row, so order never matters.
    for table, name, definition, kind in connection.exec_driver_sql(CONSTRAINTS):
        clause = f"CONSTRAINT {name} {definition}"
        if kind == "f":
            foreign.append(f"ALTER TABLE {table} ADD {clause}")
        else:
            inline.setdefault(table, []).append(clause)
    for table, columns in tables.items():
        body = ", ".join([sql for _, sql in columns] + inline.get(table, []))
        statements.append(f"CREATE TABLE {table} ({body})")
    frames = [_batch(statements)]
    for table, columns in tables.items():
        stored = ", ".join(name for name, sql in columns if " GENERATED ALWAYS AS (" not in sql)
        data = _copy_out(connection, f"COPY {table} ({stored}) TO STDOUT")
        if data:
            frames.append(frame("copy", f"COPY {table} ({stored}) FROM STDIN".encode()))
            frames.append(frame("data", data))
    statements = foreign + [sql for sql, backs in connection.exec_driver_sql(INDEXES) if not backs]
    statements += late
    for name, *_ in sequences:
        last, called = connection.exec_driver_sql(f"SELECT last_value, is_called FROM {name}").first()
        statements.append(f"SELECT setval('{name}', {last}, {'true' if called else 'false'})")
    statements += [f"CREATE VIEW {name} AS {definition}" for name, definition in connection.exec_driver_sql(VIEWS)]
    statements += [row[0] for row in connection.exec_driver_sql(TRIGGERS)]
    statements += [f"COMMENT ON {target} IS {text}" for target, text in connection.exec_driver_sql(COMMENTS)]
    frames.append(_batch(statements))
    return frames


def _batch(statements):
    # One round trip for many statements: the simple query protocol runs them in order.
    return frame("sql", "".join(f"{statement};\n" for statement in statements).encode("utf-8"))


def _column(column, sequence_options):
    name, kind, not_null, default, identity, generated, collation, sequence = column
    sql = f"{name} {kind}"
    if collation:
        sql += f" COLLATE {collation}"
    if generated == "s":
        sql += f" GENERATED ALWAYS AS ({default}) STORED"
    elif default is not None:
        sql += f" DEFAULT {default}"
    if not_null:
        sql += " NOT NULL"
    if identity:
        options = f"SEQUENCE NAME {sequence} {sequence_options[sequence]}" if sequence else ""
        sql += f" GENERATED {'ALWAYS' if identity == 'a' else 'BY DEFAULT'} AS IDENTITY ({options})"
    return name, sql


def load_frames(connection, frames):
    """Run archive frames on the (new, empty) database of ``connection``, in one transaction."""
    cursor = connection.connection.driver_connection.cursor()
    # Without parameters: the drivers then leave "%" in function bodies alone.
    cursor.execute("SET LOCAL check_function_bodies = false")
    copy = None
    for tag, data in frames:
        if tag == "sql":
            cursor.execute(data.decode("utf-8"))
        elif tag == "copy":
            copy = data.decode("utf-8")
        elif tag == "data":
            _copy_in(connection, copy, data)


def _copy_out(connection, sql):
    cursor = connection.connection.driver_connection.cursor()
    try:
        if hasattr(cursor, "copy"):  # psycopg 3
            with cursor.copy(sql) as copy:
                return b"".join(bytes(block) for block in copy)
        import io
        buffer = io.BytesIO()
        cursor.copy_expert(sql, buffer)  # psycopg2
        return buffer.getvalue()
    finally:
        cursor.close()


def _copy_in(connection, sql, data):
    cursor = connection.connection.driver_connection.cursor()
    try:
        if hasattr(cursor, "copy"):
            with cursor.copy(sql) as copy:
                copy.write(data)
        else:
            import io
            cursor.copy_expert(sql, io.BytesIO(data))
    finally:
        cursor.close()


def schema_digest(connection):
    """Return a digest of the schema, sequences and row counts, the same in every copy of a database.

    Rows are compared as sets (creation order differs in a copy), except
    that each table's columns keep their order.
    """
    rows = []
    for sql in (ENUMS, FUNCTIONS, SEQUENCES, CONSTRAINTS, INDEXES, VIEWS, TRIGGERS, COMMENTS):
        rows += [repr((sql[:40], *row)) for row in connection.exec_driver_sql(sql)]
    tables = {}
    for table, *column in connection.exec_driver_sql(COLUMNS):
        tables.setdefault(table, []).append(tuple(column))
    rows += [repr((table, columns)) for table, columns in tables.items()]
    names = connection.exec_driver_sql(
        f"SELECT quote_ident(relname), relkind FROM pg_class WHERE relnamespace = {NS} "
        "AND relkind IN ('r', 'S') ORDER BY relname").all()
    parts = [f"SELECT '{name}', count(*)::text FROM {name}" if kind == "r" else
             f"SELECT '{name}', last_value::text || is_called::text FROM {name}" for name, kind in names]
    if parts:
        rows += [repr(tuple(row)) for row in connection.exec_driver_sql(" UNION ALL ".join(parts))]
    return hashlib.sha256("\n".join(sorted(rows)).encode("utf-8")).hexdigest()
