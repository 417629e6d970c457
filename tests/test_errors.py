"""Every bad input gets a clear dbtestkit error, and nothing writes the user's database."""

import os
import sqlite3
import textwrap
import unittest
from pathlib import Path

import sqlalchemy
from sqlalchemy import MetaData, Table, Column, Integer, text

import dbtestkit
from tests import support
from tests.support import DEFAULT_REVISIONS, TempProjectCase, write_revision


def cache_leftovers(cache_dir):
    """Return the names of goldens and half-built databases in ``cache_dir``."""
    sqlite_dir = Path(cache_dir) / "sqlite"
    if not sqlite_dir.is_dir():
        return []
    return sorted(
        p.name for p in sqlite_dir.iterdir()
        if p.name.startswith(("golden-", "build-")) and not p.name.endswith(".lock")
    )


class ChdirMixin:
    """Run a test with the working directory set to a fresh temp folder."""

    def chdir(self, path):
        previous = os.getcwd()
        os.chdir(path)
        self.addCleanup(os.chdir, previous)


# -- alembic.ini and script_location ---------------------------------------------------------


class AlembicIniErrorsTest(ChdirMixin, TempProjectCase):

    def test_missing_alembic_ini_names_the_resolved_path(self):
        self.chdir(self.tmp)
        with self.assertRaises(dbtestkit.ConfigurationError) as caught:
            self.database(alembic_ini="nowhere/alembic.ini")
        message = str(caught.exception)
        self.assertIn(str((self.tmp / "nowhere" / "alembic.ini").resolve()), message)
        self.assertIn("not found", message)
        self.assertIn("alembic_ini", message)

    def test_alembic_ini_without_alembic_section_is_rejected(self):
        self.ini.write_text("[loggers]\nkeys = root\n")
        with self.assertRaises(dbtestkit.ConfigurationError) as caught:
            self.database()
        message = str(caught.exception)
        self.assertIn(str(self.ini.resolve()), message)
        self.assertIn("[alembic]", message)

    def test_alembic_ini_without_script_location_is_rejected(self):
        self.ini.write_text("[alembic]\nsqlalchemy.url = sqlite://\n")
        with self.assertRaises(dbtestkit.ConfigurationError) as caught:
            self.database()
        message = str(caught.exception)
        self.assertIn("script_location", message)
        self.assertIn(str(self.ini.resolve()), message)
        self.assertIn("%(here)s", message)

    def test_script_location_without_env_py_names_resolved_path_and_here(self):
        # A relative script_location resolves against the working directory,
        # which here is not the project folder: the classic CI surprise.
        elsewhere = self.tmp / "elsewhere"
        elsewhere.mkdir()
        self.chdir(elsewhere)
        self.ini.write_text(support.ALEMBIC_INI.replace("%(here)s/migrations", "migrations"))
        with self.assertRaises(dbtestkit.ConfigurationError) as caught:
            self.database()
        message = str(caught.exception)
        self.assertIn(str(Path("migrations").absolute()), message)
        self.assertIn("env.py", message)
        self.assertIn("%(here)s", message)

    def test_alembic_ini_not_in_utf8_names_the_file_the_line_and_the_fix(self):
        text = support.ALEMBIC_INI + "# maintained by Ren\xe9e\n"
        self.ini.write_bytes(text.encode("cp1252"))
        with self.assertRaises(dbtestkit.ConfigurationError) as caught:
            self.database()
        message = str(caught.exception)
        self.assertIn(str(self.ini.resolve()), message)
        self.assertIn(f"byte 0xe9 on line {text.count(chr(10))}", message)
        self.assertIn("save the file as UTF-8", message)
        self.assertIsInstance(caught.exception.__cause__, UnicodeDecodeError)

    def test_config_errors_are_dbtestkit_errors(self):
        with self.assertRaises(dbtestkit.DbtestkitError):
            self.database(alembic_ini=self.tmp / "missing.ini")


# -- migrations that fail --------------------------------------------------------------------


class FailingMigrationCase(TempProjectCase):
    """A history whose third revision fails."""

    failing_upgrade = 'op.execute("THIS IS NOT SQL")'

    @property
    def revisions(self):
        return [
            *DEFAULT_REVISIONS[:2],
            ("0003", "broken step", self.failing_upgrade, "pass"),
        ]

    def build_error(self):
        database = self.database()
        with self.assertRaises(dbtestkit.MigrationError) as caught:
            database.ensure_golden()
        return caught.exception


