"""Where the ``dbtestkit`` command finds its project: pyproject.toml, or the alembic.ini beside it."""

import unittest

from tests import support
from tests.test_cli import CliCase


class CommandConfigurationTest(CliCase):

    def run_in(self, folder, *args):
        return support.run_python(["-m", "dbtestkit", *args], cwd=folder, env=self.child_env())

    def test_status_next_to_alembic_ini_without_any_configuration_uses_it(self):
        project = self.ini.parent
        result = self.run_in(project, "--cache-dir", str(self.cache_dir), "status")
        self.assert_exit(result, 0)
        self.assertIn(f"fingerprint {self.current_fingerprint()}", result.stdout)
        self.assertIn("golden      missing", result.stdout)
        self.assert_exit(self.run_in(project, "--cache-dir", str(self.cache_dir), "build"), 0)
        self.assertIn("golden      ready", self.run_in(project, "--cache-dir", str(self.cache_dir),
                                                        "status").stdout)

    def test_configuration_beats_the_alembic_ini_beside_it(self):
        project = self.ini.parent
        (project / "pyproject.toml").write_text('[tool.dbtestkit]\nalembic_ini = "nowhere/alembic.ini"\n')
        result = self.run_in(project, "--cache-dir", str(self.cache_dir), "status")
        self.assert_exit(result, 2)
        self.assertIn("nowhere", result.stderr)
        self.assertIn("[tool.dbtestkit]", result.stderr)

    def test_status_reads_pyproject_toml(self):
        (self.tmp / "pyproject.toml").write_text(
            f'[tool.dbtestkit]\nalembic_ini = "project/alembic.ini"\ncache_dir = "{self.cache_dir}"\n'
        )
        result = self.run_in(self.tmp, "status")
        self.assert_exit(result, 0)
        self.assertIn(f"fingerprint {self.current_fingerprint()}", result.stdout)


if __name__ == "__main__":
    unittest.main()
