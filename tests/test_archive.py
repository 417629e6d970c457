"""Golden archives: exported, restored exactly, refused when damaged, written whole or not at all."""

import contextlib
import io
import os
import subprocess
import sys

from dbtestkit.backends.archive_format import MAGIC
from dbtestkit.backends.processes import this_host
from dbtestkit.exceptions import DbtestkitError
from dbtestkit.golden.archive import archive_path
from tests.backends import for_each_backend
from tests.golden_snapshots import HISTORY, NEXT_REVISION, snapshot
from tests.support import run_python, write_revision


@for_each_backend()
class GoldenArchives:
    """A golden archived, dropped and restored is the golden it was"""

    revisions = HISTORY

    def setUp(self):
        super().setUp()
        self.archive = self.tmp / "ci-cache"
        self.first = self.make_database(archive=self.archive)

    def restore(self):
        """Drop the golden (as a fresh CI server would not have it) and ensure it again."""
        self.first.backend.discard_golden(self.first.fingerprint())
        database = self.make_database(archive=self.archive)
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            golden = database.ensure_golden()
        return database, golden, stderr.getvalue()

    def test_a_built_golden_is_archived_and_restored_exactly_instead_of_migrated(self):
        built = self.first.ensure_golden()
        path = archive_path(self.archive, built.fingerprint, self.first.backend)
        self.assertTrue(path.is_file())
        # Written whole: no temporary file is left beside it.
        self.assertEqual(os.listdir(self.archive), [path.name])
        with self.first.clone() as clone:
            original = snapshot(clone.url)
        database, golden, _ = self.restore()
        self.assertTrue(golden.restored)
        with database.clone() as clone:
            self.assertEqual(snapshot(clone.url), original)
        self.assertEqual(original["alembic_version"]["rows"], ["('0004',)"])

    def test_a_damaged_archive_is_refused_saying_so_and_the_golden_is_built(self):
        golden = self.first.ensure_golden()
        path = archive_path(self.archive, golden.fingerprint, self.first.backend)
        data = bytearray(path.read_bytes())
        data[-20] ^= 0x01
        path.write_bytes(bytes(data))
        database, golden, stderr = self.restore()
        self.assertFalse(golden.restored)
        self.assertTrue(golden.built)
        self.assertIn(f"golden archive {path} refused: its contents do not match the SHA-256", stderr)
        self.assertIn("from the migrations instead", stderr)
        with database.clone() as clone:
            self.assertEqual(snapshot(clone.url)["alembic_version"]["rows"], ["('0004',)"])

    def test_an_archive_whose_restored_database_differs_from_its_digest_is_refused(self):
        golden = self.first.ensure_golden()
        path = archive_path(self.archive, golden.fingerprint, self.first.backend)
        data = path.read_bytes()
        header_end = data.index(b"\n", len(MAGIC))
        # A consistent file (its SHA-256 still matches) vouching for another database.
        path.write_bytes(data[:header_end].replace(b'"digest": "', b'"digest": "x') + data[header_end:])
        if self.backend == "sqlite":
            self.skipTest("a SQLite archive is the golden's file itself: its SHA-256 is its digest")
        _, golden, stderr = self.restore()
        self.assertFalse(golden.restored)
        self.assertIn("the restored database differs from the golden it was made from", stderr)

    def test_a_longer_history_grows_from_the_restored_archive_of_its_prefix(self):
        prefix = self.first.ensure_golden()
        self.first.backend.discard_golden(prefix.fingerprint)
        identifier, message, upgrade, downgrade = NEXT_REVISION
        write_revision(self.versions, identifier, message, upgrade, downgrade, "0004")
        database = self.make_database(archive=self.archive)
        with contextlib.redirect_stderr(io.StringIO()):
            golden = database.ensure_golden()
        self.assertEqual(golden.parent, prefix.fingerprint)
        self.assertTrue(archive_path(self.archive, golden.fingerprint, database.backend).is_file())
        with database.clone() as clone:
            self.assertEqual(snapshot(clone.url)["alembic_version"]["rows"], ["('0005',)"])

    def test_export_writes_the_current_golden_named_by_its_fingerprint(self):
        elsewhere = self.tmp / "exported"
        path = self.first.export(elsewhere)
        self.assertEqual(path, archive_path(elsewhere, self.first.fingerprint(), self.first.backend))
        self.assertTrue(path.read_bytes().startswith(MAGIC))
        self.assertEqual(path.stat().st_mode & 0o777, 0o600)


@for_each_backend("sqlite")
class ArchiveWrites:
    """An archive is written whole; what a killed writer left is removed by the next writer"""

    revisions = HISTORY

    def test_the_temporary_file_of_a_killed_writer_is_never_read_and_removed_by_the_next(self):
        database = self.make_database()
        archive = self.tmp / "archive"
        archive.mkdir()
        name = archive_path(archive, database.fingerprint(), database.backend).name
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout.strip()
        half = archive / f".{name}-{this_host()}-{dead}-1-abcdef-x1y2"
        half.write_bytes(MAGIC + b"half an archive")
        mine = archive / f".{name}-{this_host()}-{os.getpid()}-99-abcdef-x1y2"
        mine.write_bytes(b"being written by this process")
        database.export(archive)
        self.assertEqual(sorted(os.listdir(archive)), sorted([name, mine.name]))


@for_each_backend("sqlite")
class ArchiveCommandLine:
    """dbtestkit export DIR, and DBTESTKIT_ARCHIVE"""

    revisions = HISTORY

    def test_export_prints_the_archive_and_a_run_with_dbtestkit_archive_restores_it(self):
        archive = self.tmp / "cache-key-dir"
        env = {"DBTESTKIT_CACHE_DIR": str(self.cache_dir), "DBTESTKIT_ALEMBIC_INI": str(self.ini)}
        result = run_python(["-m", "dbtestkit", "export", str(archive)], env=env)
        self.assertEqual(result.returncode, 0, result.stderr)
        fingerprint = self.make_database().fingerprint()
        self.assertEqual(result.stdout.strip(), str(archive / f"dbtestkit-sqlite-{fingerprint}.golden"))
        fresh = {**env, "DBTESTKIT_CACHE_DIR": str(self.tmp / "fresh"), "DBTESTKIT_ARCHIVE": str(archive)}
        result = run_python(["-m", "dbtestkit", "build"], env=fresh)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("restored from the archive", result.stdout)


@for_each_backend("postgresql")
class Unarchivable:
    """A PostgreSQL golden the dumper cannot carry exactly is not archived"""

    revisions = HISTORY + [("0005", "domain", 'op.execute("CREATE DOMAIN stars AS integer CHECK (VALUE > 0)")',
                            'op.execute("DROP DOMAIN stars")')]

    def test_a_golden_holding_a_domain_cannot_be_exported_and_its_build_says_so(self):
        archive = self.tmp / "ci-cache"
        database = self.make_database(archive=archive)
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            golden = database.ensure_golden()
        self.assertTrue(golden.built)
        self.assertIn("was not archived", stderr.getvalue())
        self.assertIn("a domain, range or base type (stars)", stderr.getvalue())
        self.assertFalse(archive.exists() and os.listdir(archive))
        with self.assertRaises(DbtestkitError):
            database.export(archive)
