"""SQLite goldens on disk: invisible to the application, never trusted unchecked; kept clones."""

import json
import os
import shutil
import stat
import time
import unittest
from pathlib import Path

import sqlalchemy as sa

import dbtestkit
from dbtestkit.backends.sqlite_files import signature
from dbtestkit.migration_checks import MigrationRunner, run_check
from tests.support import TempProjectCase, golden_path, query, record_path, tamper

SEEDED_AUTHORS = [("Ursula K. Le Guin",)]
OTHER_UID = 65534
needs_root = unittest.skipUnless(
    hasattr(os, "geteuid") and os.geteuid() == 0, "needs root to give files to another user"
)

# env.py as a project that looks at the database first would write it (MLflow's
# "no tables yet, so create_all first"): it logs the tables it sees on arrival.
LOOKING_ENV_PY = '''\
import json, os
from alembic import context
from sqlalchemy import engine_from_config, inspect, pool

config = context.config
connectable = config.attributes.get("connection")
if connectable is None:
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool,
    ).connect()
if os.environ.get("SEEN_TABLES_LOG"):
    tables = sorted(inspect(connectable).get_table_names())
    connectable.rollback()
    with open(os.environ["SEEN_TABLES_LOG"], "a") as log:
        log.write(json.dumps(tables) + "\\n")
context.configure(connection=connectable, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
'''


def schema_objects(url):
    """Return every (type, name, table) in a SQLite database's schema: tables, indexes, views, triggers."""
    return set(query(url, "SELECT type, name, tbl_name FROM sqlite_master"))


def authors(url):
    return query(url, "SELECT name FROM author ORDER BY id")


def wait_for_the_clock_to_pass(path):
    """Wait until a file written beside ``path`` gets a later time than its ctime (timestamps are coarse).

    A restamp in the clock tick of the file's last change is refused, rightly;
    tests that need one to happen wait for the next tick.
    """
    ctime_ns = path.lstat().st_ctime_ns
    probe = path.parent / "clock-probe"
    deadline = time.monotonic() + 5
    try:
        while time.monotonic() < deadline:
            probe.write_bytes(b"")
            if probe.stat().st_mtime_ns > ctime_ns:
                return
            time.sleep(0.001)
        raise AssertionError(f"the clock of {path.parent} did not move in 5 s")
    finally:
        probe.unlink()


class InvisibleToTheApplicationTest(TempProjectCase):
    """No dbtestkit object in the user's schema: not during the build, not in goldens or any clone."""

    env_py = LOOKING_ENV_PY

    def plain_upgrade_objects(self):
        """What `alembic upgrade head` makes on its own, without dbtestkit."""
        from alembic import command
        from alembic.config import Config

        plain = self.tmp / "plain.sqlite"
        config = Config(str(self.ini))
        config.set_main_option("sqlalchemy.url", f"sqlite:///{plain}")
        command.upgrade(config, "head")
        return schema_objects(f"sqlite:///{plain}")

    def seen_tables(self):
        log = self.tmp / "seen.log"
        os.environ["SEEN_TABLES_LOG"] = str(log)
        self.addCleanup(os.environ.pop, "SEEN_TABLES_LOG", None)
        return log

    def test_env_py_sees_no_table_before_the_first_migration(self):
        log = self.seen_tables()
        database = self.database()
        database.ensure_golden()
        # The no-trace check walks up from an empty database of dbtestkit's making.
        run_check("downgrade_leaves_no_trace", MigrationRunner(database))
        seen = [json.loads(line) for line in log.read_text().splitlines()]
        self.assertEqual(seen[0], [], "env.py saw tables before the build's first migration")
        self.assertEqual(len(seen), 2, seen)
        self.assertEqual(seen[1], [], "env.py saw tables in the no-trace check's empty database")

    def test_golden_and_every_clone_hold_exactly_what_alembic_upgrade_head_makes(self):
        expected = self.plain_upgrade_objects()
        self.assertIn(("table", "alembic_version", "alembic_version"), expected)
        database = self.database(keep=True)
        golden = database.ensure_golden()
        self.assertEqual(schema_objects(golden.url), expected)
        for kind in ("memory", "file"):
            with self.subTest(kind=kind):
                with database.clone(kind) as clone:
                    self.assertEqual(schema_objects(clone.url), expected)
                kept = database.clone(kind).keep(f"tests.InvisibleToTheApplicationTest.{kind}")
                self.assertEqual(schema_objects(f"sqlite:///{kept}"), expected)

    def test_the_migration_checks_empty_database_is_empty(self):
        with MigrationRunner(self.database()).empty_clone() as clone:
            self.assertEqual(schema_objects(clone.url), set())


