"""Settings: keyword > DBTESTKIT_* environment > setup.cfg [dbtestkit] > default."""

import os
import stat
import textwrap
import unittest
from pathlib import Path

import dbtestkit
from dbtestkit.config import default_cache_dir, find_setup_cfg, resolve_settings
from tests import support
from tests.support import TempProjectCase, write_project


class ConfigCase(TempProjectCase):
    """A project case run from a folder (``self.root``) that may hold a setup.cfg."""

    def setUp(self):
        super().setUp()
        self.root = self.tmp / "root"
        self.root.mkdir()
        self.chdir(self.root)

    def chdir(self, path):
        previous = os.getcwd()
        os.chdir(path)
        self.addCleanup(os.chdir, previous)

    def setenv(self, name, value):
        missing = object()
        previous = os.environ.get(name, missing)
        os.environ[name] = value
        if previous is missing:
            self.addCleanup(os.environ.pop, name, None)
        else:
            self.addCleanup(os.environ.__setitem__, name, previous)

    def write_setup_cfg(self, body, folder=None):
        path = (folder or self.root) / "setup.cfg"
        path.write_text("[metadata]\nname = someproject\n\n[dbtestkit]\n" + textwrap.dedent(body))
        return path


class UrlPrecedenceTest(ConfigCase):

    def test_keyword_beats_environment(self):
        self.setenv("DBTESTKIT_URL", "sqlite:///from-env.db")
        self.write_setup_cfg("url = sqlite:///from-cfg.db\n")
        self.assertEqual(self.database(url="sqlite:///from-kw.db").settings.url, "sqlite:///from-kw.db")

    def test_environment_beats_setup_cfg(self):
        self.setenv("DBTESTKIT_URL", "sqlite:///from-env.db")
        self.write_setup_cfg("url = sqlite:///from-cfg.db\n")
        self.assertEqual(self.database().settings.url, "sqlite:///from-env.db")

    def test_setup_cfg_beats_default(self):
        self.write_setup_cfg("url = sqlite:///from-cfg.db\n")
        self.assertEqual(self.database().settings.url, "sqlite:///from-cfg.db")

    def test_default_is_in_memory_sqlite(self):
        self.assertEqual(self.database().settings.url, "sqlite://")


class AlembicIniPrecedenceTest(ConfigCase):

    def setUp(self):
        super().setUp()
        self.ini_env = write_project(self.tmp / "env-project")
        self.ini_cfg = write_project(self.tmp / "cfg-project")

    def test_keyword_beats_environment(self):
        self.setenv("DBTESTKIT_ALEMBIC_INI", str(self.ini_env))
        self.write_setup_cfg(f"alembic_ini = {self.ini_cfg}\n")
        database = dbtestkit.TestDatabase(alembic_ini=self.ini, cache_dir=self.cache_dir)
        self.assertEqual(database.settings.alembic_ini, str(self.ini))
        self.assertEqual(database.source.project.ini_path, self.ini.resolve())

    def test_environment_beats_setup_cfg(self):
        self.setenv("DBTESTKIT_ALEMBIC_INI", str(self.ini_env))
        self.write_setup_cfg(f"alembic_ini = {self.ini_cfg}\n")
        database = dbtestkit.TestDatabase(cache_dir=self.cache_dir)
        self.assertEqual(database.source.project.ini_path, self.ini_env.resolve())

    def test_setup_cfg_beats_default(self):
        self.write_setup_cfg(f"alembic_ini = {self.ini_cfg}\n")
        database = dbtestkit.TestDatabase(cache_dir=self.cache_dir)
        self.assertEqual(database.source.project.ini_path, self.ini_cfg.resolve())

    def test_default_is_none(self):
        self.assertIsNone(resolve_settings(cache_dir=self.cache_dir).alembic_ini)


class CacheDirPrecedenceTest(ConfigCase):

    def test_keyword_beats_environment(self):
        self.setenv("DBTESTKIT_CACHE_DIR", str(self.tmp / "env-cache"))
        self.write_setup_cfg(f"cache_dir = {self.tmp / 'cfg-cache'}\n")
        database = self.database(cache_dir=self.tmp / "kw-cache")
        self.assertEqual(database.settings.cache_dir, (self.tmp / "kw-cache").resolve())
        self.assertTrue((self.tmp / "kw-cache").is_dir())

    def test_environment_beats_setup_cfg(self):
        self.setenv("DBTESTKIT_CACHE_DIR", str(self.tmp / "env-cache"))
        self.write_setup_cfg(f"cache_dir = {self.tmp / 'cfg-cache'}\n")
        database = dbtestkit.TestDatabase(alembic_ini=self.ini)
        self.assertEqual(database.settings.cache_dir, (self.tmp / "env-cache").resolve())
        self.assertFalse((self.tmp / "cfg-cache").exists())

    def test_setup_cfg_beats_default(self):
        self.write_setup_cfg(f"cache_dir = {self.tmp / 'cfg-cache'}\n")
        database = dbtestkit.TestDatabase(alembic_ini=self.ini)
        self.assertEqual(database.settings.cache_dir, (self.tmp / "cfg-cache").resolve())

    def test_golden_is_built_in_the_chosen_cache_dir(self):
        self.setenv("DBTESTKIT_CACHE_DIR", str(self.tmp / "env-cache"))
        golden = dbtestkit.TestDatabase(alembic_ini=self.ini).ensure_golden()
        self.assertTrue(golden.url.startswith(f"sqlite:///{(self.tmp / 'env-cache').resolve()}/"))


