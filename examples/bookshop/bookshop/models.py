"""Database models of the bookshop; they must match the head of migrations/."""

from decimal import Decimal
from typing import List, Optional

from sqlalchemy import CheckConstraint, ForeignKey, MetaData, Numeric, String, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# The migrations spell these same names out, so autogenerate sees no difference.
NAMING_CONVENTION = {
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ix": "ix_%(table_name)s_%(column_0_name)s",
}


class Base(DeclarativeBase):
    """Declarative base sharing one naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def sort_name_for(name: str) -> str:
    """Return the shelf-order form of a name: "Frank Herbert" -> "Herbert, Frank"."""
    given_names, _, family_name = name.strip().rpartition(" ")
    return f"{family_name}, {given_names}" if given_names else family_name


class Author(Base):
    """Someone who wrote at least one book."""

    __tablename__ = "authors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    sort_name: Mapped[str] = mapped_column(String(200))

    books: Mapped[List["Book"]] = relationship(back_populates="author", order_by="Book.title")

    @classmethod
    def named(cls, name: str) -> "Author":
        """Build an author whose sort name is derived from the name."""
        return cls(name=name, sort_name=sort_name_for(name))


class Genre(Base):
    """A shelf section; the list is seeded by migration 0005."""

    __tablename__ = "genres"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)


class Book(Base):
    """A title on sale, with its price and the copies in stock."""

    __tablename__ = "books"
    __table_args__ = (
        CheckConstraint("price >= 0", name="ck_books_price_non_negative"),
        CheckConstraint("stock >= 0", name="ck_books_stock_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"), index=True)
    isbn: Mapped[Optional[str]] = mapped_column(String(13), unique=True)
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2), server_default=text("0"))
    stock: Mapped[int] = mapped_column(server_default=text("0"))
    genre_id: Mapped[Optional[int]] = mapped_column(ForeignKey("genres.id"), index=True)

    author: Mapped[Author] = relationship(back_populates="books")
    genre: Mapped[Optional[Genre]] = relationship()
