"""The revision graph of an Alembic project, read from its files without Alembic or importing them.

A revision file says ``revision = "..."`` and ``down_revision = ...`` as
literals; reading those with ``ast`` costs a fraction of loading the
history (which imports Alembic and runs every revision module). When a
file says them any other way, the graph is unknown (None) and callers load
the history instead.
"""

import ast
import re


def heads(project):
    """Return the sorted head revision ids of ``project`` (an ``AlembicProject``), None when unknown.

    Unknown means some revision file does not state its ids as literals, or
    the graph is one Alembic would refuse (a repeated id, a parent no file
    defines): the loaded history then gives the answer, and its message.
    """
    if project.options.get("sourceless", "").lower() in ("true", "1", "yes", "on"):
        return None  # revisions may be .pyc files only, which are not read here
    parents = {}
    for label, path in project.source_files():
        if label == "env.py" or label.rsplit("/", 1)[-1] == "__init__.py":
            continue  # Alembic does not read these as revisions either
        ids = _ids(path)
        if ids is None or ids[0] in parents:
            return None
        parents[ids[0]] = ids[1]
    referenced = {parent for down in parents.values() for parent in down}
    if not referenced <= parents.keys():
        return None
    return sorted(parents.keys() - referenced)


# A module-level assignment of one of the ids, at the start of a line.
_ASSIGNMENT = re.compile(rb"^(?:revision|down_revision)\b[ \t]*(?::[^=\n]*)?=", re.MULTILINE)
_QUOTES = (b'"""', b"'''")


def _assignments(data):
    """Return just the statements assigning the ids (parsing them alone is ~30x faster), or None."""
    statements = []
    for match in _ASSIGNMENT.finditer(data):
        before = data[:match.start()]
        if sum(before.count(quote) for quote in _QUOTES) % 2:
            return None  # maybe inside a triple-quoted string: let the whole file be parsed
        lines = data[match.start():].split(b"\n", 20)
        for end in range(1, len(lines) + 1):
            statement = b"\n".join(lines[:end])
            try:
                ast.parse(statement)
            except SyntaxError:
                continue
            statements.append(statement)
            break
        else:
            return None
    return b"\n".join(statements) if len(statements) >= 2 else None


def _ids(path):
    """Return ``(revision, (down revisions…))`` stated as literals in the file at ``path``, else None."""
    try:
        with open(path, "rb") as source:
            data = source.read()
        tree = ast.parse(_assignments(data) or data, filename=path)
    except (OSError, SyntaxError, ValueError):
        return None
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
            try:
                found[target.id] = ast.literal_eval(value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                return None
    revision, down = found.get("revision"), found.get("down_revision", ())
    if not isinstance(revision, str) or "down_revision" not in found:
        return None
    down = () if down is None else (down,) if isinstance(down, str) else down
    if not isinstance(down, (tuple, list)) or not all(isinstance(d, str) for d in down):
        return None
    return revision, tuple(down)