class FailingSqlMigrationTest(FailingMigrationCase):

    def test_error_names_revision_and_file(self):
        error = self.build_error()
        message = str(error)
        self.assertIn("0003", message)
        self.assertIn(str(self.versions / "0003_broken_step.py"), message)
        self.assertIn("Fix the migration", message)

    def test_error_revision_attribute_is_the_failing_revision(self):
        self.assertEqual(self.build_error().revision, "0003")

    def test_error_is_chained_to_the_database_error(self):
        error = self.build_error()
        self.assertIsInstance(error.__cause__, sqlalchemy.exc.OperationalError)
        self.assertIn("THIS IS NOT SQL", str(error.__cause__))

    def test_no_golden_or_build_file_is_left_in_the_cache(self):
        self.build_error()
        self.assertEqual(cache_leftovers(self.cache_dir), [])

    def test_fixed_migration_builds_after_the_failure(self):
        self.build_error()
        write_revision(
            self.versions, "0003", "broken step",
            'op.execute("INSERT INTO author (name) VALUES (\'Fixed\')")', "pass", "0002",
        )
        golden = self.database().ensure_golden()
        self.assertTrue(golden.built)
        with self.database().clone() as clone, clone.engine.connect() as connection:
            self.assertEqual(connection.execute(text("SELECT name FROM author")).scalar(), "Fixed")


class FailingPythonMigrationTest(FailingMigrationCase):

    failing_upgrade = 'raise RuntimeError("kaboom in python")'

    def test_error_names_revision_file_and_original_message(self):
        error = self.build_error()
        message = str(error)
        self.assertIn("0003", message)
        self.assertIn(str(self.versions / "0003_broken_step.py"), message)
        self.assertIn("RuntimeError", message)
        self.assertIn("kaboom in python", message)

    def test_error_revision_attribute_and_cause(self):
        error = self.build_error()
        self.assertEqual(error.revision, "0003")
        self.assertIsInstance(error.__cause__, RuntimeError)
        self.assertEqual(str(error.__cause__), "kaboom in python")

    def test_no_golden_or_build_file_is_left_in_the_cache(self):
        self.build_error()
        self.assertEqual(cache_leftovers(self.cache_dir), [])


# -- env.py that fails or migrates the wrong database ------------------------------------------


class EnvPySyntaxErrorTest(TempProjectCase):

    env_py = "from alembic import context\nthis is not python(\n"

    def test_error_says_no_migration_ran_and_names_env_py(self):
        with self.assertRaises(dbtestkit.MigrationError) as caught:
            self.database().ensure_golden()
        message = str(caught.exception)
        env_py = self.tmp / "project" / "migrations" / "env.py"
        self.assertIn(str(env_py), message)
        self.assertIn("before any migration ran", message)
        self.assertIn("SyntaxError", message)
        self.assertIsNone(caught.exception.revision)
        self.assertIsInstance(caught.exception.__cause__, SyntaxError)
        self.assertEqual(cache_leftovers(self.cache_dir), [])


class EnvPyImportErrorTest(TempProjectCase):

    env_py = "import dbtestkit_no_such_module_xyz\n" + support.CONNECTION_ENV_PY

    def test_error_says_no_migration_ran_and_names_env_py(self):
        with self.assertRaises(dbtestkit.MigrationError) as caught:
            self.database().ensure_golden()
        message = str(caught.exception)
        self.assertIn(str(self.tmp / "project" / "migrations" / "env.py"), message)
        self.assertIn("before any migration ran", message)
        self.assertIn("dbtestkit_no_such_module_xyz", message)
        self.assertIsInstance(caught.exception.__cause__, ImportError)
        self.assertEqual(cache_leftovers(self.cache_dir), [])


class EnvPyFailsAfterMigrationsTest(TempProjectCase):

    env_py = support.CONNECTION_ENV_PY + 'raise RuntimeError("env.py teardown failed")\n'

    def test_error_does_not_claim_that_no_migration_ran(self):
        # All four revisions were applied before env.py raised: saying
        # "before any migration ran" would send the user looking in the wrong place.
        with self.assertRaises(dbtestkit.MigrationError) as caught:
            self.database().ensure_golden()
        message = str(caught.exception)
        self.assertIn("env.py teardown failed", message)
        self.assertNotIn("before any migration ran", message)
        self.assertEqual(cache_leftovers(self.cache_dir), [])


