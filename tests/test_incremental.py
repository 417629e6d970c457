"""Incremental goldens: a longer history grows from the golden of its prefix, exactly as a build from empty."""

import contextlib
import io
import shutil
import unittest

import dbtestkit
from dbtestkit.exceptions import MigrationError
from dbtestkit.migrations.graph import Node, Unsure, prefixes, read_node
from tests.backends import for_each_backend
from tests.backends.sides import run_sql
from tests.golden_snapshots import HISTORY, NEXT_REVISION, snapshot
from tests.support import golden_path, run_python, tamper, write_revision


def append(versions, revision, down_revision):
    """Write ``revision`` (a HISTORY-style tuple) into ``versions`` on top of ``down_revision``."""
    identifier, message, upgrade, downgrade = revision
    return write_revision(versions, identifier, message, upgrade, downgrade, down_revision)


class Growing:
    """A history of four revisions whose golden is built first; ``grown()`` builds the next one."""

    revisions = HISTORY

    def setUp(self):
        super().setUp()
        self.prefix = self.make_database().ensure_golden()
        self.assertIsNone(self.prefix.parent)

    def grown(self, **kwargs):
        database = self.make_database(**kwargs)
        return database, database.ensure_golden()


@for_each_backend()
class GrowingGoldens(Growing):
    """A golden of history + one revision grows from the golden of the history"""

    def test_an_appended_revision_grows_from_the_prefix_and_equals_a_build_from_empty(self):
        append(self.versions, NEXT_REVISION, "0004")
        database, golden = self.grown()
        self.assertTrue(golden.built)
        self.assertEqual(golden.parent, self.prefix.fingerprint)
        # The same history in another folder, with an env.py of another
        # fingerprint: no prefix golden exists for it, so it is built from empty.
        other = self.tmp / "other"
        shutil.copytree(self.tmp / "project", other)
        env_py = other / "migrations" / "env.py"
        env_py.write_text(env_py.read_text() + "# built from empty\n")
        empty_database, empty = self.grown(alembic_ini=other / "alembic.ini")
        self.assertIsNone(empty.parent)
        with database.clone() as grown_clone, empty_database.clone() as empty_clone:
            grown_view, empty_view = snapshot(grown_clone.url), snapshot(empty_clone.url)
        self.assertIn("review", grown_view)
        self.assertEqual(grown_view["alembic_version"]["rows"], ["('0005',)"])
        self.assertEqual(grown_view, empty_view)

    def test_editing_a_revision_of_the_prefix_builds_from_empty(self):
        edited = next(self.versions.glob("0002_*.py"))
        edited.write_text(edited.read_text() + "# edited in place\n")
        append(self.versions, NEXT_REVISION, "0004")
        self.assertIsNone(self.grown()[1].parent)

    def test_editing_env_py_builds_from_empty(self):
        env_py = self.versions.parent / "env.py"
        env_py.write_text(env_py.read_text() + "# edited\n")
        append(self.versions, NEXT_REVISION, "0004")
        self.assertIsNone(self.grown()[1].parent)

    def test_a_prefix_golden_its_record_does_not_vouch_for_is_not_grown_from(self):
        fingerprint = self.prefix.fingerprint
        if self.backend == "sqlite":
            tamper(golden_path(self.prefix), "INSERT INTO author (name) VALUES ('intruder')")
        elif self.backend == "postgresql":
            # Open to connections: no longer a golden nobody could have changed.
            run_sql(self.side.url, f'ALTER DATABASE "dbtk_golden_{fingerprint[:40]}" ALLOW_CONNECTIONS true')
        else:
            run_sql(self.side.url, f"UPDATE dbtk_golden_{fingerprint[:40]}.alembic_version "
                                   "SET version_num = '0003'")
        append(self.versions, NEXT_REVISION, "0004")
        with contextlib.redirect_stderr(io.StringIO()):
            self.assertIsNone(self.grown()[1].parent)

    def test_a_failing_new_revision_fails_the_build_naming_it(self):
        append(self.versions, ("0005", "broken", 'op.execute("UPDATE nowhere SET x = 1")', "pass"), "0004")
        with self.assertRaises(MigrationError) as caught:
            self.make_database().ensure_golden()
        self.assertEqual(caught.exception.revision, "0005")
        self.assertIn("0005_broken.py", str(caught.exception))


