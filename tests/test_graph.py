"""The revision graph read from the files: heads without Alembic, or None when the files do not say."""

import json
import unittest

from dbtestkit.migrations.graph import heads
from dbtestkit.migrations.project import AlembicProject
from tests import support
from tests.support import TempProjectCase, write_revision


class Heads(TempProjectCase):
    def heads(self):
        return heads(AlembicProject(self.ini))

    def test_the_default_history_has_its_last_revision_as_only_head(self):
        self.assertEqual(self.heads(), [support.DEFAULT_REVISIONS[-1][0]])

    def test_a_second_child_of_one_parent_is_a_second_head(self):
        write_revision(self.versions, "0099", "branch", "pass", down_revision="0002")
        self.assertEqual(self.heads(), ["0004", "0099"])

    def test_a_merge_revision_joins_heads(self):
        write_revision(self.versions, "0099", "branch", "pass", down_revision="0002")
        write_revision(self.versions, "0100", "merge", "pass", down_revision=("0004", "0099"))
        self.assertEqual(self.heads(), ["0100"])

    def test_annotated_assignments_as_newer_templates_write_them(self):
        path = write_revision(self.versions, "0099", "typed", "pass", down_revision="0004")
        text = path.read_text().replace('revision = "0099"', 'revision: str = "0099"')
        path.write_text(text.replace("down_revision = '0004'", "down_revision: str = '0004'"))
        self.assertEqual(self.heads(), ["0099"])

    def test_an_id_spread_over_lines_and_one_quoted_in_a_docstring(self):
        path = write_revision(self.versions, "0099", "spread", "pass", down_revision="0004")
        text = path.read_text().replace("down_revision = '0004'", "down_revision = (\n    '0004',\n)")
        path.write_text('"""Was:\nrevision = "0042"\n"""\n' + text.split('"""', 2)[2])
        self.assertEqual(self.heads(), ["0099"])

    def test_ids_that_are_not_literals_leave_the_graph_unknown(self):
        path = write_revision(self.versions, "0099", "computed", "pass", down_revision="0004")
        path.write_text(path.read_text().replace('revision = "0099"', 'revision = "00" + "99"'))
        self.assertIsNone(self.heads())

    def test_a_parent_no_file_defines_leaves_the_graph_unknown(self):
        write_revision(self.versions, "0099", "orphan", "pass", down_revision="0042")
        self.assertIsNone(self.heads())

    def test_a_repeated_id_leaves_the_graph_unknown(self):
        write_revision(self.versions, "0004", "again", "pass", down_revision="0003")
        self.assertIsNone(self.heads())


class SingleHeadCheckWithoutAlembic(TempProjectCase):
    def test_the_check_passes_without_importing_alembic_or_the_revisions(self):
        code = (
            "import json, sys\n"
            "import dbtestkit\n"
            "from dbtestkit.migration_checks import MigrationRunner, run_check\n"
            f"database = dbtestkit.TestDatabase(alembic_ini={str(self.ini)!r}, "
            f"cache_dir={str(self.cache_dir)!r})\n"
            "run_check('single_head_revision', MigrationRunner(database))\n"
            "print(json.dumps(['alembic' in sys.modules, database.backend.list_goldens and "
            "len(list(database.backend.list_goldens()))]))\n"
        )
        output = support.run_python(code)
        self.assertEqual(json.loads(output.stdout.strip().splitlines()[-1]), [False, 0])


if __name__ == "__main__":
    unittest.main()
