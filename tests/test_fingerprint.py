"""The fingerprint: which edits change the cache key of a golden, and which must not."""

import importlib
import json
import os
import shutil
import sys
import textwrap
import uuid

import sqlalchemy as sa

from tests.support import ALEMBIC_INI, TempProjectCase, run_python, write_revision


def _replace_once(path, old, new):
    text = path.read_text()
    if text.count(old) != 1:
        raise AssertionError(f"{old!r} occurs {text.count(old)} times in {path}")
    path.write_text(text.replace(old, new))


class AlembicFingerprintTest(TempProjectCase):
    """Fingerprints of an Alembic project, computed from real files."""

    def fingerprint(self, **kwargs):
        return self.database(**kwargs).fingerprint()

    def assertChangedBy(self, edit):
        before = self.fingerprint()
        edit()
        self.assertNotEqual(before, self.fingerprint())

    def assertUnchangedBy(self, edit):
        before = self.fingerprint()
        edit()
        self.assertEqual(before, self.fingerprint())

    # -- determinism ---------------------------------------------------------

    def test_fingerprint_is_a_hex_sha256(self):
        self.assertRegex(self.fingerprint(), r"^[0-9a-f]{64}$")

    def test_same_project_gives_same_fingerprint(self):
        self.assertEqual(self.fingerprint(), self.fingerprint())

    def test_copy_of_project_in_another_directory_gives_same_fingerprint(self):
        # CI checks out the same commit into different folders; they must share a cache key.
        copy = self.tmp / "elsewhere" / "checkout"
        shutil.copytree(self.ini.parent, copy)
        original = self.fingerprint()
        relocated = self.fingerprint(alembic_ini=copy / "alembic.ini")
        self.assertEqual(original, relocated)

    def test_copy_with_version_locations_in_another_directory_gives_same_fingerprint(self):
        self._add_second_version_location()
        copy = self.tmp / "elsewhere" / "checkout"
        shutil.copytree(self.ini.parent, copy)
        self.assertEqual(self.fingerprint(), self.fingerprint(alembic_ini=copy / "alembic.ini"))

    def test_cache_directory_does_not_enter_fingerprint(self):
        other_cache = self.tmp / "other-cache"
        self.assertEqual(self.fingerprint(), self.fingerprint(cache_dir=other_cache))

    def test_fingerprint_is_the_same_in_another_process(self):
        code = textwrap.dedent("""
            import sys, dbtestkit
            print(dbtestkit.TestDatabase(alembic_ini=sys.argv[1], cache_dir=sys.argv[2]).fingerprint())
        """)
        result = run_python(["-c", code, str(self.ini), str(self.cache_dir)], cwd=self.tmp)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), self.fingerprint())

    # -- edits that change what the golden holds --------------------------------

    def test_editing_one_byte_of_a_migration_changes_fingerprint(self):
        revision = self.versions / "0001_create_author.py"
        self.assertChangedBy(lambda: _replace_once(revision, "String(100)", "String(101)"))

    def test_editing_env_py_changes_fingerprint(self):
        env_py = self.versions.parent / "env.py"
        self.assertChangedBy(lambda: env_py.write_text(env_py.read_text() + "\n# tweak\n"))

    def test_adding_a_revision_changes_fingerprint(self):
        self.assertChangedBy(lambda: write_revision(
            self.versions, "0005", "create shelf",
            'op.create_table("shelf", sa.Column("id", sa.Integer, primary_key=True))',
            down_revision="0004",
        ))

    def test_adding_a_version_location_changes_fingerprint(self):
        self.assertChangedBy(self._add_second_version_location)

    def test_editing_a_revision_in_second_version_location_changes_fingerprint(self):
        extra = self._add_second_version_location()
        self.assertChangedBy(lambda: _replace_once(extra, '"shelf"', '"shelv"'))

    def test_adding_a_revision_to_second_version_location_changes_fingerprint(self):
        self._add_second_version_location()
        self.assertChangedBy(lambda: write_revision(
            self.tmp / "project" / "more_versions", "0006", "create rack",
            'op.create_table("rack", sa.Column("id", sa.Integer, primary_key=True))',
            down_revision="0005",
        ))

    def _add_second_version_location(self):
        more = self.tmp / "project" / "more_versions"
        more.mkdir()
        path = write_revision(
            more, "0005", "create shelf",
            'op.create_table("shelf", sa.Column("id", sa.Integer, primary_key=True))',
            down_revision="0004",
        )
        locations = os.pathsep.join(["%(here)s/migrations/versions", "%(here)s/more_versions"])
        self.ini.write_text(ALEMBIC_INI.replace(
            "path_separator = os\n", f"path_separator = os\nversion_locations = {locations}\n"
        ))
        return path

    # -- edits that do not change what the golden holds ---------------------------

    def test_readme_beside_alembic_ini_does_not_change_fingerprint(self):
        self.assertUnchangedBy(lambda: (self.ini.parent / "README").write_text("notes\n"))

    def test_pycache_file_in_versions_does_not_change_fingerprint(self):
        def add_pyc():
            cache = self.versions / "__pycache__"
            cache.mkdir(exist_ok=True)
            (cache / "0001_create_author.cpython-311.pyc").write_bytes(b"\x00compiled")

        self.assertUnchangedBy(add_pyc)

    def test_text_file_in_versions_does_not_change_fingerprint(self):
        self.assertUnchangedBy(lambda: (self.versions / "notes.txt").write_text("todo\n"))

    def test_script_py_mako_does_not_change_fingerprint(self):
        mako = self.versions.parent / "script.py.mako"
        self.assertUnchangedBy(lambda: mako.write_text('"""${message}"""\n'))

    def test_loggers_section_of_alembic_ini_does_not_change_fingerprint(self):
        self.assertUnchangedBy(lambda: _replace_once(self.ini, "level = WARNING", "level = DEBUG"))

    def test_sqlalchemy_url_in_alembic_ini_does_not_change_fingerprint(self):
        self.assertUnchangedBy(lambda: _replace_once(
            self.ini, "driver://user:pass@localhost/dbname", "postgresql://app@db.example/app"
        ))

    # -- no imports ---------------------------------------------------------------

    def test_fingerprint_does_not_import_migrations_or_alembic(self):
        broken = write_revision(self.versions, "0005", "broken", "pass", down_revision="0004")
        broken.write_text(
            'raise RuntimeError("imported a migration")\n'
            "import nonexistent_app_module\n"
            'revision = "0005"\ndown_revision = "0004"\n'
        )
        code = textwrap.dedent("""
            import json, sys, dbtestkit
            database = dbtestkit.TestDatabase(alembic_ini=sys.argv[1], cache_dir=sys.argv[2])
            fingerprint = database.fingerprint()
            print(json.dumps({
                "fingerprint": fingerprint,
                "alembic": sorted(m for m in sys.modules if m == "alembic" or m.startswith("alembic.")),
                "app": "nonexistent_app_module" in sys.modules,
            }))
        """)
        result = run_python(["-c", code, str(self.ini), str(self.cache_dir)], cwd=self.tmp)
        self.assertEqual(result.returncode, 0, result.stderr)
        report = json.loads(result.stdout)
        self.assertRegex(report["fingerprint"], r"^[0-9a-f]{64}$")
        self.assertEqual(report["alembic"], [])
        self.assertFalse(report["app"])
        self.assertEqual(report["fingerprint"], self.fingerprint())


