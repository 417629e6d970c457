"""The pytest plugin: loaded by its entry point, idle until asked, the same isolation as the unittest classes."""

import importlib.util
import re
import textwrap

from tests.support import TempProjectCase, run_python, skip_or_fail

CONFTEST = '''\
import pytest
import dbtestkit


@pytest.fixture(scope="session")
def dbtestkit_database():
    return dbtestkit.TestDatabase(alembic_ini={ini!r}, cache_dir={cache!r})
'''

COUNT = '''\
import sqlalchemy as sa


def authors(connection):
    return [name for (name,) in connection.execute(sa.text("SELECT name FROM author ORDER BY name"))]


def add(connection, name):
    connection.execute(sa.text("INSERT INTO author (name) VALUES (:name)"), {"name": name})
'''


class PluginCase(TempProjectCase):
    """Writes a pytest suite over this case's project and runs it in a subprocess."""

    def setUp(self):
        super().setUp()
        if importlib.util.find_spec("pytest") is None:
            skip_or_fail(self, "tool:pytest", "pytest is not installed (pip install -e .[test])")
        self.suite = self.tmp / "suite"
        self.suite.mkdir()
        (self.suite / "helpers.py").write_text(COUNT)

    def write(self, name, text):
        (self.suite / name).write_text(textwrap.dedent(text))

    def conftest(self):
        self.write("conftest.py", CONFTEST.format(ini=str(self.ini), cache=str(self.cache_dir)))

    def pytest(self, *args, env=None):
        run = run_python(["-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", *args],
                         cwd=self.suite, env=env, timeout=300)
        return run, run.stdout + run.stderr

    def assert_counts(self, output, passed, failed=0, errors=0):
        counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|errors?)\b", output)}
        counts["error"] = counts.pop("errors", counts.get("error", 0))
        self.assertEqual((counts.get("passed", 0), counts.get("failed", 0), counts.get("error", 0)),
                         (passed, failed, errors), output)


class IdleUntilAskedTests(PluginCase):
    def test_the_entry_point_loads_the_plugin_which_imports_nothing_and_touches_nothing(self):
        # No -p: only the pytest11 entry point can have loaded it.
        self.write("test_plain.py", """\
            import sys

            def test_plain(request):
                assert request.config.pluginmanager.has_plugin("dbtestkit")
                assert "dbtestkit.pytest_plugin" in sys.modules
                heavy = [m for m in sys.modules if m.split(".")[0] in ("sqlalchemy", "alembic")
                         or m in ("dbtestkit.database", "dbtestkit.config")]
                assert heavy == []
            """)
        run, output = self.pytest(env={"DBTESTKIT_CACHE_DIR": str(self.cache_dir), "DBTESTKIT_VERBOSE": "1"})
        self.assert_counts(output, passed=1)
        self.assertFalse(self.cache_dir.exists(), "a run without dbtestkit fixtures made the cache dir")
        self.assertNotIn("dbtestkit:", output)


