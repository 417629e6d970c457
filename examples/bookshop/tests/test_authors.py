"""Author tests: a connection per class, and the database named by setup.cfg.

These classes set no ``database`` attribute: dbtestkit reads ``alembic_ini``
from the ``[dbtestkit]`` section of ../setup.cfg instead.
"""

import sqlalchemy as sa

import dbtestkit
from bookshop.models import Author, Genre, sort_name_for
from bookshop.service import BookService


def insert_authors(connection: sa.Connection, *names: str) -> None:
    """Insert authors by name, with their sort names."""
    connection.execute(
        sa.insert(Author), [{"name": name, "sort_name": sort_name_for(name)} for name in names]
    )


def author_names(connection: sa.Connection) -> set:
    """Return the names of every author the connection can see."""
    return set(connection.scalars(sa.select(Author.name)))


class FantasyShelfTests(dbtestkit.DatabaseTestCase):
    """Sees the fantasy authors its setUpTestData inserts, and nobody else's."""

    @classmethod
    def setUpTestData(cls, connection):
        insert_authors(connection, "Terry Pratchett", "Ursula Le Guin")

    def test_sees_its_own_authors(self):
        self.assertEqual(author_names(self.connection), {"Terry Pratchett", "Ursula Le Guin"})

    def test_does_not_see_the_other_class_authors(self):
        self.assertNotIn("Isaac Asimov", author_names(self.connection))

    # unittest runs a class's tests in alphabetical order, so this one goes first...
    def test_delete_every_author(self):
        self.connection.execute(sa.delete(Author))
        self.assertEqual(author_names(self.connection), set())

    # ...and this one proves the class data came back for the next test.
    def test_every_author_is_back(self):
        self.assertEqual(author_names(self.connection), {"Terry Pratchett", "Ursula Le Guin"})

    def test_shelf_order_uses_sort_names(self):
        self.assertEqual(
            BookService(self.session).authors_in_shelf_order(),
            ["Ursula Le Guin", "Terry Pratchett"],  # "Guin, Ursula Le" < "Pratchett, Terry"
        )


class ScienceFictionShelfTests(dbtestkit.DatabaseTestCase):
    """Sees the science fiction authors its setUpTestData inserts, and nobody else's."""

    @classmethod
    def setUpTestData(cls, connection):
        insert_authors(connection, "Isaac Asimov", "Frank Herbert", "Octavia Butler")

    def test_sees_its_own_authors(self):
        self.assertEqual(
            author_names(self.connection), {"Isaac Asimov", "Frank Herbert", "Octavia Butler"}
        )

    def test_does_not_see_the_other_class_authors(self):
        self.assertNotIn("Terry Pratchett", author_names(self.connection))

    # Runs before the next test (alphabetical order), which checks the rename was undone.
    def test_rename_an_author_through_the_session(self):
        author = self.session.scalars(sa.select(Author).where(Author.name == "Octavia Butler")).one()
        author.name = "Octavia E. Butler"
        self.session.commit()  # committed, yet undone before the next test

        self.assertIn("Octavia E. Butler", author_names(self.connection))

    def test_unchanged_after_the_rename(self):
        self.assertEqual(
            author_names(self.connection), {"Isaac Asimov", "Frank Herbert", "Octavia Butler"}
        )


class EmptyShelfTests(dbtestkit.DatabaseTestCase):
    """Without setUpTestData a class starts from the migrated, empty database."""

    def test_no_authors_at_all(self):
        self.assertEqual(author_names(self.connection), set())

    def test_genres_seeded_by_the_migrations_are_there(self):
        genres = set(self.connection.scalars(sa.select(Genre.name)))
        self.assertIn("Science Fiction", genres)
