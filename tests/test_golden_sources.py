"""What shapes a golden besides the migrations: seeds, MetaData instead of Alembic, steps before the migrations."""

import unittest

import sqlalchemy as sa

import dbtestkit
from dbtestkit.exceptions import MigrationError
from tests.support import TempProjectCase, query, table_names


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


if __name__ == "__main__":
    unittest.main()