class GoldenOnDiskCase(TempProjectCase):
    def build(self):
        golden = self.database().ensure_golden()
        self.assertTrue(golden.built)
        return golden

    def assertRebuilt(self, database=None):
        again = (database or self.database()).ensure_golden()
        self.assertTrue(again.built, "a golden that cannot be trusted was used")
        path = golden_path(again)
        self.assertFalse(path.is_symlink())
        self.assertEqual(stat.S_IMODE(path.lstat().st_mode), 0o600)
        self.assertEqual(authors(again.url), SEEDED_AUTHORS)
        return again

    def assertReused(self):
        again = self.database().ensure_golden()
        self.assertFalse(again.built, "a golden whose bytes are intact was rebuilt")
        return again

    def give_away(self, path):
        """Make ``path`` belong to another user (the test runs as root), until the test ends."""
        info = path.lstat()
        os.chown(path, OTHER_UID, -1, follow_symlinks=False)
        self.addCleanup(os.chown, path, info.st_uid, -1, follow_symlinks=False)


class ChangedBehindOurBackTest(GoldenOnDiskCase):
    """Any change to a golden file's bytes is caught, and the golden rebuilt."""

    def test_rows_changed_by_another_program_are_caught(self):
        golden = self.build()
        tamper(golden_path(golden), "UPDATE author SET name = 'Somebody Else'")
        self.assertRebuilt()

    def test_same_size_edit_with_its_times_put_back_is_caught(self):
        golden = self.build()
        path = golden_path(golden)
        before = path.stat()
        tamper(path, "UPDATE author SET name = 'Ursula K. Le Gxin'")
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        self.assertEqual(path.stat().st_size, before.st_size)
        self.assertRebuilt()

    def test_edit_within_the_timestamp_granularity_is_caught(self):
        # A record whose signature was taken in the same clock tick as the
        # last change cannot vouch for the bytes: simulate one, over an edit.
        golden = self.build()
        path, record = golden_path(golden), record_path(golden)
        tamper(path, "UPDATE author SET name = 'Ursula K. Le Gxin'")
        info = path.lstat()
        fields = json.loads(record.read_text())
        record.write_text(json.dumps({**fields, "signature": signature(info), "stamp_ns": info.st_ctime_ns}))
        self.assertRebuilt()

    def test_write_to_the_golden_during_a_run_is_caught_before_the_next_clone(self):
        database = self.database()
        golden = database.ensure_golden()
        with database.clone() as clone:
            self.assertEqual(authors(clone.url), SEEDED_AUTHORS)
        tamper(golden_path(golden), "DELETE FROM author")
        for kind in ("memory", "file"):
            with self.subTest(kind=kind), database.clone(kind) as clone:
                self.assertEqual(authors(clone.url), SEEDED_AUTHORS)

    def test_byte_identical_copy_is_trusted_after_hashing_and_restamped(self):
        # What restoring the cache from CI does: same bytes, new inode and times.
        golden = self.build()
        path = golden_path(golden)
        copy = self.tmp / "restored.sqlite"
        shutil.copy2(path, copy)
        os.replace(copy, path)
        # Reused at once, within the clock tick of the copy: trusted by its bytes,
        # but never restamped with a signature its stamp cannot vouch for.
        self.assertReused()
        fields = json.loads(record_path(golden).read_text())
        self.assertLess(fields["signature"][4], fields["stamp_ns"])
        wait_for_the_clock_to_pass(path)
        self.assertReused()
        fields = json.loads(record_path(golden).read_text())
        info = path.lstat()
        self.assertEqual(fields["signature"], signature(info))
        self.assertLess(info.st_ctime_ns, fields["stamp_ns"])
        self.assertReused()

    def test_record_of_another_fingerprint_is_rebuilt(self):
        golden = self.build()
        fields = json.loads(record_path(golden).read_text())
        record_path(golden).write_text(json.dumps({**fields, "fingerprint": "0" * 64}))
        self.assertRebuilt()

    def test_missing_unreadable_or_foreign_format_record_is_rebuilt(self):
        for name, damage in [
            ("missing", lambda record: record.unlink()),
            ("garbage", lambda record: record.write_bytes(b"\x00not json")),
            ("a list", lambda record: record.write_text("[]")),
            ("no checksum", lambda record: record.write_text(json.dumps(
                {k: v for k, v in json.loads(record.read_text()).items() if k != "checksum"}))),
        ]:
            with self.subTest(record=name):
                golden = self.database().ensure_golden()
                damage(record_path(golden))
                self.assertRebuilt()


