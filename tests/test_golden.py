"""The golden: built once, verified on every reuse, rebuilt when it cannot be trusted."""

import json
import os
import sqlite3
import stat
import textwrap
from pathlib import Path

import sqlalchemy as sa

import dbtestkit
from tests.support import (
    CONNECTION_ENV_PY,
    STOCK_ENV_PY,
    TempProjectCase,
    dead_pid,
    golden_path,
    query,
    record_path,
    run_python,
    table_names,
    tamper,
)

HEAD = "0004"
SEEDED_AUTHORS = ["Ursula K. Le Guin"]


class GoldenAssertions:
    def assertGoldenAtHead(self, golden):
        self.assertEqual(query(golden.url, "SELECT version_num FROM alembic_version"), [(HEAD,)])
        self.assertTrue({"author", "book", "alembic_version"} <= table_names(golden.url))
        engine = sa.create_engine(golden.url, poolclass=sa.pool.NullPool)
        try:
            book_columns = {c["name"] for c in sa.inspect(engine).get_columns("book")}
        finally:
            engine.dispose()
        self.assertEqual(book_columns, {"id", "title", "author_id", "isbn"})
        self.assertEqual([name for (name,) in query(golden.url, "SELECT name FROM author")], SEEDED_AUTHORS)
        self.assertEqual(json.loads(record_path(golden).read_text())["fingerprint"], golden.fingerprint)
        self.assertEqual({n for n in table_names(golden.url) if "dbtestkit" in n}, set())


class BuildOnceTest(GoldenAssertions, TempProjectCase):
    def test_first_ensure_golden_builds(self):
        golden = self.database().ensure_golden()
        self.assertTrue(golden.built)
        self.assertTrue(golden_path(golden).is_file())

    def test_second_instance_reuses_golden_without_rebuilding(self):
        first = self.database().ensure_golden()
        before = golden_path(first).stat()
        second = self.database().ensure_golden()
        self.assertFalse(second.built)
        self.assertEqual(second.url, first.url)
        after = golden_path(second).stat()
        self.assertEqual((after.st_ino, after.st_mtime_ns), (before.st_ino, before.st_mtime_ns))

    def test_golden_is_at_head_with_tables_and_data_migration_rows(self):
        self.assertGoldenAtHead(self.database().ensure_golden())

    def test_reuse_in_a_new_process_does_not_import_alembic(self):
        self.database().ensure_golden()
        code = ENSURE_GOLDEN + textwrap.dedent("""
            print(sorted(m for m in sys.modules if m == "alembic" or m.startswith("alembic.")))
        """)
        result = run_python(["-c", code, str(self.ini), str(self.cache_dir)], cwd=self.tmp)
        self.assertEqual(result.returncode, 0, result.stderr)
        golden_line, modules_line = result.stdout.splitlines()
        self.assertTrue(golden_line.endswith(" False"), golden_line)
        self.assertEqual(modules_line, "[]")

    def test_golden_fingerprint_matches_database_fingerprint(self):
        database = self.database()
        self.assertEqual(database.ensure_golden().fingerprint, database.fingerprint())


