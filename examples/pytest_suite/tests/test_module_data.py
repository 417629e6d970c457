"""Data loaded once for the whole module: every test here sees it, other modules do not."""

import sqlalchemy as sa

from bookshop.models import Author
from bookshop.service import BookService
from dbtestkit.pytest_plugin import test_data


@test_data
def herbert(connection):
    """One author, for every test of this module."""
    return connection.execute(
        sa.insert(Author).values(name="Frank Herbert", sort_name="Herbert, Frank")
    ).inserted_primary_key[0]


def test_a_book_by_the_module_author(db_session, herbert):
    book = BookService(db_session).register("Dune", "Frank Herbert")
    assert book.author_id == herbert


class TestInAClass:
    def test_classes_see_the_module_data_too(self, db_session, herbert):
        assert db_session.get(Author, herbert).name == "Frank Herbert"
