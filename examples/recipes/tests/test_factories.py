"""factory_boy factories saving through the app's scoped session, bound to the test."""

from sqlalchemy import func, select

import dbtestkit
from recipes.db import ScopedSession
from recipes.factories import PostFactory, UserFactory
from recipes.models import Post, User


def count(session, model):
    return session.scalar(select(func.count()).select_from(model))


class FactoryTests(dbtestkit.DatabaseTestCase):
    """Savepoint per test: factories that commit (users) and flush (posts) are both undone."""

    def setUp(self):
        super().setUp()
        self.bind_sessionmaker(ScopedSession)

    def test_factories_write_into_the_test_s_transaction(self):
        self.assertEqual((count(self.session, User), count(self.session, Post)), (0, 0))
        UserFactory.create_batch(3)
        PostFactory.create_batch(2)
        self.assertEqual((count(self.session, User), count(self.session, Post)), (5, 2))

    def test_starts_empty_again(self):
        self.assertEqual((count(self.session, User), count(self.session, Post)), (0, 0))


class FactoryOnACloneTests(dbtestkit.GoldenFileTestCase):
    """Clone per test: the users' commits are real, into the test's own copy."""

    def setUp(self):
        super().setUp()
        self.bind_sessionmaker(ScopedSession)

    def test_committed_rows_are_seen_by_a_new_session(self):
        UserFactory.create_batch(2)
        self.assertEqual(count(self.session, User), 2)

    def test_starts_empty_again(self):
        self.assertEqual(count(self.session, User), 0)
