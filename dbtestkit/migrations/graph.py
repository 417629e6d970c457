"""The revision graph of a history read from the files' source with ``ast``, never by importing them.

Incremental goldens need to know which revision files form an earlier,
complete state of the history (a *prefix*) without loading the revisions,
which often import the application.
"""

import ast
import heapq
import re
from typing import NamedTuple

# Module-level names that make the graph; everything else of a file is ignored.
GRAPH_NAMES = ("revision", "down_revision", "depends_on", "branch_labels")
# Where such a statement starts: the name at column 0, then "=" or an annotation.
STATEMENT_START = re.compile(rb"^(revision|down_revision|depends_on|branch_labels)\s*[:=]",
                             re.MULTILINE)


class Unsure(Exception):
    """The graph cannot be read with certainty from the source: build from empty instead."""


class Node(NamedTuple):
    """One revision file: its id, the ids it revises and depends on, as written in it."""

    revision: str
    parents: tuple  # down_revision and depends_on ids together
    path: str
    # The literal values, for Alembic to see without loading the file.
    values: dict


def read_node(source, path):
    """Return the ``Node`` of a revision file's bytes, None when the file is not a revision.

    Only the module-level assignments of ``revision``, ``down_revision`` and
    ``depends_on`` are parsed (a few lines, not the whole file); values must
    be literals. Anything else (a computed id) raises ``Unsure``.
    """
    values = {}
    for match in STATEMENT_START.finditer(source):
        statement = _statement_at(source, match.start())
        try:
            tree = ast.parse(statement)
        except SyntaxError:
            tree = _parse_whole(source, path)  # a statement this cut missed
        for node in tree.body:
            _collect(node, values)
    if "revision" not in values:
        return None
    revision = values["revision"]
    if not isinstance(revision, str):
        raise Unsure(f"{path}: revision is not a string literal")
    parents = _ids(values.get("down_revision"), path) + _ids(values.get("depends_on"), path)
    return Node(revision, parents, path, values)


def _parse_whole(source, path):
    try:
        return ast.parse(source)
    except SyntaxError as error:
        # The build from empty reports it properly, naming the file and line.
        raise Unsure(f"{path} does not parse") from error


def _statement_at(source, start):
    # A statement ends at the first line break outside brackets; tuples of ids may span lines.
    depth, index = 0, start
    while index < len(source):
        char = source[index:index + 1]
        if char in b"([{":
            depth += 1
        elif char in b")]}":
            depth -= 1
        elif char == b"\n" and depth <= 0:
            break
        index += 1
    return source[start:index]


def _collect(node, values):
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target, value = node.targets[0], node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        target, value = node.target, node.value
    else:
        return
    if isinstance(target, ast.Name) and target.id in GRAPH_NAMES:
        try:
            values[target.id] = ast.literal_eval(value)
        except ValueError as error:
            raise Unsure(f"{target.id} is not a literal") from error


def _ids(value, path):
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (tuple, list)) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise Unsure(f"{path}: cannot read revision ids from {value!r}")


def prefixes(nodes):
    """Return ``(nodes, heads)`` of the prefixes a golden can be extended from, longest first.

    ``nodes`` are every revision of the history. A prefix qualifies when
    every revision outside it descends from every head of it: then any
    upgrade order Alembic picks runs the whole prefix first, and building
    on a golden of the prefix runs exactly what a build from empty would
    run after it. Anything unusual (duplicate ids, a parent that is not in
    the history, a cycle) raises ``Unsure``.
    """
    by_id = {}
    for node in nodes:
        if node.revision in by_id:
            raise Unsure(f"revision {node.revision} is in two files")
        by_id[node.revision] = node
    for node in nodes:
        for parent in node.parents:
            if parent not in by_id:
                raise Unsure(f"{node.path}: revises {parent}, which no file defines")
    order = _topological(by_id)
    ancestors = {}
    for revision in order:
        found = set()
        for parent in by_id[revision].parents:
            found.add(parent)
            found |= ancestors[parent]
        ancestors[revision] = found
    found = []
    for size in range(len(order) - 1, 0, -1):
        kept = set(order[:size])
        heads = kept - {p for r in kept for p in by_id[r].parents}
        if all(heads <= ancestors[r] for r in order[size:]):
            found.append(([by_id[r] for r in order[:size]], tuple(sorted(heads))))
    return found


def _topological(by_id):
    children = {revision: [] for revision in by_id}
    waiting = {revision: len(set(node.parents)) for revision, node in by_id.items()}
    for revision, node in by_id.items():
        for parent in set(node.parents):
            children[parent].append(revision)
    ready = sorted(r for r, count in waiting.items() if count == 0)
    order = []
    while ready:
        revision = heapq.heappop(ready)
        order.append(revision)
        for child in children[revision]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, child)
    if len(order) != len(by_id):
        raise Unsure("the revisions form a cycle")
    return order


def heads(project):
    """Return the sorted head revision ids of ``project`` (an ``AlembicProject``), None when unknown.

    Unknown means some revision file does not state its ids as literals, or
    the graph is one Alembic would refuse (a repeated id, a parent no file
    defines): the loaded history then gives the answer, and its message.
    """
    if project.options.get("sourceless", "").lower() in ("true", "1", "yes", "on"):
        return None  # revisions may be .pyc files only, which are not read here
    parents = {}
    try:
        for label, path in project.source_files():
            if label == "env.py" or label.rsplit("/", 1)[-1] == "__init__.py":
                continue  # Alembic does not read these as revisions either
            with open(path, "rb") as source:
                node = read_node(source.read(), path)
            if node is None or "down_revision" not in node.values or node.revision in parents:
                return None
            parents[node.revision] = _ids(node.values["down_revision"], path)
    except (OSError, Unsure):
        return None
    referenced = {parent for down in parents.values() for parent in down}
    if not referenced <= parents.keys():
        return None
    return sorted(parents.keys() - referenced)