class VerifyOnReuseTest(GoldenAssertions, TempProjectCase):
    def build(self):
        golden = self.database().ensure_golden()
        self.assertTrue(golden.built)
        return golden

    def assertRebuiltAfter(self, damage):
        """Build the golden, ``damage(path)`` its file, and check the next use rebuilds it to head."""
        golden = self.build()
        damage(golden_path(golden))
        again = self.database().ensure_golden()
        self.assertTrue(again.built)
        self.assertGoldenAtHead(again)

    def test_golden_without_version_rows_is_rebuilt(self):
        self.assertRebuiltAfter(lambda path: tamper(path, "DELETE FROM alembic_version"))

    def test_garbage_golden_file_is_rebuilt(self):
        self.assertRebuiltAfter(lambda path: path.write_bytes(b"not a database"))

    def test_truncated_golden_file_is_rebuilt(self):
        def truncate(path):
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 2])

        self.assertRebuiltAfter(truncate)

    def test_empty_golden_file_is_rebuilt(self):
        self.assertRebuiltAfter(lambda path: path.write_bytes(b""))

    def test_stale_build_of_same_fingerprint_is_not_used_and_is_removed(self):
        database = self.database()
        fingerprint = database.fingerprint()
        sqlite_dir = self.cache_dir / "sqlite"
        stale = sqlite_dir / f"build-{fingerprint[:16]}-deadhost-999999-1-abcdef.sqlite"
        self._write_stale_build(stale)
        golden = database.ensure_golden()
        self.assertTrue(golden.built)
        self.assertNotIn("stale_marker", table_names(golden.url))
        self.assertGoldenAtHead(golden)
        self.assertEqual(sorted(p.name for p in sqlite_dir.glob("build-*")), [])

    def test_stale_build_of_another_fingerprint_from_dead_process_is_removed(self):
        # A build killed before the migrations were edited has another fingerprint;
        # its owner (this host, a pid that no longer exists) is gone for good.
        from dbtestkit.backends.processes import process_tag

        host = process_tag().rpartition("-")[0]
        sqlite_dir = self.cache_dir / "sqlite"
        sqlite_dir.mkdir(parents=True, mode=0o700)
        stale = sqlite_dir / f"build-{'0' * 16}-{host}-{dead_pid()}-1-abcdef.sqlite"
        self._write_stale_build(stale)
        self.assertTrue(self.database().ensure_golden().built)
        self.assertEqual(sorted(p.name for p in sqlite_dir.glob("build-*")), [])

    def test_build_of_another_fingerprint_by_live_process_is_kept(self):
        # Another history being built right now by a process that is still running.
        from dbtestkit.backends.processes import process_tag

        sqlite_dir = self.cache_dir / "sqlite"
        sqlite_dir.mkdir(parents=True, mode=0o700)
        running = sqlite_dir / f"build-{'0' * 16}-{process_tag()}-1-abcdef.sqlite"
        self._write_stale_build(running)
        self.assertTrue(self.database().ensure_golden().built)
        self.assertTrue(running.is_file())

    def _write_stale_build(self, path):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        connection = sqlite3.connect(path)
        with connection:
            connection.execute("CREATE TABLE stale_marker (id INTEGER)")
        connection.close()
        Path(f"{path}-journal").write_bytes(b"")


class BuildsWithThisEnvPy(GoldenAssertions):
    """The golden builds at head and is reused, with the class's ``env_py``."""

    def test_golden_builds_at_head(self):
        golden = self.database().ensure_golden()
        self.assertTrue(golden.built)
        self.assertGoldenAtHead(golden)

    def test_golden_is_reused(self):
        self.database().ensure_golden()
        self.assertFalse(self.database().ensure_golden().built)


class StockEnvPyTest(BuildsWithThisEnvPy, TempProjectCase):
    """env.py as `alembic init` writes it: the engine comes from sqlalchemy.url."""

    env_py = STOCK_ENV_PY


class ConnectionEnvPyTest(BuildsWithThisEnvPy, TempProjectCase):
    """env.py that uses the connection in config.attributes."""

    env_py = CONNECTION_ENV_PY


class CachePermissionsTest(TempProjectCase):
    def test_new_cache_directory_is_private(self):
        cache = self.tmp / "fresh" / "cache"
        self.database(cache_dir=cache).ensure_golden()
        self.assertEqual(stat.S_IMODE(cache.stat().st_mode), 0o700)
        self.assertEqual(stat.S_IMODE((cache / "sqlite").stat().st_mode), 0o700)

    def test_existing_open_cache_directory_is_made_private(self):
        cache = self.tmp / "open-cache"
        cache.mkdir()
        cache.chmod(0o755)
        self.database(cache_dir=cache)
        self.assertEqual(stat.S_IMODE(cache.stat().st_mode), 0o700)

    def test_golden_file_is_private(self):
        golden = self.database().ensure_golden()
        self.assertEqual(stat.S_IMODE(golden_path(golden).stat().st_mode), 0o600)

    def test_file_clone_is_private(self):
        with self.database().clone(kind="file") as clone:
            self.assertEqual(stat.S_IMODE(Path(clone.location).stat().st_mode), 0o600)
            self.assertEqual(stat.S_IMODE(Path(clone.location).parent.stat().st_mode), 0o700)

    def test_cache_dir_environment_variable_is_used_without_keyword(self):
        env_cache = self.tmp / "env-cache"
        os.environ["DBTESTKIT_CACHE_DIR"] = str(env_cache)
        self.addCleanup(os.environ.pop, "DBTESTKIT_CACHE_DIR", None)
        golden = self.database(cache_dir=None).ensure_golden()
        self.assertEqual(golden_path(golden).parent, env_cache.resolve() / "sqlite")
        self.assertFalse(self.cache_dir.exists())

    def test_cache_dir_keyword_beats_environment_variable(self):
        env_cache = self.tmp / "env-cache"
        os.environ["DBTESTKIT_CACHE_DIR"] = str(env_cache)
        self.addCleanup(os.environ.pop, "DBTESTKIT_CACHE_DIR", None)
        golden = self.database().ensure_golden()
        self.assertEqual(golden_path(golden).parent, self.cache_dir.resolve() / "sqlite")
        self.assertFalse(env_cache.exists())