class PrivateFilesTest(GoldenOnDiskCase):
    """Golden files are regular 0600 files of this user; folders below the cache are 0700 and ours."""

    def test_golden_replaced_by_a_symlink_is_not_followed(self):
        golden = self.build()
        path = golden_path(golden)
        elsewhere = self.tmp / "elsewhere.sqlite"
        shutil.copy2(path, elsewhere)
        untouched = elsewhere.read_bytes()
        path.unlink()
        path.symlink_to(elsewhere)
        self.assertRebuilt()
        self.assertEqual(elsewhere.read_bytes(), untouched)

    def test_record_replaced_by_a_symlink_is_not_followed(self):
        golden = self.build()
        record = record_path(golden)
        elsewhere = self.tmp / "elsewhere.json"
        shutil.copy2(record, elsewhere)
        record.unlink()
        record.symlink_to(elsewhere)
        self.assertRebuilt()
        self.assertTrue(elsewhere.is_file())

    def test_golden_or_record_with_another_mode_is_rebuilt(self):
        for which in ("golden", "record"):
            for mode in (0o644, 0o666, 0o400):
                with self.subTest(which=which, mode=f"{mode:o}"):
                    golden = self.database().ensure_golden()
                    (golden_path if which == "golden" else record_path)(golden).chmod(mode)
                    again = self.assertRebuilt()
                    self.assertEqual(stat.S_IMODE(record_path(again).stat().st_mode), 0o600)

    @needs_root
    def test_golden_or_record_of_another_user_is_refused_and_left_alone(self):
        for which in ("golden", "record"):
            with self.subTest(which=which):
                golden = self.database().ensure_golden()
                path = (golden_path if which == "golden" else record_path)(golden)
                self.give_away(path)
                with self.assertRaises(dbtestkit.DbtestkitError) as caught:
                    self.database().ensure_golden()
                message = str(caught.exception)
                self.assertIn(str(path), message)
                self.assertIn("another user (uid 65534)", message)
                self.assertIn("Delete it", message)
                self.assertEqual(path.lstat().st_uid, OTHER_UID, "another user's file was replaced")
                os.chown(path, os.getuid(), -1)

    @needs_root
    def test_cache_subfolder_of_another_user_is_refused(self):
        database = self.database()
        database.ensure_golden()
        sqlite_dir = self.cache_dir / "sqlite"
        attempts = {
            "sqlite": lambda: self.database(),
            "sqlite/clones": lambda: self.database().clone("file"),
            "sqlite/kept": lambda: database.clone().keep("tests.T.test_x"),
        }
        for folder, attempt in attempts.items():
            with self.subTest(folder=folder):
                path = self.cache_dir / folder
                path.mkdir(mode=0o700, exist_ok=True)
                self.give_away(path)
                with self.assertRaises(dbtestkit.ConfigurationError) as caught:
                    attempt()
                self.assertIn(f"{path.resolve()} belongs to another user", str(caught.exception))
                os.chown(path, os.getuid(), -1)
        self.assertEqual(sorted(p.name for p in (sqlite_dir / "kept").iterdir()), [])

    def test_open_cache_subfolder_is_made_private(self):
        database = self.database()
        database.ensure_golden()
        database.clone("file").drop()
        database.clone().keep("tests.T.test_x")
        for folder in ("sqlite", "sqlite/clones", "sqlite/kept"):
            with self.subTest(folder=folder):
                path = self.cache_dir / folder
                path.chmod(0o777)
                database = self.database()
                database.ensure_golden()
                database.clone("file").drop()
                list(database.backend.list_kept())
                self.assertEqual(stat.S_IMODE(path.stat().st_mode), 0o700)