class SavepointFixtureTests(PluginCase):
    def setUp(self):
        super().setUp()
        self.conftest()

    def test_commits_are_undone_and_a_module_shares_one_connection(self):
        self.write("test_a.py", """\
            from helpers import add, authors

            SEEN = []

            def test_commit(db_session, db_connection):
                SEEN.append(db_connection)
                add(db_session, "Frank Herbert")
                db_session.commit()
                assert authors(db_connection) == ["Frank Herbert", "Ursula K. Le Guin"]

            def test_the_commit_is_undone(db_connection):
                SEEN.append(db_connection)
                assert authors(db_connection) == ["Ursula K. Le Guin"]

            class TestInAClass:
                def test_same_connection(self, db_connection):
                    assert db_connection is SEEN[0] is SEEN[1]

            def test_session_is_joined_to_the_connection(db_session, db_connection):
                assert db_session.get_bind() is db_connection
            """)
        self.write("test_b.py", """\
            import test_a

            def test_another_module_has_its_own_connection(db_connection):
                assert test_a.SEEN and db_connection is not test_a.SEEN[0]
            """)
        run, output = self.pytest()
        self.assert_counts(output, passed=5)

    def test_data_is_loaded_once_and_seen_by_its_module_or_class_only(self):
        self.write("test_data_a.py", """\
            from helpers import add, authors
            from dbtestkit.pytest_plugin import test_data

            LOADS = []

            @test_data
            def herbert(connection):
                LOADS.append("module")
                add(connection, "Frank Herbert")
                return "returned by the module's loader"

            def test_module_data(db_connection, herbert):
                assert herbert == "returned by the module's loader"
                assert authors(db_connection) == ["Frank Herbert", "Ursula K. Le Guin"]

            class TestWithClassData:
                @test_data
                def banks(connection):
                    LOADS.append("class")
                    add(connection, "Iain Banks")
                    return 42

                def test_one(self, db_session, banks, herbert):
                    assert banks == 42
                    add(db_session, "Zadie Smith")
                    db_session.commit()
                    assert authors(db_session) == ["Frank Herbert", "Iain Banks", "Ursula K. Le Guin",
                                                   "Zadie Smith"]

                def test_two(self, db_connection):
                    assert authors(db_connection) == ["Frank Herbert", "Iain Banks", "Ursula K. Le Guin"]

            class TestOtherClass:
                def test_sees_module_data_not_the_other_class(self, db_connection):
                    assert authors(db_connection) == ["Frank Herbert", "Ursula K. Le Guin"]

            def test_loaded_once_each(db_connection):
                assert LOADS == ["module", "class"]
            """)
        self.write("test_data_b.py", """\
            from helpers import authors

            def test_other_module_sees_none_of_it(db_connection):
                assert authors(db_connection) == ["Ursula K. Le Guin"]
            """)
        run, output = self.pytest()
        self.assert_counts(output, passed=6)

    def test_a_test_that_ends_the_outer_transaction_errors_and_the_next_starts_afresh(self):
        self.write("test_broken.py", """\
            from helpers import add, authors
            from dbtestkit.pytest_plugin import test_data

            @test_data
            def herbert(connection):
                add(connection, "Frank Herbert")

            def test_commits_the_connection(db_connection):
                add(db_connection, "Zadie Smith")
                db_connection.commit()

            def test_next(db_connection):
                assert authors(db_connection) == ["Frank Herbert", "Ursula K. Le Guin"]
            """)
        run, output = self.pytest()
        self.assert_counts(output, passed=2, errors=1)
        self.assertIn("IsolationBroken", output)
        self.assertRegex(output, r"ERROR at teardown of test_commits_the_connection")


class CloneFixtureTests(PluginCase):
    def setUp(self):
        super().setUp()
        self.conftest()

    def test_the_three_are_one_clone_per_test_and_commits_stay_in_it(self):
        self.write("test_clones.py", """\
            import sqlalchemy as sa
            from helpers import add, authors

            URLS = []

            def test_one_clone(db_clone, db_url, db_engine):
                assert db_url == db_clone.url and db_engine is db_clone.engine
                URLS.append(db_url)
                with db_engine.begin() as connection:
                    add(connection, "Frank Herbert")
                other = sa.create_engine(db_url)
                with other.connect() as connection:
                    assert authors(connection) == ["Frank Herbert", "Ursula K. Le Guin"]
                other.dispose()

            def test_next_clone_is_fresh(db_engine, db_url):
                assert db_url not in URLS
                with db_engine.connect() as connection:
                    assert authors(connection) == ["Ursula K. Le Guin"]
            """)
        run, output = self.pytest()
        self.assert_counts(output, passed=2)

    def test_a_failed_tests_clone_is_kept_and_shown_in_the_terminal_summary(self):
        self.write("test_kept.py", """\
            from helpers import add

            def test_fails(db_engine):
                with db_engine.begin() as connection:
                    add(connection, "Left for the developer")
                assert False

            def test_passes(db_clone):
                pass
            """)
        run, output = self.pytest(env={"DBTESTKIT_KEEP": "1"})
        self.assert_counts(output, passed=1, failed=1)
        kept = re.findall(r"^dbtestkit: kept the clone of failed test (\S+) at (\S+)$", run.stdout, re.M)
        self.assertEqual([test for test, _ in kept], ["test_kept.py::test_fails"], output)
        from tests.support import query

        self.assertEqual(query(f"sqlite:///{kept[0][1]}", "SELECT name FROM author ORDER BY name"),
                         [("Left for the developer",), ("Ursula K. Le Guin",)])
        # Only the failed test's clone was kept.
        self.assertEqual(len(list((self.cache_dir / "sqlite" / "kept").glob("*.sqlite"))), 1)

    def test_a_shared_clone_kind_gives_a_url_another_process_opens(self):
        self.write("test_shared.py", """\
            import subprocess, sys

            dbtestkit_clone_kind = "shared"

            def test_another_process_sees_the_commit(db_engine, db_url):
                from helpers import add
                with db_engine.begin() as connection:
                    add(connection, "Frank Herbert")
                code = ("import sqlalchemy as sa, sys; e = sa.create_engine(sys.argv[1]); "
                        "print(e.connect().scalar(sa.text('SELECT count(*) FROM author')))")
                out = subprocess.run([sys.executable, "-c", code, db_url], capture_output=True, text=True)
                assert out.stdout.strip() == "2", out.stderr

            class TestBadKind:
                dbtestkit_clone_kind = "elsewhere"

                def test_refused(self, db_clone):
                    pass
            """)
        run, output = self.pytest()
        self.assert_counts(output, passed=1, errors=1)
        self.assertIn("Clone kind 'elsewhere' is not one dbtestkit knows", output)

    def test_without_keep_a_failed_tests_clone_is_dropped(self):
        self.write("test_dropped.py", """\
            def test_fails(db_clone):
                assert False
            """)
        run, output = self.pytest()
        self.assert_counts(output, passed=0, failed=1)
        self.assertNotIn("kept the clone", output)
        self.assertEqual(list((self.cache_dir / "sqlite").glob("kept/*.sqlite")), [])


