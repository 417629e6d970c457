"""The golden: built once, verified on every reuse, rebuilt when it cannot be trusted."""

import json
import os
import re
import sqlite3
import stat
import textwrap
from pathlib import Path

import sqlalchemy as sa

import dbtestkit
from dbtestkit.exceptions import MigrationError
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
REVISION_LABELS = ["0001_create_author", "0002_create_book", "0003_add_isbn", "0004_seed_authors"]


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

    def test_golden_recording_another_fingerprint_is_rebuilt(self):
        golden = self.build()
        record = json.loads(record_path(golden).read_text())
        record_path(golden).write_text(json.dumps({**record, "fingerprint": "x"}))
        again = self.database().ensure_golden()
        self.assertTrue(again.built)
        self.assertGoldenAtHead(again)

    def test_golden_at_another_revision_is_rebuilt(self):
        golden = self.build()
        tamper(golden_path(golden), "UPDATE alembic_version SET version_num = '0003'")
        again = self.database().ensure_golden()
        self.assertTrue(again.built)
        self.assertGoldenAtHead(again)

    def test_golden_without_version_rows_is_rebuilt(self):
        golden = self.build()
        tamper(golden_path(golden), "DELETE FROM alembic_version")
        again = self.database().ensure_golden()
        self.assertTrue(again.built)
        self.assertGoldenAtHead(again)

    def test_garbage_golden_file_is_rebuilt(self):
        golden = self.build()
        golden_path(golden).write_bytes(b"not a database")
        again = self.database().ensure_golden()
        self.assertTrue(again.built)
        self.assertGoldenAtHead(again)

    def test_truncated_golden_file_is_rebuilt(self):
        golden = self.build()
        path = golden_path(golden)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        again = self.database().ensure_golden()
        self.assertTrue(again.built)
        self.assertGoldenAtHead(again)

    def test_empty_golden_file_is_rebuilt(self):
        golden = self.build()
        golden_path(golden).write_bytes(b"")
        again = self.database().ensure_golden()
        self.assertTrue(again.built)
        self.assertGoldenAtHead(again)

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


class StockEnvPyTest(GoldenAssertions, TempProjectCase):
    """env.py as `alembic init` writes it: the engine comes from sqlalchemy.url."""

    env_py = STOCK_ENV_PY

    def test_golden_builds_at_head(self):
        golden = self.database().ensure_golden()
        self.assertTrue(golden.built)
        self.assertGoldenAtHead(golden)

    def test_golden_is_reused(self):
        self.database().ensure_golden()
        self.assertFalse(self.database().ensure_golden().built)


class ConnectionEnvPyTest(GoldenAssertions, TempProjectCase):
    """env.py that uses the connection in config.attributes."""

    env_py = CONNECTION_ENV_PY

    def test_golden_builds_at_head(self):
        golden = self.database().ensure_golden()
        self.assertTrue(golden.built)
        self.assertGoldenAtHead(golden)

    def test_golden_is_reused(self):
        self.database().ensure_golden()
        self.assertFalse(self.database().ensure_golden().built)


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