class EnvPyMigratesOtherDatabaseTest(TempProjectCase):
    """An env.py that reads the application's settings instead of Alembic's."""

    def setUp(self):
        super().setUp()
        self.app_db = self.tmp / "app.db"
        env_py = textwrap.dedent(f'''\
            from alembic import context
            from sqlalchemy import create_engine, pool

            engine = create_engine("sqlite:///{self.app_db}", poolclass=pool.NullPool)
            with engine.connect() as connection:
                context.configure(connection=connection, target_metadata=None, render_as_batch=True)
                with context.begin_transaction():
                    context.run_migrations()
        ''')
        (self.tmp / "project" / "migrations" / "env.py").write_text(env_py)

    def build_error(self):
        with self.assertRaises(dbtestkit.MigrationError) as caught:
            self.database().ensure_golden()
        return caught.exception

    def test_error_says_env_py_migrated_another_database_and_how_to_fix(self):
        message = str(self.build_error())
        self.assertIn("other database", message)
        self.assertIn(str(self.tmp / "project" / "migrations" / "env.py"), message)
        self.assertIn("config.attributes['connection']", message)
        self.assertIn("sqlalchemy.url", message)

    def test_no_golden_is_published(self):
        self.build_error()
        self.assertEqual(cache_leftovers(self.cache_dir), [])
        # The user's env.py did migrate its own database: that is on them,
        # and it proves the check looked at the right file.
        with sqlite3.connect(self.app_db) as connection:
            heads = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        self.assertEqual(heads, [("0004",)])


class EnvPySecondConnectionTest(TempProjectCase):
    """env.py opening its own connection from the injected one's engine must not deadlock."""

    env_py = textwrap.dedent('''\
        from alembic import context

        config = context.config
        with config.attributes["connection"].engine.connect() as connection:
            context.configure(connection=connection, target_metadata=None, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
    ''')

    def test_build_through_a_second_connection_succeeds_without_lock_errors(self):
        code = textwrap.dedent(f'''\
            import dbtestkit
            from sqlalchemy import text
            database = dbtestkit.TestDatabase(alembic_ini={str(self.ini)!r}, cache_dir={str(self.cache_dir)!r})
            golden = database.ensure_golden()
            with database.clone() as clone, clone.engine.connect() as connection:
                print("built", golden.built)
                print("heads", connection.execute(text("SELECT version_num FROM alembic_version")).all())
                print("authors", connection.execute(text("SELECT name FROM author")).all())
        ''')
        try:
            result = support.run_python(code, cwd=self.tmp, timeout=60)
        except Exception as error:  # subprocess.TimeoutExpired
            self.fail(f"building through a second connection hung: {error}")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertNotIn("database is locked", result.stderr)
        self.assertIn("built True", result.stdout)
        self.assertIn("heads [('0004',)]", result.stdout)
        self.assertIn("Ursula K. Le Guin", result.stdout)


# -- URLs ----------------------------------------------------------------------------------------


