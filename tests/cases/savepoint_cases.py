"""Savepoint-per-test behaviour, shared by the module-scoped and class-scoped variants."""

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

import dbtestkit

from tests.cases import DB, SEEDED_AUTHOR

author = sa.table("author", sa.column("id"), sa.column("name"))
book = sa.table("book", sa.column("id"), sa.column("title"), sa.column("isbn"), sa.column("author_id"))


def names(connectable):
    """Return the sorted author names visible through ``connectable``."""
    return sorted(connectable.execute(sa.select(author.c.name)).scalars())


def titles(connectable):
    """Return the sorted book titles visible through ``connectable``."""
    return sorted(connectable.execute(sa.select(book.c.title)).scalars())


def check_begin_nested_partial_rollback(test):
    """App code's own SAVEPOINT: the rolled-back row is gone, the other is committed."""
    test.session.execute(sa.insert(book).values(title="Kept"))
    nested = test.session.begin_nested()
    test.session.execute(sa.insert(book).values(title="Dropped"))
    nested.rollback()
    test.session.commit()
    test.assertEqual(titles(test.session), ["Kept"])


class ClassData:
    """Class data of its own (``class_author``), so a class's lost or leaked data shows."""

    database = DB
    class_author = None

    @classmethod
    def setUpTestData(cls, connection):
        connection.execute(sa.insert(author).values(name=cls.class_author))

    def assert_pristine(self):
        self.assertEqual(names(self.session), sorted([SEEDED_AUTHOR, self.class_author]))
        self.assertEqual(titles(self.session), [])


class AppBehaviour(ClassData):
    """Tests written as an application would; each asserts it starts pristine."""

    def test_app_commit_is_undone(self):
        self.assert_pristine()
        self.session.execute(sa.insert(book).values(title="Dune", isbn="1"))
        self.session.commit()
        self.assertEqual(titles(self.session), ["Dune"])

    def test_app_commit_again_sees_no_earlier_commit(self):
        self.assert_pristine()
        self.session.execute(sa.insert(book).values(title="Dune", isbn="1"))
        self.session.commit()
        self.assertEqual(titles(self.session), ["Dune"])

    def test_app_rollback_after_integrity_error(self):
        self.assert_pristine()
        self.session.execute(sa.insert(book).values(title="Dune", isbn="1"))
        self.session.commit()
        with self.assertRaises(IntegrityError):
            self.session.execute(sa.insert(book).values(title="Copy", isbn="1"))
            self.session.commit()
        self.session.rollback()
        # The committed row survives the app's rollback; the test still isolates it.
        self.assertEqual(titles(self.session), ["Dune"])

    def test_app_begin_nested_partial_rollback(self):
        self.assert_pristine()
        check_begin_nested_partial_rollback(self)

    def test_class_data_change_is_undone(self):
        self.assert_pristine()
        self.session.execute(sa.delete(author).where(author.c.name == self.class_author))
        self.session.commit()
        self.assertEqual(names(self.session), [SEEDED_AUTHOR])

    def test_connection_sees_session_writes(self):
        self.assert_pristine()
        self.session.execute(sa.insert(book).values(title="Shared"))
        self.session.flush()
        self.assertEqual(titles(self.connection), ["Shared"])

    def test_other_connections_do_not_see_uncommitted_test_data(self):
        self.assert_pristine()
        self.session.execute(sa.insert(book).values(title="Private"))
        self.session.commit()
        # Other connections see committed data only; SQLite goes further and
        # refuses them while the test's transaction holds the write lock.
        with self.engine.connect() as other:
            try:
                self.assertEqual(titles(other), [])
            except dbtestkit.LockWaitTimeout as error:
                self.assertEqual(DB.backend.name, "sqlite")
                self.assertIn("database is locked", str(error.__cause__))

    def test_golden_is_untouched(self):
        self.assert_pristine()
        self.session.execute(sa.insert(author).values(name="Only here"))
        self.session.commit()
        # A fresh clone shows the golden as it was built (server goldens refuse connections).
        with DB.clone() as fresh, fresh.engine.connect() as connection:
            self.assertEqual(names(connection), [SEEDED_AUTHOR])