class ProgressTest(TempProjectCase):
    def ensure_golden(self, **env):
        result = run_python(
            ["-c", ENSURE_GOLDEN, str(self.ini), str(self.cache_dir)],
            cwd=self.tmp, env={"PYTHONIOENCODING": "utf-8", **env},
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        fingerprint, built = result.stdout.split()
        return fingerprint, built == "True", result.stderr

    def dbtestkit_lines(self, stderr):
        """Return dbtestkit's progress lines, without the end-of-run summary."""
        return [line for line in stderr.splitlines()
                if line.startswith("dbtestkit") and not line.startswith("dbtestkit: [pid")]

    def summary_lines(self, stderr):
        """Return the end-of-run summary lines DBTESTKIT_VERBOSE asks for."""
        return [line for line in stderr.splitlines() if line.startswith("dbtestkit: [pid")]

    def test_verbose_build_reports_each_migration_then_the_total(self):
        fingerprint, built, stderr = self.ensure_golden(DBTESTKIT_VERBOSE="1")
        self.assertTrue(built)
        prefix = f"dbtestkit: golden project {fingerprint[:10]}…"
        expected = [f"{prefix} [{n}/4] {label}" for n, label in enumerate(REVISION_LABELS, 1)]
        lines = self.dbtestkit_lines(stderr)
        self.assertEqual(lines[:-1], expected)
        self.assertRegex(lines[-1], "^" + re.escape(prefix) + r" built in \d+\.\ds$")
        summary = self.summary_lines(stderr)
        self.assertEqual(len(summary), 1, stderr)
        self.assertRegex(summary[0], re.escape(f"golden project {fingerprint[:10]}…") + r" built in \d+\.\d\ds$")

    def test_verbose_reuse_reports_only_the_summary(self):
        self.ensure_golden(DBTESTKIT_VERBOSE="1")
        fingerprint, built, stderr = self.ensure_golden(DBTESTKIT_VERBOSE="1")
        self.assertFalse(built)
        self.assertEqual(self.dbtestkit_lines(stderr), [])
        summary = self.summary_lines(stderr)
        self.assertEqual(len(summary), 1, stderr)
        self.assertIn(f"golden project {fingerprint[:10]}… reused", summary[0])

    def test_every_build_is_journaled_once(self):
        from dbtestkit.golden.journal import read_journal

        fingerprint, _, _ = self.ensure_golden()
        self.ensure_golden()
        journal = read_journal(self.cache_dir)
        self.assertEqual(len(journal), 1, journal)
        self.assertIn(f"sqlite {fingerprint} pid=", journal[0])

    def test_verbose_zero_is_quiet(self):
        _, built, stderr = self.ensure_golden(DBTESTKIT_VERBOSE="0")
        self.assertTrue(built)
        self.assertNotIn("dbtestkit", stderr)


class QuietBuildTest(TempProjectCase):
    """A build well under QUIET_BUILD_SECONDS: one small revision, Alembic imported beforehand."""

    revisions = [("0001", "create author",
                  'op.create_table("author", sa.Column("id", sa.Integer, primary_key=True))',
                  'op.drop_table("author")')]

    def test_fast_build_is_quiet_without_verbose(self):
        code = "import alembic.command, alembic.runtime.environment, alembic.script\n" + ENSURE_GOLDEN
        result = run_python(["-c", code, str(self.ini), str(self.cache_dir)], cwd=self.tmp)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.split()[1], "True")
        self.assertEqual([line for line in result.stderr.splitlines() if line.startswith("dbtestkit")], [])