@for_each_backend("sqlite")
class GrowingAnywhere(Growing):
    """What does not depend on the backend: seeds, trust, merges, files not loaded"""

    def test_a_golden_with_seeds_is_built_from_empty(self):
        def seed(connection):
            connection.exec_driver_sql("INSERT INTO author (name) VALUES ('seeded')")

        self.make_database(seeds=[seed]).ensure_golden()
        append(self.versions, NEXT_REVISION, "0004")
        self.assertIsNone(self.grown(seeds=[seed])[1].parent)

    def test_the_files_of_revisions_already_in_the_prefix_are_not_executed(self):
        marker = self.tmp / "loaded"
        first = next(self.versions.glob("0001_*.py"))
        # A module-level side effect, as a revision that imports the app has.
        text = first.read_text() + f"\nopen({str(marker)!r}, 'a').close()\n"
        first.write_text(text)
        prefix = self.make_database().ensure_golden()
        marker.unlink()
        append(self.versions, NEXT_REVISION, "0004")
        golden = self.grown()[1]
        self.assertEqual(golden.parent, prefix.fingerprint)
        self.assertFalse(marker.exists())

    def test_dbtestkit_build_says_the_golden_grew_from_the_prefix(self):
        append(self.versions, NEXT_REVISION, "0004")
        env = {"DBTESTKIT_CACHE_DIR": str(self.cache_dir), "DBTESTKIT_ALEMBIC_INI": str(self.ini)}
        result = run_python(["-m", "dbtestkit", "build"], env=env)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(f"built from golden {self.prefix.fingerprint[:12]} (only the new revisions ran)",
                      result.stdout)
        self.assertIn(f"from={self.prefix.fingerprint[:16]}", (self.cache_dir / "builds.log").read_text())

    def test_a_merge_of_two_heads_grows_from_the_golden_holding_both(self):
        append(self.versions, ("0005", "branch a", 'op.execute("SELECT 1")', "pass"), "0004")
        append(self.versions, ("0006", "branch b", 'op.execute("SELECT 2")', "pass"), "0004")
        forked = self.make_database().ensure_golden()
        append(self.versions, ("0007", "merge", "pass", "pass"), ("0005", "0006"))
        self.assertEqual(self.grown()[1].parent, forked.fingerprint)

    def test_a_branch_off_an_older_revision_builds_from_empty(self):
        # After 0004 in every order, but not descending from it: 0004's golden must not grow.
        append(self.versions, ("0009", "off 0002", 'op.execute("SELECT 1")', "pass"), "0002")
        golden = self.grown()[1]
        self.assertIsNone(golden.parent)
        self.assertTrue(golden.built)


def node(revision, *parents):
    return Node(revision, parents, f"{revision}.py", {})


class RevisionGraphTests(unittest.TestCase):
    """The graph is read from source without importing, and prefixes are only the safe ones"""

    def test_ids_are_read_from_plain_annotated_and_multi_line_assignments(self):
        source = (b'"""doc"""\nfrom alembic import op\nrevision: str = "b2"\n'
                  b'down_revision = (\n    "a1",\n    "a2",\n)\ndepends_on = None\n'
                  b'def upgrade():\n    revision = "not this"\n')
        found = read_node(source, "b2.py")
        self.assertEqual((found.revision, found.parents), ("b2", ("a1", "a2")))

    def test_a_file_without_a_revision_is_not_a_node(self):
        self.assertIsNone(read_node(b"import os\nHELPER = 1\n", "helper.py"))

    def test_a_computed_revision_id_is_unsure(self):
        with self.assertRaises(Unsure):
            read_node(b'revision = "a" + "b"\ndown_revision = None\n', "ab.py")

    def test_a_linear_history_has_every_prefix_longest_first(self):
        found = prefixes([node("a"), node("b", "a"), node("c", "b")])
        self.assertEqual([([n.revision for n in kept], heads) for kept, heads in found],
                         [(["a", "b"], ("b",)), (["a"], ("a",))])

    def test_no_prefix_leaves_out_a_revision_that_does_not_descend_from_all_its_heads(self):
        # c branches off a while b is a head: no order puts all of {a, b} before c.
        found = prefixes([node("a"), node("b", "a"), node("c", "a")])
        self.assertEqual([heads for _, heads in found], [("a",)])

    def test_a_parent_outside_the_history_or_a_duplicate_id_is_unsure(self):
        with self.assertRaises(Unsure):
            prefixes([node("a"), node("b", "x")])
        with self.assertRaises(Unsure):
            prefixes([node("a"), node("a")])