ENSURE_GOLDEN = textwrap.dedent("""
    import sys, dbtestkit
    golden = dbtestkit.TestDatabase(alembic_ini=sys.argv[1], cache_dir=sys.argv[2]).ensure_golden()
    print(golden.fingerprint, golden.built)
""")


class CloneTest(TempProjectCase):
    def setUp(self):
        super().setUp()
        self.db = self.database()
        self.golden = self.db.ensure_golden()

    def authors(self, url):
        return [name for (name,) in query(url, "SELECT name FROM author ORDER BY id")]

    def test_default_clone_is_in_memory_and_holds_golden_rows(self):
        with self.db.clone() as clone:
            self.assertIsNone(clone.location)
            self.assertIn("vfs=memdb", clone.url)
            self.assertEqual(self.authors(clone.url), SEEDED_AUTHORS)

    def test_file_clone_holds_golden_rows(self):
        with self.db.clone(kind="file") as clone:
            self.assertTrue(Path(clone.location).is_file())
            self.assertEqual(self.authors(clone.url), SEEDED_AUTHORS)

    def test_clone_engine_reads_golden_rows(self):
        for kind in ("memory", "file"):
            with self.subTest(kind=kind), self.db.clone(kind=kind) as clone:
                with clone.engine.connect() as connection:
                    names = connection.execute(sa.text("SELECT name FROM author")).scalars().all()
                self.assertEqual(names, SEEDED_AUTHORS)

    def test_writes_to_a_clone_stay_in_that_clone(self):
        for first_kind, second_kind in [("memory", "memory"), ("memory", "file"), ("file", "memory"),
                                        ("file", "file")]:
            with self.subTest(written=first_kind, other=second_kind):
                first = self.db.clone(kind=first_kind)
                second = self.db.clone(kind=second_kind)
                self.addCleanup(first.drop)
                self.addCleanup(second.drop)
                with first.engine.begin() as connection:
                    connection.execute(sa.text("INSERT INTO author (name) VALUES ('Octavia Butler')"))
                self.assertEqual(self.authors(first.url), [*SEEDED_AUTHORS, "Octavia Butler"])
                self.assertEqual(self.authors(second.url), SEEDED_AUTHORS)
                self.assertEqual(self.authors(self.golden.url), SEEDED_AUTHORS)

    def test_new_clone_does_not_see_writes_of_an_earlier_clone(self):
        for kind in ("memory", "file"):
            with self.subTest(kind=kind):
                with self.db.clone(kind=kind) as first, first.engine.begin() as connection:
                    connection.execute(sa.text("DELETE FROM author"))
                with self.db.clone(kind=kind) as second:
                    self.assertEqual(self.authors(second.url), SEEDED_AUTHORS)

    def test_drop_removes_file_clone(self):
        clone = self.db.clone(kind="file")
        clone.engine.dispose()
        path = Path(clone.location)
        self.assertTrue(path.is_file())
        clone.drop()
        self.assertFalse(path.exists())
        self.assertTrue(clone.dropped)
        clone.drop()  # a second drop is harmless

    def test_drop_frees_memory_clone(self):
        clone = self.db.clone()
        url = clone.url
        self.assertEqual(self.authors(url), SEEDED_AUTHORS)
        clone.drop()
        self.assertNotIn("author", table_names(url))

    def test_context_manager_drops_file_clone(self):
        with self.db.clone(kind="file") as clone:
            path = Path(clone.location)
            self.assertTrue(path.is_file())
        self.assertTrue(clone.dropped)
        self.assertFalse(path.exists())

    def test_unknown_clone_kind_raises_configuration_error(self):
        with self.assertRaises(dbtestkit.ConfigurationError):
            self.db.clone(kind="bogus")

    def test_clone_builds_golden_when_none_exists_yet(self):
        database = self.database(cache_dir=self.tmp / "cold-cache")
        with database.clone() as clone:
            self.assertEqual(self.authors(clone.url), SEEDED_AUTHORS)


if __name__ == "__main__":
    import unittest

    unittest.main()
