"""pyproject.toml ``[tool.dbtestkit]``: the same keys as setup.cfg ``[dbtestkit]``, found the same way."""

import textwrap
import unittest

import dbtestkit
from dbtestkit.config import find_config_file, resolve_settings
from tests.support import write_project
from tests.test_config import ConfigCase


class PyprojectCase(ConfigCase):

    def write_pyproject(self, body, folder=None):
        path = (folder or self.root) / "pyproject.toml"
        path.write_text('[project]\nname = "someproject"\n\n[tool.dbtestkit]\n' + textwrap.dedent(body))
        return path


class PyprojectSettingsTest(PyprojectCase):

    def test_every_key_is_read_and_paths_are_relative_to_pyproject(self):
        write_project(self.root / "app")
        self.write_pyproject('''\
            url = "sqlite:///from-toml.db"
            alembic_ini = "app/alembic.ini"
            cache_dir = ".cache"
            keep = true
            name = "tomlproject"
            sqlite_foreign_keys = false
        ''')
        deeper = self.root / "tests"
        deeper.mkdir()
        self.chdir(deeper)
        settings = resolve_settings()
        self.assertEqual(settings.url, "sqlite:///from-toml.db")
        self.assertEqual(settings.alembic_ini, str((self.root / "app" / "alembic.ini").resolve()))
        self.assertEqual(settings.cache_dir, (self.root / ".cache").resolve())
        self.assertIs(settings.keep, True)
        self.assertEqual(settings.name, "tomlproject")
        self.assertIs(settings.sqlite_foreign_keys, False)
        self.assertEqual(settings.origin("url"), f"url in {(self.root / 'pyproject.toml').resolve()} "
                                                 "[tool.dbtestkit]")

    def test_yes_no_settings_may_be_words_too(self):
        self.write_pyproject('keep = "yes"\nsqlite_foreign_keys = "off"\n')
        settings = resolve_settings()
        self.assertEqual((settings.keep, settings.sqlite_foreign_keys), (True, False))

    def test_environment_beats_pyproject(self):
        self.setenv("DBTESTKIT_URL", "sqlite:///from-env.db")
        self.write_pyproject('url = "sqlite:///from-toml.db"\n')
        self.assertEqual(self.database().settings.url, "sqlite:///from-env.db")

    def test_found_upwards_from_the_test_module_s_folder(self):
        project = self.tmp / "elsewhere"
        (project / "tests").mkdir(parents=True)
        toml = self.write_pyproject('url = "sqlite:///near-the-tests.db"\n', folder=project)
        self.assertEqual(find_config_file(project / "tests"), toml.resolve())
        settings = resolve_settings(search_from=project / "tests")
        self.assertEqual(settings.url, "sqlite:///near-the-tests.db")

    def test_a_database_test_case_without_database_uses_pyproject(self):
        ini = write_project(self.root / "app")
        self.write_pyproject('alembic_ini = "app/alembic.ini"\n')
        database = dbtestkit.TestDatabase(cache_dir=self.cache_dir)
        self.assertEqual(database.source.project.ini_path, ini.resolve())

    def test_pyproject_without_the_table_is_ignored_even_when_it_is_not_valid_toml(self):
        (self.root / "pyproject.toml").write_text("[project\nname = broken\n")
        self.assertIsNone(find_config_file())
        self.assertEqual(self.database().settings.url, "sqlite://")


class BothFilesTest(PyprojectCase):
    """The nearest folder with either file wins; one folder with both is an error."""

    def test_both_in_one_folder_is_a_configuration_error_naming_both(self):
        cfg = self.write_setup_cfg("url = sqlite:///from-cfg.db\n")
        toml = self.write_pyproject('url = "sqlite:///from-toml.db"\n')
        with self.assertRaises(dbtestkit.ConfigurationError) as caught:
            self.database()
        message = str(caught.exception)
        self.assertIn(f"{cfg.resolve()} [dbtestkit]", message)
        self.assertIn(f"{toml.resolve()} [tool.dbtestkit]", message)
        self.assertIn("Keep one", message)

    def test_the_nearer_file_wins_whichever_kind_it_is(self):
        deeper = self.root / "pkg"
        deeper.mkdir()
        self.write_pyproject('url = "sqlite:///outer-toml.db"\n')
        self.write_setup_cfg("url = sqlite:///inner-cfg.db\n", folder=deeper)
        self.assertEqual(resolve_settings(search_from=deeper).url, "sqlite:///inner-cfg.db")
        self.assertEqual(resolve_settings().url, "sqlite:///outer-toml.db")
        (deeper / "setup.cfg").unlink()
        self.write_setup_cfg("url = sqlite:///outer-cfg.db\n")
        (self.root / "pyproject.toml").unlink()
        self.write_pyproject('url = "sqlite:///inner-toml.db"\n', folder=deeper)
        self.assertEqual(resolve_settings(search_from=deeper).url, "sqlite:///inner-toml.db")

    def test_a_setup_cfg_without_our_section_beside_pyproject_is_no_conflict(self):
        (self.root / "setup.cfg").write_text("[metadata]\nname = x\n")
        self.write_pyproject('url = "sqlite:///from-toml.db"\n')
        self.assertEqual(resolve_settings().url, "sqlite:///from-toml.db")


class PyprojectErrorsTest(PyprojectCase):

    def assert_configuration_error(self, *fragments):
        with self.assertRaises(dbtestkit.ConfigurationError) as caught:
            self.database()
        for fragment in fragments:
            self.assertIn(fragment, str(caught.exception))

    def test_unknown_key_names_the_table_and_the_valid_keys(self):
        self.write_pyproject('alembic-ini = "alembic.ini"\n')
        self.assert_configuration_error("[tool.dbtestkit] has unknown keys ['alembic-ini']",
                                        "'sqlite_foreign_keys'")

    def test_broken_toml_that_configures_dbtestkit_names_the_file(self):
        path = self.write_pyproject('url = "unterminated\n')
        self.assert_configuration_error(f"Cannot read {path.resolve()}", "Fix the file's TOML syntax")

    def test_a_value_that_is_not_a_string_says_to_quote_it(self):
        self.write_pyproject("name = 12\n")
        self.assert_configuration_error("[tool.dbtestkit] name = 12", "as a string in quotes")

    def test_a_file_that_is_not_utf8_says_so(self):
        path = self.root / "pyproject.toml"
        path.write_bytes(b'[tool.dbtestkit]\nname = "caf\xe9"\n')
        self.assert_configuration_error("is not UTF-8 text: byte 0xe9 on line 2")


if __name__ == "__main__":
    unittest.main()