class DefaultCacheDirTest(ConfigCase):

    def setUp(self):
        super().setUp()
        # Keep the real home's cache out of it: platformdirs reads these.
        self.home = self.tmp / "home"
        self.home.mkdir()
        self.setenv("HOME", str(self.home))
        self.setenv("XDG_CACHE_HOME", str(self.home / "xdg-cache"))

    def test_default_is_platformdirs_user_cache_dir(self):
        import platformdirs

        expected = Path(platformdirs.user_cache_dir("dbtestkit", appauthor=False))
        self.assertTrue(str(expected).startswith(str(self.home)), expected)
        database = dbtestkit.TestDatabase(alembic_ini=self.ini)
        self.assertEqual(database.settings.cache_dir, expected)
        self.assertEqual(default_cache_dir(), expected)
        self.assertTrue(expected.is_dir())
        self.assertEqual(stat.S_IMODE(expected.stat().st_mode), 0o700)


class KeepPrecedenceTest(ConfigCase):

    def test_keyword_beats_environment(self):
        self.setenv("DBTESTKIT_KEEP", "1")
        self.write_setup_cfg("keep = yes\n")
        self.assertIs(self.database(keep=False).keep, False)

    def test_environment_beats_setup_cfg(self):
        self.setenv("DBTESTKIT_KEEP", "0")
        self.write_setup_cfg("keep = yes\n")
        self.assertIs(self.database().keep, False)

    def test_setup_cfg_beats_default(self):
        self.write_setup_cfg("keep = yes\n")
        self.assertIs(self.database().keep, True)

    def test_default_is_false(self):
        self.assertIs(self.database().keep, False)

    def test_words_are_read_as_booleans(self):
        for word, expected in [("true", True), ("ON", True), ("no", False), ("off", False)]:
            with self.subTest(word=word):
                self.setenv("DBTESTKIT_KEEP", word)
                self.assertIs(self.database().keep, expected)


class ArchivePrecedenceTest(ConfigCase):

    def test_keyword_beats_environment(self):
        self.setenv("DBTESTKIT_ARCHIVE", str(self.tmp / "env-archive"))
        self.assertEqual(self.database(archive=self.tmp / "kw").golden.archive, self.tmp / "kw")

    def test_environment_beats_setup_cfg(self):
        self.setenv("DBTESTKIT_ARCHIVE", str(self.tmp / "env-archive"))
        self.write_setup_cfg("archive = cfg-archive\n")
        self.assertEqual(self.database().golden.archive, self.tmp / "env-archive")

    def test_setup_cfg_is_relative_to_setup_cfg(self):
        self.write_setup_cfg("archive = cfg-archive\n")
        self.assertEqual(self.database().golden.archive, (self.root / "cfg-archive").resolve())

    def test_default_is_no_archive(self):
        self.assertIsNone(self.database().golden.archive)


