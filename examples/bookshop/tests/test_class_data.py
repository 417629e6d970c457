"""Class data in clone-per-test classes, and a golden with more seeds on top of DB's."""

import sqlalchemy as sa

import dbtestkit
from bookshop.models import Author

from .database import DB


class ShelfTests(dbtestkit.GoldenFileTestCase):
    database = DB

    @classmethod
    def setUpTestData(cls, connection):
        # Once per class, committed into a class snapshot: each test gets a copy of it.
        connection.execute(sa.insert(Author), [
            {"name": "Ursula K. Le Guin", "sort_name": "Le Guin, Ursula K."},
            {"name": "Frank Herbert", "sort_name": "Herbert, Frank"},
        ])

    def count_authors(self):
        with self.engine.connect() as connection:  # any engine or connection sees the copy
            return connection.scalar(sa.select(sa.func.count()).select_from(Author))

    def test_a_delete_commits_for_real(self):
        with self.engine.begin() as connection:
            connection.execute(sa.delete(Author))
        self.assertEqual(self.count_authors(), 0)

    def test_b_the_class_data_is_back(self):
        self.assertEqual(self.count_authors(), 2)


def add_homer(connection):
    connection.execute(sa.insert(Author).values(name="Homer", sort_name="Homer"))


# A copy of DB's golden with add_homer run on it: the migrations do not run again.
CLASSICS = DB.with_seeds(add_homer)


class ClassicsTests(dbtestkit.DatabaseTestCase):
    database = CLASSICS

    def test_homer_is_in_the_golden(self):
        self.assertEqual(self.session.scalars(sa.select(Author.name)).all(), ["Homer"])