class UrlErrorsTest(TempProjectCase):

    def test_not_a_url_is_a_configuration_error_with_an_example(self):
        with self.assertRaises(dbtestkit.ConfigurationError) as caught:
            self.database(url="not a url")
        message = str(caught.exception)
        self.assertIn("not a database URL", message)
        self.assertIn("sqlite://", message)

    def test_unparseable_url_does_not_echo_its_password(self):
        # A missing ':' after the dialect makes the URL unparseable; the
        # password inside must still not reach logs and CI output.
        with self.assertRaises(dbtestkit.ConfigurationError) as caught:
            self.database(url="postgresql//u:s3cret@h/db")
        self.assertIn("not a database URL", str(caught.exception))
        self.assertNotIn("s3cret", str(caught.exception))

    def test_url_with_non_numeric_port_is_a_configuration_error(self):
        with self.assertRaises(dbtestkit.ConfigurationError) as caught:
            self.database(url="postgresql://u:s3cret@h:port/db")
        self.assertNotIn("s3cret", str(caught.exception))

    def test_unsupported_backend_is_named_and_password_masked(self):
        with self.assertRaises(dbtestkit.ConfigurationError) as caught:
            self.database(url="mssql+pyodbc://u:s3cret@h/db")
        message = str(caught.exception)
        self.assertIn("'mssql'", message)
        self.assertIn("supported", message)
        self.assertIn("sqlite", message)
        self.assertIn("mssql+pyodbc://u:***@h/db", message)
        self.assertNotIn("s3cret", message)

    def test_unsupported_backend_without_credentials(self):
        with self.assertRaises(dbtestkit.ConfigurationError) as caught:
            self.database(url="oracle://")
        message = str(caught.exception)
        self.assertIn("'oracle'", message)
        self.assertIn("supported", message)

    def test_async_driver_is_accepted_and_builds_through_a_sync_driver(self):
        # Async URLs work (tests/test_async.py); only a missing driver is an error there.
        backend = self.database(url="postgresql+asyncpg://u:s3cret@127.0.0.1/postgres").backend
        self.assertEqual(backend.url.drivername, "postgresql+psycopg")

    def test_unknown_driver_is_a_configuration_error_about_spelling(self):
        with self.assertRaises(dbtestkit.ConfigurationError) as caught:
            self.database(url="sqlite+nope://")
        message = str(caught.exception)
        self.assertIn("sqlite+nope", message)
        self.assertIn("spelling", message)

    def test_missing_driver_is_backend_unavailable_with_install_advice(self):
        with self.assertRaises(dbtestkit.BackendUnavailable) as caught:
            self.database(url="sqlite+pysqlcipher://u:s3cret@/secret.db")
        message = str(caught.exception)
        self.assertIn("pysqlcipher", message)
        self.assertIn("pip install", message)
        self.assertNotIn("s3cret", message)
        self.assertIsInstance(caught.exception.__cause__, ImportError)

    def test_backend_unavailable_is_not_a_configuration_error(self):
        # A missing driver is an environment problem: callers may skip on it.
        with self.assertRaises(dbtestkit.DbtestkitError) as caught:
            self.database(url="sqlite+pysqlcipher://")
        self.assertNotIsInstance(caught.exception, dbtestkit.ConfigurationError)


class MissingDatabaseOnServerTest(TempProjectCase):
    """A server URL naming a database that does not exist: say so, not "is the server running?"."""

    def setUp(self):
        # Before TempProjectCase.setUp, which hides DBTESTKIT_REQUIRE.
        self.servers = {backend: support.server_url(self, backend) for backend in ("postgresql", "mysql")}
        super().setUp()

    def test_the_error_says_the_database_does_not_exist_and_names_one_that_does(self):
        usual = {"postgresql": "postgres", "mysql": ""}
        for backend, server in self.servers.items():
            with self.subTest(backend=backend):
                missing = f"dbtk_no_such_database_{os.getpid()}"
                url = sqlalchemy.engine.make_url(server).set(database=missing)
                with self.assertRaises(dbtestkit.BackendUnavailable) as caught:
                    self.database(url=url.render_as_string(hide_password=False)).fingerprint()
                message = str(caught.exception)
                self.assertIn(f"The database '{missing}' named in the URL does not exist", message)
                self.assertIn("only needs an existing database to connect to", message)
                suggestion = url.set(database=usual[backend]).render_as_string(hide_password=True)
                self.assertIn(f"fix TestDatabase(url=...), e.g. to {suggestion}", message)
                self.assertNotIn("server running", message)


# -- schema sources, seeds, settings -------------------------------------------------------------


class SchemaSourceErrorsTest(ChdirMixin, TempProjectCase):

    def test_two_schema_sources_are_rejected(self):
        metadata = MetaData()
        Table("thing", metadata, Column("id", Integer, primary_key=True))
        with self.assertRaises(dbtestkit.ConfigurationError) as caught:
            self.database(metadata=metadata)  # alembic_ini= comes from self.database()
        message = str(caught.exception)
        self.assertIn("alembic_ini", message)
        self.assertIn("metadata", message)
        self.assertIn("only one", message)

    def test_no_schema_source_anywhere_names_every_place_to_set_one(self):
        self.chdir(self.tmp)  # no setup.cfg here or above
        with self.assertRaises(dbtestkit.ConfigurationError) as caught:
            dbtestkit.TestDatabase(cache_dir=self.cache_dir)
        message = str(caught.exception)
        self.assertIn("alembic_ini", message)
        self.assertIn("setup.cfg", message)
        self.assertIn("DBTESTKIT_ALEMBIC_INI", message)