class KeptClonesTest(GoldenOnDiskCase):
    """list_kept() and delete_kept() on SQLite: what a kept clone records, and what may be deleted."""

    def keep(self, database, test_id, kind):
        """Write a row to a new clone and keep it, as a failed test would; return where it is."""
        clone = database.clone(kind)
        with clone.engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO author (name) VALUES ('Kept')"))
        return clone.keep(test_id)

    def test_each_kept_clone_records_its_test_time_and_project(self):
        database = self.database(name="shop")
        before = time.time()
        locations = [self.keep(database, "tests.T.test_x", kind) for kind in ("memory", "file", "memory")]
        self.assertEqual(len(set(locations)), 3)
        kept = sorted(database.backend.list_kept())
        self.assertEqual(sorted(k.location for k in kept), sorted(locations))
        for entry in kept:
            self.assertEqual((entry.test_id, entry.label), ("tests.T.test_x", "shop"))
            self.assertGreaterEqual(entry.kept_at, before - 1)
            self.assertLessEqual(entry.kept_at, time.time())
            self.assertEqual(authors(f"sqlite:///{entry.location}"), [*SEEDED_AUTHORS, ("Kept",)])
            self.assertEqual(stat.S_IMODE(Path(entry.location).stat().st_mode), 0o600)
        database.backend.delete_kept(kept[0])
        self.assertFalse(Path(kept[0].location).exists())
        self.assertFalse(Path(kept[0].location).with_suffix(".json").exists())
        self.assertEqual(len(list(database.backend.list_kept())), 2)

    def test_a_kept_file_without_its_sidecar_is_listed_as_unknown(self):
        # A kill between keeping the file and writing its sidecar.
        database = self.database()
        location = Path(self.keep(database, "tests.T.test_x", "memory"))
        location.with_suffix(".json").unlink()
        [entry] = database.backend.list_kept()
        self.assertEqual((entry.location, entry.test_id, entry.label), (str(location), "", ""))
        self.assertEqual(database.prune_kept(), [], "a kept clone of no known project was pruned")
        self.assertEqual(database.backend.prune_kept(), [entry])
        self.assertFalse(location.exists())

    def test_delete_kept_refuses_anything_but_a_kept_clone(self):
        from dbtestkit.backends.records import KeptClone

        database = self.database()
        golden = database.ensure_golden()
        for location in (golden_path(golden), record_path(golden), self.tmp / "kept" / "x.sqlite"):
            with self.subTest(location=location.name):
                with self.assertRaises(dbtestkit.DbtestkitError) as caught:
                    database.backend.delete_kept(KeptClone(str(location), "t", 0.0, "project"))
                self.assertIn("dbtestkit deletes only its own", str(caught.exception))
        self.assertFalse(database.ensure_golden().built)

    @needs_root
    def test_a_kept_file_of_another_user_is_neither_listed_nor_deleted(self):
        database = self.database()
        location = Path(self.keep(database, "tests.T.test_x", "file"))
        self.give_away(location)
        self.assertEqual(list(database.backend.list_kept()), [])
        from dbtestkit.backends.records import KeptClone

        with self.assertRaises(dbtestkit.DbtestkitError):
            database.backend.delete_kept(KeptClone(str(location), "t", 0.0, ""))
        self.assertTrue(location.exists())


if __name__ == "__main__":
    unittest.main()