def _library_metadata(extra_column=False):
    metadata = sa.MetaData()
    sa.Table(
        "widget", metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50), nullable=False, index=True),
        *([sa.Column("colour", sa.String(20))] if extra_column else []),
    )
    sa.Table(
        "part", metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("widget_id", sa.Integer, sa.ForeignKey("widget.id")),
    )
    return metadata


class MetadataFingerprintTest(TempProjectCase):
    """Fingerprints of a ``metadata=`` schema source."""

    def fingerprint(self, metadata):
        return self.database(alembic_ini=None, metadata=metadata).fingerprint()

    def test_equal_metadata_gives_same_fingerprint(self):
        self.assertEqual(self.fingerprint(_library_metadata()), self.fingerprint(_library_metadata()))

    def test_adding_a_column_changes_fingerprint(self):
        self.assertNotEqual(
            self.fingerprint(_library_metadata()),
            self.fingerprint(_library_metadata(extra_column=True)),
        )

    def test_metadata_and_alembic_sources_differ(self):
        self.assertNotEqual(self.fingerprint(_library_metadata()), self.database().fingerprint())


SEED_MODULE = '''\
def seed(connection):
    connection.exec_driver_sql("INSERT INTO author (name) VALUES ('Ada Lovelace')")
'''


class SeedFingerprintTest(TempProjectCase):
    """Seeds are part of what a golden holds, so their source is fingerprinted."""

    def import_seed_module(self):
        folder = self.tmp / "seedmodules"
        folder.mkdir()
        name = f"dbtestkit_seed_{uuid.uuid4().hex}"
        path = folder / f"{name}.py"
        path.write_text(SEED_MODULE)
        sys.path.insert(0, str(folder))
        self.addCleanup(sys.path.remove, str(folder))
        self.addCleanup(sys.modules.pop, name, None)
        importlib.invalidate_caches()
        return importlib.import_module(name), path

    def test_callable_seed_fingerprint_is_stable(self):
        module, _ = self.import_seed_module()
        self.assertEqual(
            self.database(seeds=[module.seed]).fingerprint(),
            self.database(seeds=[module.seed]).fingerprint(),
        )

    def test_adding_a_seed_changes_fingerprint(self):
        module, _ = self.import_seed_module()
        self.assertNotEqual(
            self.database().fingerprint(), self.database(seeds=[module.seed]).fingerprint()
        )

    def test_editing_callable_seed_source_changes_fingerprint(self):
        module, path = self.import_seed_module()
        before = self.database(seeds=[module.seed]).fingerprint()
        path.write_text(SEED_MODULE.replace("Ada Lovelace", "Grace Hopper"))
        module = importlib.reload(module)
        self.assertNotEqual(before, self.database(seeds=[module.seed]).fingerprint())

    def test_editing_sql_seed_file_changes_fingerprint(self):
        seed = self.tmp / "seed.sql"
        seed.write_text("INSERT INTO author (name) VALUES ('Ada Lovelace');\n")
        before = self.database(seeds=[seed]).fingerprint()
        self.assertEqual(before, self.database(seeds=[seed]).fingerprint())
        seed.write_text("INSERT INTO author (name) VALUES ('Ada Lovelacf');\n")
        self.assertNotEqual(before, self.database(seeds=[seed]).fingerprint())

    def test_sql_seed_in_a_checkout_in_another_directory_gives_same_fingerprint(self):
        # metadata= keeps the Alembic paths out of it: only the seed's location differs.
        fingerprints = []
        for checkout in ("ci-job-1", "ci-job-2"):
            seed = self.tmp / checkout / "seeds" / "authors.sql"
            seed.parent.mkdir(parents=True)
            seed.write_text("INSERT INTO author (name) VALUES ('Ada Lovelace');\n")
            database = self.database(alembic_ini=None, metadata=_library_metadata(), seeds=[seed])
            fingerprints.append(database.fingerprint())
        self.assertEqual(fingerprints[0], fingerprints[1])


if __name__ == "__main__":
    import unittest

    unittest.main()
