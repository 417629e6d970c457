"""Schema snapshots of a database and readable differences between them (for the migration checks)."""

import contextlib
import fnmatch
from dataclasses import dataclass

from sqlalchemy import inspect


def flatten_diffs(diffs):
    """Yield autogenerate differences one by one, unpacking grouped column changes."""
    for item in diffs:
        # Column modifications come as lists of tuples, one per changed attribute.
        if isinstance(item, list):
            yield from item
        else:
            yield item


def describe_diff(item, dialect):
    """Render one autogenerate difference as a line, e.g. ``remove_column authors.legacy_id``."""
    kind = item[0]
    if kind in ("add_table", "remove_table"):
        return f"{kind} {item[1].fullname}"
    if kind in ("add_column", "remove_column"):
        column = item[3]
        null = "NULL" if column.nullable else "NOT NULL"
        column_type = _type_text(column.type, dialect)
        return f"{kind} {_qualified(item[1], item[2])}.{column.name} {column_type} {null}"
    if kind in ("add_index", "remove_index"):
        index = item[1]
        unique = " UNIQUE" if index.unique else ""
        columns = ", ".join(getattr(c, "name", str(c)) for c in index.expressions)
        return f"{kind} {index.name} ON {index.table.fullname} ({columns}){unique}"
    if kind in ("add_fk", "remove_fk"):
        fk = item[1]
        target = fk.elements[0].target_fullname.rsplit(".", 1)[0] if fk.elements else "?"
        referred = ", ".join(e.target_fullname.rsplit(".", 1)[1] for e in fk.elements)
        return (f"{kind} {fk.name or '(unnamed)'} ON {fk.parent.fullname} "
                f"({', '.join(fk.column_keys)}) -> {target} ({referred})")
    if kind in ("add_constraint", "remove_constraint"):
        constraint = item[1]
        columns = ", ".join(c.name for c in constraint.columns)
        return (f"{kind} {type(constraint).__name__} {constraint.name or '(unnamed)'} "
                f"ON {constraint.table.fullname} ({columns})")
    if kind.startswith("modify_"):
        _, schema, table, column, _existing, old, new = item
        if kind == "modify_type":
            old, new = _type_text(old, dialect), _type_text(new, dialect)
        else:
            old, new = _text(old), _text(new)
        return f"{kind} {_qualified(schema, table)}.{column}: {old} -> {new}"
    return " ".join(str(part) for part in item)


def _qualified(schema, name):
    return f"{schema}.{name}" if schema else name


def _text(value):
    arg = getattr(value, "arg", value)
    return str(getattr(arg, "text", arg))


def _type_text(type_, dialect):
    try:
        return str(type_.compile(dialect=dialect))
    except Exception:
        return repr(type_)


# -- schema snapshots ----------------------------------------------------------------------------


@dataclass
class Snapshot:
    """A database schema as comparable plain data.

    ``digests``: table -> text that changes when the table changes (None: no
    such text, the shape is always read); ``shapes``: table -> its items, for
    the tables read so far; ``others``: (kind, name) -> definition.
    """

    digests: dict
    shapes: dict
    others: dict


class Rewalk(Exception):
    """A lazily read snapshot lacks a shape it needs: walk again, reading every shape."""


class SchemaReader:
    """Reads schemas as snapshots; a table is reflected again only when its definition changed."""

    def __init__(self, dialect, backend, always_ignored, ignore_tables):
        self.dialect = dialect
        # The backend's query that digests the schema in one round trip, if it has one.
        self.exact, self.digest_sql = backend.schema_digests_exact, backend.schema_digest_sql
        self._always = set(always_ignored)
        self._patterns = tuple(ignore_tables or ())
        self._shapes = {}

    def ignored(self, name):
        """Tell whether table ``name`` is left out of every comparison."""
        return name in self._always or any(fnmatch.fnmatchcase(name, p) for p in self._patterns)

    def snapshot(self, connection, lazy=False):
        """Return the schema of ``connection``'s default schema.

        ``lazy`` (only honoured where digests are exact) reads no table shape;
        ``reflect`` reads them later, while the database still holds them.
        """
        if self.digest_sql is None:
            inspector = inspect(connection)
            digests = {n: None for n in inspector.get_table_names() if not self.ignored(n)}
            others = _reflect_others(inspector, self.ignored)
        else:
            digests, others = {}, {}
            for kind, name, text in connection.exec_driver_sql(self.digest_sql):
                if self.ignored(name):
                    continue
                if kind == "table":
                    digests[name] = text
                else:
                    others[(kind, name)] = _squash(text)
        snapshot = Snapshot(digests, {}, others)
        for name, digest in digests.items():
            if (name, digest) in self._shapes:
                snapshot.shapes[name] = self._shapes[(name, digest)]
        if not (lazy and self.exact):
            self.reflect(connection, snapshot, digests)
        return snapshot

    def reflect(self, connection, snapshot, names):
        """Read the shapes of tables ``names`` into ``snapshot`` (the database must still match it)."""
        missing = [name for name in names if name not in snapshot.shapes]
        if not missing:
            return
        for name, shape in _reflect_tables(inspect(connection), missing, self.dialect).items():
            snapshot.shapes[name] = shape
            digest = snapshot.digests.get(name)
            if digest is not None:
                self._shapes[(name, digest)] = shape


