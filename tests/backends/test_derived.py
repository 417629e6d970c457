"""Derived goldens: ``DB.with_seeds(...)`` builds from a copy of DB's golden, without its migrations."""

from pathlib import Path

import sqlalchemy as sa

import dbtestkit
from tests.backends import for_each_backend
from tests.support import write_revision


def add_readers(connection):
    """A seed: two readers (the table comes from the counted revision)."""
    connection.execute(sa.text("INSERT INTO reader (name) VALUES ('Ann'), ('Bob')"))


def add_books(connection):
    """A seed: a book by the golden's author."""
    connection.execute(sa.text("INSERT INTO book (title, author_id) SELECT 'Earthsea', id FROM author"))


def contents(url):
    """Return every table of the database at ``url`` with its rows, sorted: what a test can see."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            tables = sorted(sa.inspect(connection).get_table_names())
            return {table: sorted(tuple(row) for row in connection.execute(sa.text(f"SELECT * FROM {table}")))
                    for table in tables}
    finally:
        engine.dispose()


@for_each_backend()
class DerivedGoldens:
    """with_seeds(): a golden built from the parent golden, cached under its fingerprint and the seeds"""

    def setUp(self):
        super().setUp()
        # A revision that counts its upgrades: proof that a derived build runs no migration.
        self.upgrades = Path(self.tmp) / "upgrades.log"
        write_revision(self.versions, "0005", "create reader", (
            f"with open({str(self.upgrades)!r}, 'a') as log:\n    log.write('up\\n')\n"
            'op.create_table("reader", sa.Column("id", sa.Integer, primary_key=True), '
            'sa.Column("name", sa.String(50)))'
        ), 'op.drop_table("reader")', down_revision="0004")

    def strays(self, *databases):
        """Return what exists besides the goldens of ``databases`` (should be nothing)."""
        fingerprints = [database.fingerprint() for database in databases]
        return [artifact for artifact in self.side.artifacts(fingerprints[0], self.cache_dir)
                if not any(self.side.is_golden(fp, artifact) for fp in fingerprints)]

    def upgrade_count(self):
        return len(self.upgrades.read_text().splitlines()) if self.upgrades.exists() else 0

    def derived(self, parent, *seeds, **kwargs):
        derived = parent.with_seeds(*seeds, **kwargs)
        self.side.forget_after(self, derived)
        return derived

    def test_cold_then_warm_without_running_the_migrations_again(self):
        parent = self.make_database()
        parent.ensure_golden()
        self.assertEqual(self.upgrade_count(), 1)
        derived = self.derived(parent, add_readers)
        self.assertTrue(derived.ensure_golden().built)
        self.assertEqual(self.upgrade_count(), 1, "the derived build ran the migrations again")
        again = self.derived(self.make_database(), add_readers)
        self.assertFalse(again.ensure_golden().built)
        self.assertEqual(again.fingerprint(), derived.fingerprint())
        with again.clone() as clone:
            rows = contents(clone.url)
        self.assertEqual([name for _, name in rows["reader"]], ["Ann", "Bob"])
        with parent.clone() as clone:
            self.assertEqual(contents(clone.url)["reader"], [], "the parent golden changed")
        self.assertEqual(again.name, f"{parent.name}+add_readers")
        parent.close()
        derived.close()
        again.close()
        self.assertEqual(self.strays(derived, parent), [])

    def test_parent_change_rebuilds_it(self):
        parent = self.make_database()
        before = self.derived(parent, add_readers).fingerprint()
        write_revision(self.versions, "0006", "add email", (
            'op.add_column("reader", sa.Column("email", sa.String(80)))'
        ), 'op.drop_column("reader", "email")', down_revision="0005")
        changed = self.derived(self.make_database(), add_readers)
        self.assertNotEqual(changed.fingerprint(), before)
        self.assertTrue(changed.ensure_golden().built)
        with changed.clone() as clone:
            self.assertEqual(contents(clone.url)["reader"], [(1, "Ann", None), (2, "Bob", None)])

    def test_seed_change_rebuilds_it(self):
        seed = Path(self.tmp) / "readers.sql"
        seed.write_text("INSERT INTO reader (name) VALUES ('Ann');\n")
        first = self.derived(self.make_database(), seed)
        self.assertTrue(first.ensure_golden().built)
        first_fingerprint = first.fingerprint()
        self.assertEqual(first.name, f"{first.golden.parent.name}+readers")
        seed.write_text("INSERT INTO reader (name) VALUES ('Cy');\n")
        second = self.derived(self.make_database(), seed)
        self.assertNotEqual(second.fingerprint(), first_fingerprint)
        self.assertTrue(second.ensure_golden().built)
        with second.clone() as clone:
            self.assertEqual([name for _, name in contents(clone.url)["reader"]], ["Cy"])
        self.assertEqual(self.upgrade_count(), 1)

    def test_same_as_a_build_from_empty_with_the_same_seeds(self):
        derived = self.derived(self.make_database(seeds=[add_readers]), add_books, name="derived")
        from_empty = self.make_database(seeds=[add_readers, add_books], name="from-empty")
        with derived.clone() as one, from_empty.clone() as other:
            self.assertEqual(contents(one.url), contents(other.url))
            self.assertIn(("Earthsea",), [row[1:2] for row in contents(one.url)["book"]])
        self.assertEqual([seed.identity for seed in derived.golden.seeds],
                         [seed.identity for seed in from_empty.golden.seeds])

    def test_derived_of_a_derived_golden(self):
        twice = self.derived(self.derived(self.make_database(), add_readers), add_books)
        with twice.clone() as clone:
            rows = contents(clone.url)
        self.assertEqual(len(rows["reader"]), 2)
        self.assertEqual(len(rows["book"]), 1)
        self.assertEqual(self.upgrade_count(), 1)

    def test_failing_seed_is_a_migration_error_and_leaves_only_the_parent(self):
        def broken(connection):
            connection.execute(sa.text("INSERT INTO no_such_table VALUES (1)"))

        parent = self.make_database()
        derived = self.derived(parent, broken)
        with self.assertRaises(dbtestkit.MigrationError) as caught:
            derived.ensure_golden()
        self.assertIn("broken", str(caught.exception))
        self.assertIsNone(derived.backend.read_record(derived.fingerprint()))
        self.assertEqual(self.strays(derived, parent), [])
        self.assertTrue(self.side.has_golden(parent.fingerprint(), self.cache_dir))

    def test_with_seeds_needs_a_seed(self):
        with self.assertRaises(dbtestkit.ConfigurationError):
            self.make_database().with_seeds()
        with self.assertRaises(dbtestkit.ConfigurationError):
            self.make_database().with_seeds("not-a-seed")
