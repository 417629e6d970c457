"""README.rst renders without warnings, and its settings table names every setting the library reads."""

import importlib.util
import re
import unittest

from dbtestkit.config import ENV_PREFIX, SETTING_NAMES
from tests.support import REPO, skip_or_fail

README = REPO / "README.rst"


def variables_in_source():
    """Return every ``DBTESTKIT_*`` name the package's source spells out, plus those made from setting names."""
    found = {ENV_PREFIX + key.upper() for key in SETTING_NAMES}
    for path in (REPO / "dbtestkit").rglob("*.py"):
        found.update(re.findall(r"\bDBTESTKIT_[A-Z][A-Z0-9_]*", path.read_text(encoding="utf-8")))
    return found


class ReadmeTest(unittest.TestCase):

    def setUp(self):
        if importlib.util.find_spec("docutils") is None:
            skip_or_fail(self, "tool:docutils", "docutils is not installed (pip install -e .[test])")

    def doctree(self, text):
        from docutils.core import publish_doctree

        # Warnings are errors: docutils renders some broken markup as something else.
        return publish_doctree(text, source_path=str(README), settings_overrides={
            "halt_level": 2, "report_level": 5, "warning_stream": False,
        })

    def settings_table_text(self, text):
        """Return the words of the table whose header names the environment variables."""
        from docutils import nodes

        for table in self.doctree(text).findall(nodes.table):
            header = table.next_node(nodes.thead)
            if header is not None and "environment variable" in header.astext():
                return table.astext()
        self.fail("README.rst has no settings table (a table whose header says 'environment variable')")

    def test_readme_renders_without_warnings(self):
        self.doctree(README.read_text(encoding="utf-8"))

    def test_settings_table_names_every_key_and_variable_the_library_reads(self):
        table = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", self.settings_table_text(
            README.read_text(encoding="utf-8"))))
        missing = sorted((set(SETTING_NAMES) | variables_in_source()) - table)
        self.assertEqual(missing, [], "README.rst's settings table does not name these settings")


if __name__ == "__main__":
    unittest.main()