class DefaultDatabaseTests(PluginCase):
    def test_without_an_override_setup_cfg_names_the_database(self):
        self.write("setup.cfg", f"[dbtestkit]\nalembic_ini = {self.ini}\ncache_dir = {self.cache_dir}\n")
        self.write("test_x.py", """\
            from helpers import authors

            def test_x(db_connection, dbtestkit_database):
                assert authors(db_connection) == ["Ursula K. Le Guin"]
                assert dbtestkit_database.settings.origin("alembic_ini").endswith("setup.cfg [dbtestkit]")
            """)
        run, output = self.pytest()
        self.assert_counts(output, passed=1)


class BadSetUpTests(PluginCase):
    def test_no_configuration_says_to_override_the_fixture(self):
        self.write("test_x.py", "def test_x(db_session):\n    pass\n")
        run, output = self.pytest()
        self.assert_counts(output, passed=0, errors=1)
        self.assertIn("dbtestkit.exceptions.ConfigurationError", output)
        self.assertIn("override the fixture in conftest.py", output)

    def test_an_override_that_returns_something_else_is_refused(self):
        self.write("conftest.py", """\
            import pytest

            @pytest.fixture(scope="session")
            def dbtestkit_database():
                return "sqlite://"
            """)
        self.write("test_x.py", "def test_x(db_clone):\n    pass\n")
        run, output = self.pytest()
        self.assert_counts(output, passed=0, errors=1)
        self.assertIn("The dbtestkit_database fixture returned 'sqlite://'; it must return a "
                      "dbtestkit.TestDatabase", output)

    def test_an_async_fixture_in_a_sync_test_says_what_to_do(self):
        self.conftest()
        self.write("test_x.py", "def test_x(async_db_session):\n    pass\n")
        run, output = self.pytest()
        self.assert_counts(output, passed=0, errors=1)
        self.assertIn("asks for _dbtestkit_async_test, an async fixture, but no async test plugin "
                      "runs it", output)
        self.assertIn("@pytest.mark.asyncio", output)


class AsyncFixtureTests(PluginCase):
    def setUp(self):
        super().setUp()
        for module in ("pytest_asyncio", "aiosqlite", "greenlet"):
            if importlib.util.find_spec(module) is None:
                skip_or_fail(self, f"tool:{module}", f"{module} is not installed (pip install -e .[test])")
        self.conftest()

    def test_committing_the_async_connection_errors_and_the_next_test_gets_a_fresh_clone(self):
        self.write("test_async_broken.py", """\
            import pytest
            import sqlalchemy as sa

            @pytest.mark.asyncio
            async def test_commits_the_connection(async_db_connection):
                await async_db_connection.execute(sa.text("INSERT INTO author (name) VALUES ('Leak')"))
                await async_db_connection.commit()

            @pytest.mark.asyncio
            async def test_next(async_db_session):
                names = (await async_db_session.execute(sa.text("SELECT name FROM author"))).scalars()
                assert list(names) == ["Ursula K. Le Guin"]
            """)
        run, output = self.pytest()
        self.assert_counts(output, passed=2, errors=1)
        self.assertIn("IsolationBroken: The test ended the transaction that isolates tests", output)

    def test_a_failed_async_tests_clone_is_kept_after_its_engine_is_disposed(self):
        self.write("test_async_kept.py", """\
            import pytest
            import sqlalchemy as sa

            @pytest.mark.asyncio
            async def test_fails(async_db_clone):
                assert async_db_clone.url.startswith("sqlite+aiosqlite://")
                async with async_db_clone.engine.begin() as connection:
                    await connection.execute(sa.text("INSERT INTO author (name) VALUES ('Async')"))
                assert False
            """)
        run, output = self.pytest(env={"DBTESTKIT_KEEP": "1"})
        self.assert_counts(output, passed=0, failed=1)
        kept = re.findall(r"^dbtestkit: kept the clone of failed test \S+ at (\S+)$", run.stdout, re.M)
        self.assertEqual(len(kept), 1, output)
        from tests.support import query

        self.assertIn(("Async",), query(f"sqlite:///{kept[0]}", "SELECT name FROM author"))