class SlowBuildProgressTest(TempProjectCase):
    revisions = [
        ("0001", "create author", 'op.create_table("author", sa.Column("id", sa.Integer, primary_key=True))',
         'op.drop_table("author")'),
        ("0002", "slow step", "import time\ntime.sleep(0.7)", "pass"),
        ("0003", "create shelf", 'op.create_table("shelf", sa.Column("id", sa.Integer, primary_key=True))',
         'op.drop_table("shelf")'),
    ]

    def test_slow_build_reports_progress_without_verbose(self):
        result = run_python(
            ["-c", ENSURE_GOLDEN, str(self.ini), str(self.cache_dir)],
            cwd=self.tmp, env={"PYTHONIOENCODING": "utf-8"},
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        fingerprint = result.stdout.split()[0]
        prefix = f"dbtestkit: golden project {fingerprint[:10]}…"
        lines = [line for line in result.stderr.splitlines() if line.startswith("dbtestkit")]
        self.assertEqual(lines[:-1], [
            f"{prefix} [1/3] 0001_create_author",
            f"{prefix} [2/3] 0002_slow_step",
            f"{prefix} [3/3] 0003_create_shelf",
        ])
        self.assertRegex(lines[-1], "^" + re.escape(prefix) + r" built in \d+\.\ds$")


def add_book(connection):
    connection.execute(sa.text("INSERT INTO book (title, author_id) VALUES ('The Dispossessed', 1)"))


class SeedTest(TempProjectCase):
    def test_callable_seed_rows_are_in_clones(self):
        with self.database(seeds=[add_book]).clone() as clone:
            self.assertEqual(query(clone.url, "SELECT title, author_id FROM book"), [("The Dispossessed", 1)])

    def test_sql_seed_file_runs_every_statement(self):
        seed = self.tmp / "seed.sql"
        seed.write_text(
            "INSERT INTO author (name) VALUES ('Ada Lovelace');\n"
            "INSERT INTO book (title, author_id) VALUES ('Notes; on the Engine', 2);\n"
        )
        with self.database(seeds=[seed]).clone() as clone:
            self.assertEqual(
                query(clone.url, "SELECT name FROM author ORDER BY id"),
                [("Ursula K. Le Guin",), ("Ada Lovelace",)],
            )
            self.assertEqual(query(clone.url, "SELECT title, author_id FROM book"), [("Notes; on the Engine", 2)])

    def test_seeds_run_in_the_order_given(self):
        seed = self.tmp / "seed.sql"
        seed.write_text("UPDATE book SET title = title || ' (2nd ed.)';\n")
        with self.database(seeds=[add_book, seed]).clone() as clone:
            self.assertEqual(query(clone.url, "SELECT title FROM book"), [("The Dispossessed (2nd ed.)",)])

    def test_failing_seed_raises_and_publishes_no_golden(self):
        seed = self.tmp / "seed.sql"
        seed.write_text("INSERT INTO no_such_table VALUES (1);\n")
        database = self.database(seeds=[seed])
        with self.assertRaises(dbtestkit.DbtestkitError):
            database.ensure_golden()
        self.assertEqual(sorted(p.name for p in (self.cache_dir / "sqlite").glob("*.sqlite*")), [])


def widget_metadata():
    metadata = sa.MetaData()
    sa.Table("widget", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String(50)))
    sa.Table("part", metadata, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("widget_id", sa.Integer, sa.ForeignKey("widget.id")))
    return metadata


class MetadataGoldenTest(TempProjectCase):
    def database(self, **kwargs):
        return super().database(alembic_ini=None, metadata=widget_metadata(), **kwargs)

    def test_metadata_tables_exist_in_a_clone(self):
        with self.database().clone() as clone:
            self.assertTrue({"widget", "part"} <= table_names(clone.url))

    def test_metadata_golden_has_no_alembic_version_table(self):
        golden = self.database().ensure_golden()
        self.assertNotIn("alembic_version", table_names(golden.url))

    def test_metadata_golden_is_reused(self):
        self.assertTrue(self.database().ensure_golden().built)
        self.assertFalse(self.database().ensure_golden().built)


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


def create_legacy_table(connection):
    """What an application's create_all made before the history began."""
    connection.exec_driver_sql("CREATE TABLE legacy (id INTEGER PRIMARY KEY)")


class BeforeMigrationsTest(TempProjectCase):
    """A history whose first revision alters a table it never created."""

    revisions = [("0001", "alter legacy", (
        'with op.batch_alter_table("legacy") as batch:\n'
        '    batch.add_column(sa.Column("note", sa.String(20)))'
    ), 'pass')]

    def test_history_fails_without_the_hook(self):
        with self.assertRaises(MigrationError) as caught:
            self.database().ensure_golden()
        self.assertEqual(caught.exception.revision, "0001")

    def test_hook_runs_on_the_empty_database_before_the_migrations(self):
        database = self.database(before_migrations=[create_legacy_table])
        with database.clone() as clone, clone.engine.connect() as connection:
            columns = [c["name"] for c in sa.inspect(connection).get_columns("legacy")]
        self.assertEqual(columns, ["id", "note"])

    def test_hook_is_part_of_the_fingerprint(self):
        plain = self.database().fingerprint()
        hooked = self.database(before_migrations=[create_legacy_table]).fingerprint()
        self.assertNotEqual(plain, hooked)
