"""The house keeps its shape: no import runs up a layer, no cycles, framework imports where they belong."""

import ast
import unittest
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "dbtestkit"
# Top layer first; a module belongs to the layer of its longest matching prefix.
LAYERS = [
    ("faces", ["dbtestkit", "dbtestkit.__main__", "dbtestkit.cli", "dbtestkit.layers",
               "dbtestkit.testcases", "dbtestkit.pytest_plugin"]),
    ("checks", ["dbtestkit.migration_checks"]),
    ("facade", ["dbtestkit.database"]),
    ("isolation", ["dbtestkit.isolation", "dbtestkit.async_isolation"]),
    ("golden", ["dbtestkit.golden"]),
    ("migrations", ["dbtestkit.migrations"]),
    ("backends", ["dbtestkit.backends"]),
    ("ground", ["dbtestkit.config", "dbtestkit.event_loops", "dbtestkit.process_state",
                "dbtestkit.report",
                "dbtestkit.exceptions", "dbtestkit.version"]),
]
MAX_LINES = 400


def layer_rank(module):
    """Return the rank (0 = top) of the layer ``module`` belongs to."""
    best = None
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (
                    best is None or len(prefix) > len(best[1])):
                best = (rank, prefix)
    if best is None:
        raise AssertionError(f"{module} is in no layer of tests/test_layers.py: place it")
    return best[0]


def modules():
    """Return {module name: path} for every module of the package."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(path, known):
    """Yield every module of ``known`` that the file at ``path`` imports, anywhere in it."""
    text = path.read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(text, str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        yield from (name for name in names if name in known)
    # Lazy imports by name (the backend table, the unittest classes).
    yield from (name for name in known if name.count(".") and f'"{name}"' in text)


def top_level_imports(path):
    """Return the first component of every module ``path`` imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


class LayersTest(unittest.TestCase):
    def setUp(self):
        self.modules = modules()
        self.edges = {name: set(imports(path, self.modules)) - {name}
                      for name, path in self.modules.items()}

    def test_no_import_runs_up_a_layer(self):
        upward = [f"{a} -> {b}" for a, targets in sorted(self.edges.items()) for b in sorted(targets)
                  if layer_rank(b) < layer_rank(a)]
        self.assertEqual(upward, [])

    def test_no_import_cycles(self):
        def reaches(start, goal, seen):
            for nxt in self.edges[start]:
                if nxt == goal or (nxt not in seen and not seen.add(nxt) and reaches(nxt, goal, seen)):
                    return True
            return False

        cycles = [name for name in sorted(self.modules) if reaches(name, name, set())]
        self.assertEqual(cycles, [])

    def test_frameworks_are_imported_only_where_they_belong(self):
        allowed = {
            "unittest": ("dbtestkit.testcases",),
            "pytest": ("dbtestkit.pytest_plugin",),
            "alembic": ("dbtestkit.migrations.driver",),
        }
        misplaced = [
            f"{name} imports {framework}"
            for name, path in sorted(self.modules.items())
            for framework in sorted(top_level_imports(path) & set(allowed))
            if not any(name == p or name.startswith(p + ".") for p in allowed[framework])
        ]
        self.assertEqual(misplaced, [])

    def test_no_module_over_the_limit(self):
        long = {name: n for name, path in self.modules.items()
                if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
        self.assertEqual(long, {})

    def test_the_check_sees_an_upward_import(self):
        # The test above must be able to fail: the facade importing the unittest layer is upward.
        self.assertLess(layer_rank("dbtestkit.testcases.savepoint"), layer_rank("dbtestkit.database"))


if __name__ == "__main__":
    unittest.main()
