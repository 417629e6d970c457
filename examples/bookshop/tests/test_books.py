"""BookService tests: one savepoint per test, one connection for the whole module."""

from decimal import Decimal

import sqlalchemy as sa

import dbtestkit
from bookshop.models import Author, Book
from bookshop.service import BookService, DuplicateBook, OutOfStock

from .database import DB

# One connection and one outer transaction serve every class in this module,
# which saves a connect and a BEGIN per class.
setUpModule, tearDownModule = DB.module_fixtures()


def count_books(connection: sa.Connection) -> int:
    """Return how many books the connection can see."""
    return connection.scalar(sa.select(sa.func.count()).select_from(Book))


class RegisterTests(dbtestkit.DatabaseTestCase):
    """Registering books, including the paths where the service commits or rolls back."""

    database = DB

    def setUp(self):
        super().setUp()  # first: it opens self.session
        self.books = BookService(self.session)

    def test_register_commits_and_a_fresh_query_sees_the_book(self):
        self.books.register("Dune", "Frank Herbert", isbn="9780441172719", price=Decimal("9.99"))

        # Forget the objects the session holds so the query really reads the database.
        self.session.expire_all()
        book = self.session.scalars(sa.select(Book).where(Book.isbn == "9780441172719")).one()
        self.assertEqual(book.title, "Dune")
        self.assertEqual(book.price, Decimal("9.99"))
        self.assertEqual(book.author.sort_name, "Herbert, Frank")
        self.assertEqual(count_books(self.connection), 1)

    def test_second_register_of_an_isbn_raises_and_the_session_stays_usable(self):
        self.books.register("Dune", "Frank Herbert", isbn="9780441172719")

        with self.assertRaises(DuplicateBook):
            self.books.register("Dune (again)", "Frank Herbert", isbn="9780441172719")

        # The service rolled back; the session must still work and keep the first book.
        self.books.register("Dune Messiah", "Frank Herbert", isbn="9780593098233")
        self.assertEqual(self.books.list_titles(), ["Dune", "Dune Messiah"])

    def test_books_without_isbn_do_not_collide(self):
        self.books.register("Beowulf", "Anonymous")
        self.books.register("The Seafarer", "Anonymous")

        self.assertEqual(self.books.list_titles(), ["Beowulf", "The Seafarer"])
        self.assertEqual(self.books.authors_in_shelf_order(), ["Anonymous"])

    def test_negative_price_is_refused(self):
        with self.assertRaises(ValueError):
            self.books.register("Dune", "Frank Herbert", price=Decimal("-1.00"))

        self.assertEqual(count_books(self.connection), 0)


class IsolationTests(dbtestkit.DatabaseTestCase):
    """Two tests that each need an empty shop: they pass in any order only if isolation holds."""

    database = DB

    def test_first_book(self):
        self.assert_one_book_after_registering("Dune", "Frank Herbert")

    def test_second_book(self):
        self.assert_one_book_after_registering("Hyperion", "Dan Simmons")

    def assert_one_book_after_registering(self, title, author_name):
        # Neither other tests nor other classes' setUpTestData may leave rows behind.
        self.assertEqual(count_books(self.connection), 0)
        BookService(self.session).register(title, author_name)
        self.assertEqual(count_books(self.connection), 1)


class StockTests(dbtestkit.DatabaseTestCase):
    """Stock changes on books that setUpTestData creates once for the class."""

    database = DB

    @classmethod
    def setUpTestData(cls, connection):
        author_id = connection.execute(
            sa.insert(Author).values(name="Frank Herbert", sort_name="Herbert, Frank")
        ).inserted_primary_key[0]
        cls.dune_id = connection.execute(
            sa.insert(Book).values(title="Dune", author_id=author_id, stock=2)
        ).inserted_primary_key[0]
        cls.messiah_id = connection.execute(
            sa.insert(Book).values(title="Dune Messiah", author_id=author_id, stock=0)
        ).inserted_primary_key[0]

    def setUp(self):
        super().setUp()
        self.books = BookService(self.session)

    def stock_of(self, book_id: int) -> int:
        """Read a book's stock straight from the database, bypassing the session."""
        return self.connection.scalar(sa.select(Book.stock).where(Book.id == book_id))

    def test_class_data_is_unchanged(self):
        # Fails if another test's restock (even a committed one) leaked through.
        self.assertEqual(count_books(self.connection), 2)
        self.assertEqual(self.stock_of(self.dune_id), 2)
        self.assertEqual(self.stock_of(self.messiah_id), 0)

    def test_restock_adds_copies(self):
        self.assertEqual(self.books.restock(self.dune_id, 3), 5)
        self.assertEqual(self.stock_of(self.dune_id), 5)

    def test_removing_more_copies_than_in_stock_raises(self):
        with self.assertRaises(OutOfStock):
            self.books.restock(self.dune_id, -3)

        self.assertEqual(self.stock_of(self.dune_id), 2)
        # Only the savepoint was rolled back; the session goes on working.
        self.assertEqual(self.books.restock(self.dune_id, -2), 0)

    def test_delivery_applies_what_it_can_and_reports_the_rest(self):
        unknown_id = max(self.dune_id, self.messiah_id) + 1  # only our two books exist

        rejected = self.books.receive_delivery(
            {self.dune_id: 4, self.messiah_id: -1, unknown_id: 1}
        )

        self.assertEqual(rejected, [self.messiah_id, unknown_id])
        self.assertEqual(self.stock_of(self.dune_id), 6)
        self.assertEqual(self.stock_of(self.messiah_id), 0)

    def test_database_refuses_negative_stock(self):
        # The CHECK constraint is the last line of defence behind the service.
        # MariaDB reports CHECK failures as OperationalError, others as IntegrityError.
        with self.assertRaises(sa.exc.DBAPIError):
            with self.connection.begin_nested():
                self.connection.execute(
                    sa.update(Book).where(Book.id == self.dune_id).values(stock=-1)
                )
        self.assertEqual(self.stock_of(self.dune_id), 2)
