"""Tests that need a database of their own: real commits, own engines, DDL, migrations."""

import contextlib
import logging
from typing import Iterator

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

import dbtestkit
from bookshop.models import Author, Book, Genre
from bookshop.service import BookService

from .database import ALEMBIC_INI, DB

MIGRATIONS_DIR = ALEMBIC_INI.parent / "migrations"


@contextlib.contextmanager
def own_engine(url: str) -> Iterator[sa.Engine]:
    """Yield an engine of our own on url, disposed of before the test ends."""
    engine = sa.create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def migrate(connection: sa.Connection, direction, revision: str) -> None:
    """Run command.upgrade or command.downgrade to revision on connection."""
    # No ini file: env.py then leaves the test runner's logging alone.
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    alembic_logger = logging.getLogger("alembic")
    level = alembic_logger.level
    alembic_logger.setLevel(logging.WARNING)  # keep the test report readable
    try:
        direction(config, revision)
    finally:
        alembic_logger.setLevel(level)


class OwnConnectionTests(dbtestkit.GoldenFileTestCase):
    """Every test gets a fresh copy of the migrated database, so anything goes."""

    database = DB

    def assert_pristine(self):
        """Fail unless the database is exactly what the migrations built."""
        # Each test starts with this, so a leak fails whichever test runs second.
        self.assertFalse(sa.inspect(self.engine).has_table("scratch"))
        with self.engine.connect() as connection:
            self.assertEqual(connection.scalar(sa.select(sa.func.count()).select_from(Book)), 0)
            self.assertEqual(connection.scalar(sa.select(sa.func.count()).select_from(Genre)), 5)

    def test_own_engine_commits_for_real(self):
        self.assert_pristine()

        with own_engine(self.url) as engine, engine.begin() as connection:
            author_id = connection.execute(
                sa.insert(Author).values(name="Mary Shelley", sort_name="Shelley, Mary")
            ).inserted_primary_key[0]
            connection.execute(sa.insert(Book).values(title="Frankenstein", author_id=author_id))

        with self.engine.connect() as connection:
            self.assertEqual(connection.scalars(sa.select(Book.title)).all(), ["Frankenstein"])

    def test_ddl_creates_a_scratch_table(self):
        self.assert_pristine()

        with self.engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE scratch (id INTEGER PRIMARY KEY)"))
            connection.execute(sa.text("INSERT INTO scratch (id) VALUES (1)"))

        self.assertTrue(sa.inspect(self.engine).has_table("scratch"))

    def test_service_commits_through_self_session(self):
        self.assert_pristine()

        BookService(self.session).register("The Time Machine", "H. G. Wells")

        with own_engine(self.url) as engine, engine.connect() as connection:
            self.assertEqual(connection.scalar(sa.select(Author.sort_name)), "Wells, H. G.")

    def test_sort_name_backfill_fills_existing_authors(self):
        self.assert_pristine()

        with own_engine(self.url) as engine:
            with engine.begin() as connection:
                migrate(connection, command.downgrade, "0003")
                # At 0003 authors have no sort_name yet.
                connection.execute(
                    sa.text("INSERT INTO authors (name) VALUES ('Frank Herbert'), ('Homer')")
                )
            with engine.begin() as connection:
                migrate(connection, command.upgrade, "head")

        with self.engine.connect() as connection:
            sort_names = connection.execute(sa.select(Author.name, Author.sort_name)).all()
        self.assertEqual(
            sorted(sort_names), [("Frank Herbert", "Herbert, Frank"), ("Homer", "Homer")]
        )
