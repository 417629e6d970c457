"""BookService tests: one SAVEPOINT per test, one connection for the whole module."""

from decimal import Decimal

import pytest
import sqlalchemy as sa

from bookshop.models import Author, Book
from bookshop.service import BookService, DuplicateBook, OutOfStock
from dbtestkit.pytest_plugin import test_data


def count_books(connection):
    return connection.scalar(sa.select(sa.func.count()).select_from(Book))


def test_register_commits_and_a_fresh_query_sees_the_book(db_session, db_connection):
    BookService(db_session).register("Dune", "Frank Herbert", isbn="9780441172719", price=Decimal("9.99"))

    db_session.expire_all()
    book = db_session.scalars(sa.select(Book).where(Book.isbn == "9780441172719")).one()
    assert book.author.sort_name == "Herbert, Frank"
    assert count_books(db_connection) == 1


def test_the_previous_test_left_nothing_behind(db_connection):
    assert count_books(db_connection) == 0


def test_a_duplicate_isbn_rolls_back_and_the_session_stays_usable(db_session):
    books = BookService(db_session)
    books.register("Dune", "Frank Herbert", isbn="9780441172719")
    with pytest.raises(DuplicateBook):
        books.register("Dune (again)", "Frank Herbert", isbn="9780441172719")
    books.register("Dune Messiah", "Frank Herbert", isbn="9780593098233")
    assert books.list_titles() == ["Dune", "Dune Messiah"]


class TestStock:
    """Stock changes on books loaded once for this class."""

    @test_data
    def shelf(connection):
        """Two books by one author: visible to this class's tests only."""
        author_id = connection.execute(
            sa.insert(Author).values(name="Frank Herbert", sort_name="Herbert, Frank")
        ).inserted_primary_key[0]
        dune = connection.execute(
            sa.insert(Book).values(title="Dune", author_id=author_id, stock=2)
        ).inserted_primary_key[0]
        messiah = connection.execute(
            sa.insert(Book).values(title="Dune Messiah", author_id=author_id, stock=0)
        ).inserted_primary_key[0]
        return {"dune": dune, "messiah": messiah}

    def test_selling_out_commits_and_is_undone_after_the_test(self, db_session, shelf):
        books = BookService(db_session)
        books.restock(shelf["dune"], -2)
        with pytest.raises(OutOfStock):
            books.restock(shelf["dune"], -1)
        assert db_session.get(Book, shelf["dune"]).stock == 0

    def test_the_class_data_is_back_as_loaded(self, db_session, shelf):
        assert db_session.get(Book, shelf["dune"]).stock == 2
        assert BookService(db_session).list_titles() == ["Dune", "Dune Messiah"]


def test_other_tests_of_the_module_do_not_see_the_class_data(db_connection):
    assert count_books(db_connection) == 0
