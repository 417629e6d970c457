"""What the bookshop does, written against a SQLAlchemy session."""

from decimal import Decimal
from typing import List, Mapping, Optional

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bookshop.models import Author, Book


class BookshopError(Exception):
    """Base class of the errors the bookshop reports to its callers."""


class DuplicateBook(BookshopError):
    """A book with this ISBN is already registered."""


class UnknownBook(BookshopError, LookupError):
    """No book has this id."""


class OutOfStock(BookshopError):
    """Removing that many copies would leave a negative stock."""


class BookService:
    """Registers books and keeps their stock; each public change is committed."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def register(
        self,
        title: str,
        author_name: str,
        isbn: Optional[str] = None,
        price: Decimal = Decimal("0.00"),
    ) -> Book:
        """Add a book, and its author if new, and commit."""
        if price < 0:
            raise ValueError(f"price must not be negative, got {price}")
        book = Book(title=title, author=self._author_named(author_name), isbn=isbn, price=price)
        self.session.add(book)
        try:
            # The unique constraint decides, not an earlier SELECT: only the
            # database sees what two clerks registering at once both did.
            self.session.commit()
        except IntegrityError as exc:
            # Leave the session usable for the caller's next request.
            self.session.rollback()
            raise DuplicateBook(f"ISBN {isbn} is already registered") from exc
        return book

    def restock(self, book_id: int, quantity: int) -> int:
        """Add quantity copies (negative to remove some), commit, and return the new stock."""
        self._change_stock(book_id, quantity)
        self.session.commit()
        return self._book(book_id).stock

    def receive_delivery(self, quantities: Mapping[int, int]) -> List[int]:
        """Apply every stock change that can be applied, commit, and return the ids rejected."""
        rejected = []
        for book_id, quantity in quantities.items():
            try:
                self._change_stock(book_id, quantity)
            except (UnknownBook, OutOfStock):
                rejected.append(book_id)
        self.session.commit()
        return rejected

    def list_titles(self) -> List[str]:
        """Return every title, alphabetically."""
        return list(self.session.scalars(select(Book.title).order_by(Book.title)))

    def find_by_isbn(self, isbn: str) -> Optional[Book]:
        """Return the book with this ISBN, or None."""
        return self.session.scalars(select(Book).where(Book.isbn == isbn)).one_or_none()

    def authors_in_shelf_order(self) -> List[str]:
        """Return author names in the order their books stand on the shelf."""
        return list(self.session.scalars(select(Author.name).order_by(Author.sort_name)))

    def _change_stock(self, book_id: int, quantity: int) -> None:
        book = self._book(book_id)
        # One savepoint per change: raising inside it undoes this change only
        # (and reloads book.stock), keeping the rest of the transaction's work.
        with self.session.begin_nested():
            book.stock += quantity
            if book.stock < 0:
                raise OutOfStock(f"only {book.stock - quantity} copies of {book.title!r} left")

    def _book(self, book_id: int) -> Book:
        book = self.session.get(Book, book_id)
        if book is None:
            raise UnknownBook(f"no book has id {book_id}")
        return book

    def _author_named(self, name: str) -> Author:
        author = self.session.scalars(select(Author).where(Author.name == name)).one_or_none()
        return author if author is not None else Author.named(name)