class SetupCfgDiscoveryTest(ConfigCase):

    def test_setup_cfg_is_found_from_a_subdirectory_of_the_cwd(self):
        cfg = self.write_setup_cfg("url = sqlite:///walked-up.db\n")
        deeper = self.root / "tests" / "unit"
        deeper.mkdir(parents=True)
        self.chdir(deeper)
        self.assertEqual(find_setup_cfg(), cfg.resolve())
        self.assertEqual(self.database().settings.url, "sqlite:///walked-up.db")

    def test_relative_alembic_ini_is_relative_to_setup_cfg_not_cwd(self):
        write_project(self.root / "app")
        self.write_setup_cfg("alembic_ini = app/alembic.ini\n")
        deeper = self.root / "tests"
        deeper.mkdir()
        self.chdir(deeper)
        database = dbtestkit.TestDatabase(cache_dir=self.cache_dir)
        expected = (self.root / "app" / "alembic.ini").resolve()
        self.assertEqual(database.settings.alembic_ini, str(expected))
        self.assertEqual(database.source.project.ini_path, expected)

    def test_relative_cache_dir_is_relative_to_setup_cfg_not_cwd(self):
        self.write_setup_cfg("cache_dir = .dbtestkit-cache\n")
        deeper = self.root / "tests"
        deeper.mkdir()
        self.chdir(deeper)
        database = dbtestkit.TestDatabase(alembic_ini=self.ini)
        self.assertEqual(database.settings.cache_dir, (self.root / ".dbtestkit-cache").resolve())
        self.assertFalse((deeper / ".dbtestkit-cache").exists())

    def test_setup_cfg_without_dbtestkit_section_is_ignored(self):
        (self.root / "setup.cfg").write_text("[metadata]\nname = x\n")
        self.assertIsNone(find_setup_cfg())
        self.assertEqual(self.database().settings.url, "sqlite://")

    def test_unknown_key_is_a_configuration_error_listing_valid_keys(self):
        cfg = self.write_setup_cfg("alembic-ini = alembic.ini\n")
        with self.assertRaises(dbtestkit.ConfigurationError) as caught:
            self.database()
        message = str(caught.exception)
        self.assertIn(str(cfg.resolve()), message)
        self.assertIn("alembic-ini", message)
        for valid in ("url", "alembic_ini", "cache_dir", "keep", "name"):
            self.assertIn(f"'{valid}'", message)

    def test_percent_in_setup_cfg_value_does_not_escape_as_a_raw_configparser_error(self):
        # Percent-encoded characters are normal in database URLs (a password
        # with '@' is written %40). They must be read literally or rejected
        # with a dbtestkit error that does not print the password.
        url = "sqlite://user:p%40ssw0rd@/x.db"
        self.write_setup_cfg(f"url = {url}\n")
        try:
            settings = resolve_settings(cache_dir=self.cache_dir)
        except dbtestkit.ConfigurationError as error:
            self.assertIn("setup.cfg", str(error))
            self.assertNotIn("ssw0rd", str(error))
        else:
            self.assertEqual(settings.url, url)


class SetupCfgEncodingTest(ConfigCase):
    """setup.cfg is read as UTF-8, as setuptools reads it."""

    def write_latin1_setup_cfg(self, section):
        path = self.root / "setup.cfg"
        path.write_bytes(f"[metadata]\nauthor = Ren\xe9e\n\n[{section}]\nkeep = 1\n".encode("latin-1"))
        return path

    def test_latin1_setup_cfg_with_a_dbtestkit_section_names_file_line_and_fix(self):
        path = self.write_latin1_setup_cfg("dbtestkit")
        with self.assertRaises(dbtestkit.ConfigurationError) as caught:
            self.database()
        message = str(caught.exception)
        self.assertIn(str(path.resolve()), message)
        self.assertIn("byte 0xe9 on line 2", message)
        self.assertIn("save the file as UTF-8", message)
        self.assertIsInstance(caught.exception.__cause__, UnicodeDecodeError)

    def test_latin1_setup_cfg_of_another_tool_is_ignored(self):
        self.write_latin1_setup_cfg("tool:pytest")
        self.assertFalse(self.database().settings.keep)


class SettingOriginsInErrorsTest(ConfigCase):
    """An error about a setting names where it was set, never a place the user did not use."""

    # Nothing listens on port 1: the connection is refused at once, no server needed.
    REFUSED = {
        "postgresql": "postgresql+psycopg://postgres@127.0.0.1:1/postgres",
        "mysql": "mysql+pymysql://root@127.0.0.1:1/",
    }

    def connection_error(self, **kwargs):
        with self.assertRaises(dbtestkit.BackendUnavailable) as caught:
            self.database(**kwargs).fingerprint()
        return str(caught.exception)

    def test_refused_connection_names_each_place_a_server_url_can_come_from(self):
        for backend, url in self.REFUSED.items():
            with self.subTest(backend=backend, origin="keyword"):
                message = self.connection_error(url=url)
                self.assertIn("or fix TestDatabase(url=...).", message)
            with self.subTest(backend=backend, origin="environment"):
                self.setenv("DBTESTKIT_URL", url)
                try:
                    message = self.connection_error()
                finally:
                    del os.environ["DBTESTKIT_URL"]
                self.assertIn("or fix DBTESTKIT_URL.", message)
            with self.subTest(backend=backend, origin="setup.cfg"):
                cfg = self.write_setup_cfg(f"url = {url}\n")
                message = self.connection_error()
                self.assertIn(f"or fix url in {cfg.resolve()} [dbtestkit].", message)
                self.assertNotIn("DBTESTKIT_URL", message)

    def test_unsupported_url_from_the_environment_says_so(self):
        self.setenv("DBTESTKIT_URL", "oracle://scott:tiger@db/orcl")
        with self.assertRaises(dbtestkit.ConfigurationError) as caught:
            self.database()
        self.assertIn("oracle://scott:***@db/orcl, from DBTESTKIT_URL", str(caught.exception))

    def test_keep_from_setup_cfg_names_the_file(self):
        cfg = self.write_setup_cfg("keep = maybe\n")
        with self.assertRaises(dbtestkit.ConfigurationError) as caught:
            self.database()
        self.assertIn(f"(from keep in {cfg.resolve()} [dbtestkit])", str(caught.exception))

    def test_missing_alembic_ini_from_the_environment_says_fix_the_variable(self):
        self.setenv("DBTESTKIT_ALEMBIC_INI", str(self.tmp / "nowhere.ini"))
        with self.assertRaises(dbtestkit.ConfigurationError) as caught:
            dbtestkit.TestDatabase(cache_dir=self.cache_dir)
        message = str(caught.exception)
        self.assertIn("(from DBTESTKIT_ALEMBIC_INI). Fix DBTESTKIT_ALEMBIC_INI", message)
        self.assertNotIn("setup.cfg [dbtestkit]", message.split("(relative")[0])


