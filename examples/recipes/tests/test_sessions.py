"""The app's module-level sessionmaker and scoped_session, bound to each test's database."""

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

import dbtestkit
from recipes import service
from recipes.db import ScopedSession, SessionLocal


class SessionLocalTests(dbtestkit.DatabaseTestCase):
    """Savepoint per test: the app's sessions join the test's transaction; their commits are undone."""

    def setUp(self):
        super().setUp()
        self.bind_sessionmaker(SessionLocal)
        self.bind_sessionmaker(ScopedSession)

    def test_app_session_commits_and_the_test_sees_it(self):
        self.assertEqual(service.user_names(self.session), [])
        with SessionLocal() as session:
            service.register(session, "ada")
        self.assertEqual(service.user_names(self.session), ["ada"])

    def test_scoped_session_commits_and_the_test_sees_it(self):
        self.assertEqual(service.user_names(self.session), [])
        service.register(ScopedSession(), "grace")
        self.assertEqual(service.user_names(self.session), ["grace"])

    def test_starts_empty_again(self):
        self.assertEqual(service.user_names(SessionLocal()), [])
        self.assertEqual(service.user_names(ScopedSession()), [])

    def test_a_post_without_its_author_breaks_the_foreign_key(self):
        with self.assertRaises(IntegrityError), SessionLocal() as session:
            service.publish(session, author_id=424242, title="orphan")


class SessionLocalOnACloneTests(dbtestkit.GoldenFileTestCase):
    """Clone per test: the app's sessions commit for real, into this test's own copy."""

    def setUp(self):
        super().setUp()
        self.bind_sessionmaker(SessionLocal)

    def test_commit_is_real_and_seen_by_a_new_connection(self):
        with SessionLocal() as session:
            service.register(session, "linus")
        with self.engine.connect() as connection:
            names = connection.execute(sa.text("SELECT name FROM users")).scalars().all()
        self.assertEqual(names, ["linus"])

    def test_starts_empty_again(self):
        self.assertEqual(service.user_names(SessionLocal()), [])


class RestoredAfterTheTestTests(dbtestkit.DatabaseTestCase):
    def test_the_factory_is_the_app_s_again_after_the_test(self):
        before = SessionLocal.kw.copy(), SessionLocal.class_
        self.bind_sessionmaker(SessionLocal)
        self.assertIs(SessionLocal.kw["bind"], self.connection)
        self.doCleanups()
        self.assertEqual((SessionLocal.kw, SessionLocal.class_), before)