def _reflect_tables(inspector, names, dialect):
    def multi(method):
        try:
            found = getattr(inspector, method)(filter_names=names)
        except NotImplementedError:
            return {}
        return {key[1]: value for key, value in found.items()}

    columns, pks = multi("get_multi_columns"), multi("get_multi_pk_constraint")
    fks, indexes = multi("get_multi_foreign_keys"), multi("get_multi_indexes")
    uniques, checks = multi("get_multi_unique_constraints"), multi("get_multi_check_constraints")
    shapes = {}
    for name in names:
        items = {}
        for column in columns.get(name, ()):
            computed = (column.get("computed") or {}).get("sqltext")
            items[("column", column["name"])] = " ".join(filter(None, [
                _type_text(column["type"], dialect), "NULL" if column["nullable"] else "NOT NULL",
                f"DEFAULT {_squash(column.get('default'))}" if column.get("default") is not None else "",
                f"GENERATED AS ({_squash(computed)})" if computed is not None else "",
            ]))
        pk = pks.get(name) or {}
        if pk.get("constrained_columns"):
            items[("primary key", pk.get("name") or "")] = f"({', '.join(pk['constrained_columns'])})"
        for fk in fks.get(name, ()):
            text = (f"({', '.join(fk['constrained_columns'])}) -> {fk['referred_table']} "
                    f"({', '.join(fk['referred_columns'])})")
            options = " ".join(f"{k}={v}" for k, v in sorted((fk.get("options") or {}).items()))
            items[("foreign key", fk.get("name") or text)] = f"{text} {options}".strip()
        for index in indexes.get(name, ()):
            column_names = index.get("column_names") or []
            expressions = index.get("expressions") or column_names
            parts = [c if c is not None else e for c, e in zip(column_names, expressions)] or expressions
            items[("index", index.get("name") or "")] = (
                f"({', '.join(map(str, parts))}){' UNIQUE' if index.get('unique') else ''}")
        for unique in uniques.get(name, ()):
            text = f"({', '.join(unique['column_names'])})"
            items[("unique constraint", unique.get("name") or text)] = text
        for check in checks.get(name, ()):
            text = _squash(check.get("sqltext"))
            items[("check constraint", check.get("name") or text)] = text
        shapes[name] = items
    return shapes


def _reflect_others(inspector, ignored):
    others = {}
    for kind, method in (("view", "get_view_names"), ("sequence", "get_sequence_names")):
        try:
            names = getattr(inspector, method)()
        except NotImplementedError:
            continue
        for name in names:
            if ignored(name):
                continue
            definition = ""
            if kind == "view":
                with contextlib.suppress(NotImplementedError):
                    definition = _squash(inspector.get_view_definition(name))
            others[(kind, name)] = definition
    return others


def _squash(text):
    return " ".join(str(text).split()) if text is not None else ""


def changed_tables(before, after):
    """Return the tables in both snapshots whose definition may differ."""
    return [name for name in before.digests if name in after.digests
            and (before.digests[name] is None or before.digests[name] != after.digests[name])]


def diff_snapshots(before, after):
    """Return readable lines: ``+`` only in ``after``, ``-`` only in ``before``, ``~`` changed.

    Both snapshots must hold the shapes of ``changed_tables(before, after)``.
    """
    lines = []
    for name in sorted(set(before.digests) | set(after.digests)):
        if name not in after.digests:
            lines.append(f"- table {name} (missing)")
        elif name not in before.digests:
            lines.append(f"+ table {name} (left behind)")
        elif before.digests[name] is None or before.digests[name] != after.digests[name]:
            lines += _diff_items(before.shapes[name], after.shapes[name], f"{name}.")
    lines += _diff_items(before.others, after.others, "")
    return lines


def _diff_items(before, after, prefix):
    lines = []
    for key in sorted(set(before) | set(after)):
        kind, name = key
        label = f"{kind} {prefix}{name}" if name else f"{kind} of {prefix.rstrip('.')}"
        if key not in after:
            lines.append(f"- {label} {before[key]}".rstrip())
        elif key not in before:
            lines.append(f"+ {label} {after[key]}".rstrip())
        elif before[key] != after[key]:
            lines.append(f"~ {label}: {before[key]} -> {after[key]}")
    return lines