class CacheDirPermissionsTest(ConfigCase):

    def test_new_cache_dir_is_created_0700(self):
        path = self.tmp / "fresh" / "cache"
        self.database(cache_dir=path)
        self.assertEqual(stat.S_IMODE(path.stat().st_mode), 0o700)

    def test_existing_cache_dir_0755_is_tightened_to_0700(self):
        path = self.tmp / "loose"
        path.mkdir()
        path.chmod(0o755)
        self.database(cache_dir=path)
        self.assertEqual(stat.S_IMODE(path.stat().st_mode), 0o700)

    @unittest.skipUnless(hasattr(os, "chown") and os.getuid() == 0, "needs root to chown")
    def test_cache_dir_of_another_user_is_refused(self):
        path = self.tmp / "theirs"
        path.mkdir(mode=0o700)
        os.chown(path, 65534, 65534)
        with self.assertRaises(dbtestkit.ConfigurationError) as caught:
            self.database(cache_dir=path)
        message = str(caught.exception)
        self.assertIn("another user", message)
        self.assertIn(str(path.resolve()), message)
        self.assertIn("Change TestDatabase(cache_dir=...) to a directory of your own", message)
        self.assertEqual(list(path.iterdir()), [], "dbtestkit wrote into another user's folder")


TEST_MODULE = '''\
import unittest

from sqlalchemy import text

import dbtestkit


class DefaultDatabaseTest(dbtestkit.DatabaseTestCase):

    def test_migrated_data_is_there(self):
        name = self.connection.execute(text("SELECT name FROM author")).scalar()
        self.assertEqual(name, "Ursula K. Le Guin")

    def test_writes_are_isolated_one(self):
        self.session.execute(text("INSERT INTO author (name) VALUES ('one')"))
        self.session.commit()
        self.assertEqual(self.session.execute(text("SELECT count(*) FROM author")).scalar(), 2)

    def test_writes_are_isolated_two(self):
        self.assertEqual(self.connection.execute(text("SELECT count(*) FROM author")).scalar(), 1)
'''


class DatabaseTestCaseFromSetupCfgTest(ConfigCase):
    """A DatabaseTestCase without ``database`` takes its database from configuration."""

    def setUp(self):
        super().setUp()
        write_project(self.root / "app")
        (self.root / "test_default_db.py").write_text(TEST_MODULE)
        # No DBTESTKIT_* variables reach the child (TempProjectCase popped
        # them); keep its default cache out of the real home too.
        self.child_env = {"XDG_CACHE_HOME": str(self.tmp / "xdg"), "HOME": str(self.tmp)}

    def run_unittest(self):
        return support.run_python(["-m", "unittest", "-v"], cwd=self.root, env=self.child_env)

    def test_setup_cfg_alembic_ini_is_enough(self):
        self.write_setup_cfg("alembic_ini = app/alembic.ini\ncache_dir = cache\n")
        result = self.run_unittest()
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("Ran 3 tests", result.stderr)
        self.assertRegex(result.stderr, r"\nOK\s*$")
        self.assertTrue(list((self.root / "cache" / "sqlite").glob("golden-*.sqlite")))

    def test_without_configuration_the_error_names_the_missing_database(self):
        result = self.run_unittest()
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("DefaultDatabaseTest has no `database` attribute", result.stderr)
        self.assertIn("ConfigurationError", result.stderr)
        self.assertIn("alembic_ini", result.stderr)


if __name__ == "__main__":
    unittest.main()