class CloneKindTest(TempProjectCase):

    def test_unknown_clone_kind_is_a_configuration_error_listing_the_kinds(self):
        with self.assertRaises(dbtestkit.ConfigurationError) as caught:
            self.database().clone("tape")
        message = str(caught.exception)
        self.assertIn("'tape'", message)
        self.assertIn('clone_kind = "shared"', message)
        for alias in ("memory", "file", "database"):
            self.assertIn(repr(alias), message)

    def test_every_kind_is_a_need_each_backend_maps_to_its_storage(self):
        from dbtestkit.backends import backend_for

        kinds = [None, "in_process", "memory", "shared", "file", "database"]
        expected = {
            "sqlite://": dict(zip(kinds, ["memory"] * 3 + ["file"] * 3)),
            "postgresql+psycopg://u@h/db": dict.fromkeys(kinds, "database"),
            "mysql+pymysql://u@h/": dict.fromkeys(kinds, "database"),
        }
        for url, storage in expected.items():
            backend = backend_for(url, self.tmp)  # connects to nothing
            with self.subTest(backend=backend.name):
                self.assertEqual({kind: backend.clone_storage(kind) for kind in storage}, storage)


def failing_seed(connection):
    connection.execute(text("INSERT INTO author (name) VALUES ('seeded')"))
    raise ValueError("no authors today")


class FailingSeedTest(TempProjectCase):

    def build_error(self):
        database = self.database(seeds=[failing_seed])
        with self.assertRaises(dbtestkit.DbtestkitError) as caught:
            database.ensure_golden()
        return caught.exception

    def test_error_names_the_seed_and_is_chained(self):
        error = self.build_error()
        message = str(error)
        self.assertIn("failing_seed", message)
        self.assertIn("no authors today", message)
        self.assertIsInstance(error.__cause__, ValueError)

    def test_no_golden_is_published(self):
        self.build_error()
        self.assertEqual(cache_leftovers(self.cache_dir), [])


class KeepSettingErrorTest(TempProjectCase):

    def test_keep_maybe_in_environment_is_a_configuration_error(self):
        os.environ["DBTESTKIT_KEEP"] = "maybe"
        self.addCleanup(os.environ.pop, "DBTESTKIT_KEEP", None)
        with self.assertRaises(dbtestkit.ConfigurationError) as caught:
            self.database()
        message = str(caught.exception)
        self.assertIn("keep", message)
        self.assertIn("maybe", message)
        self.assertIn("true/false", message)


# -- the user's own database --------------------------------------------------------------------


class UserDatabaseUntouchedTest(TempProjectCase):
    """The database file named in the URL is the user's: dbtestkit never writes it."""

    def setUp(self):
        super().setUp()
        self.users_db = self.tmp / "users.db"
        with sqlite3.connect(self.users_db) as connection:
            connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
            connection.execute("INSERT INTO users (email) VALUES ('ada@example.com')")
        connection.close()
        past = 1_600_000_000
        os.utime(self.users_db, (past, past))
        self.before = (self.users_db.read_bytes(), os.stat(self.users_db).st_mtime_ns)
        self.url = f"sqlite:///{self.users_db}"

    def assert_untouched(self):
        after = (self.users_db.read_bytes(), os.stat(self.users_db).st_mtime_ns)
        self.assertEqual(after[0], self.before[0], "the user's database bytes changed")
        self.assertEqual(after[1], self.before[1], "the user's database was written (mtime)")
        for suffix in ("-journal", "-wal", "-shm"):
            self.assertFalse(Path(f"{self.users_db}{suffix}").exists(), suffix)

    def test_building_a_golden_does_not_write_the_url_file(self):
        golden = self.database(url=self.url).ensure_golden()
        self.assertTrue(golden.built)
        self.assertNotIn(str(self.users_db), golden.url)
        self.assert_untouched()

    def test_cloning_and_writing_clones_does_not_write_the_url_file(self):
        database = self.database(url=self.url)
        for kind in ("memory", "file"):
            with database.clone(kind) as clone, clone.engine.begin() as connection:
                connection.execute(text("INSERT INTO author (name) VALUES ('clone writer')"))
                connection.execute(text("DELETE FROM book"))
        self.assert_untouched()


if __name__ == "__main__":
    unittest.main()
