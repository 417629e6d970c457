"""bind_sessionmaker(): an application's own session factories use the test's database, then are restored."""

import contextlib
import io
import unittest

import sqlalchemy as sa
from sqlalchemy.orm import Session, scoped_session, sessionmaker

import dbtestkit
from dbtestkit.exceptions import ConfigurationError
from dbtestkit.isolation import bind_session_factory
from tests.cases import DB, SEEDED_AUTHOR
from tests.cases.savepoint_cases import ClassData

author = sa.table("author", sa.column("id"), sa.column("name"))


class RoutingSession(Session):
    """Picks its own engine whatever the session is bound to, as Flask-SQLAlchemy's Session does."""

    elsewhere = sa.create_engine("sqlite://")

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        return self.elsewhere


def app_factories():
    """Return a fresh (sessionmaker, scoped_session) pair on an app database the tests must never reach."""
    engine = sa.create_engine("sqlite://")
    return sessionmaker(bind=engine, binds={author: engine}), scoped_session(sessionmaker(bind=engine))


def names(session):
    return sorted(session.execute(sa.select(author.c.name)).scalars())


def run_class(test_class):
    result = unittest.TestResult()
    with contextlib.redirect_stderr(io.StringIO()):
        unittest.defaultTestLoader.loadTestsFromTestCase(test_class).run(result)
    return result


class BindSessionmakerTests(unittest.TestCase):

    def assert_passed(self, result, count):
        self.assertEqual([text for _, text in result.errors + result.failures], [])
        self.assertEqual(result.testsRun, count)

    def test_savepoint_mode_sessions_join_the_test_and_their_commits_are_undone(self):
        SessionLocal, Scoped = app_factories()

        class Savepoint(dbtestkit.DatabaseTestCase):
            database = DB

            def setUp(test):
                super().setUp()
                test.bind_sessionmaker(SessionLocal)
                test.bind_sessionmaker(Scoped)

            def test_a(test):
                test.check("a")

            def test_b(test):
                test.check("b")

            def check(test, name):
                test.assertEqual(names(test.session), [SEEDED_AUTHOR])
                for factory in (SessionLocal, Scoped):
                    session = factory()
                    session.execute(sa.insert(author).values(name=f"{name} {factory is Scoped}"))
                    session.commit()
                test.assertEqual(len(names(test.session)), 3)

        self.assert_passed(run_class(Savepoint), 2)

    def test_an_app_rollback_after_its_commit_keeps_the_commit_and_the_class_data(self):
        SessionLocal, _ = app_factories()
        seen = []

        class CommitThenRollback(ClassData, dbtestkit.DatabaseTestCase):
            class_author = "Class Author"

            def test_commit_then_rollback(test):
                test.bind_sessionmaker(SessionLocal)
                session = SessionLocal()
                session.execute(sa.insert(author).values(name="Committed"))
                session.commit()
                session.execute(sa.insert(author).values(name="Rolled back"))
                session.rollback()
                seen.append(names(test.session))

        self.assert_passed(run_class(CommitThenRollback), 1)
        self.assertEqual(seen, [sorted([SEEDED_AUTHOR, "Class Author", "Committed"])])

    def test_clone_mode_sessions_commit_into_the_clone(self):
        SessionLocal, _ = app_factories()

        class Clone(dbtestkit.GoldenFileTestCase):
            database = DB

            def test_commit(test):
                test.bind_sessionmaker(SessionLocal)
                with SessionLocal() as session:
                    session.execute(sa.insert(author).values(name="Octavia E. Butler"))
                    session.commit()
                with test.engine.connect() as connection:
                    test.assertEqual(len(names(connection)), 2)

        self.assert_passed(run_class(Clone), 1)

    def test_a_session_class_that_picks_its_own_engine_uses_the_test_s_connection(self):
        routing = sessionmaker(class_=RoutingSession, bind=RoutingSession.elsewhere)
        seen = []

        class Routed(dbtestkit.DatabaseTestCase):
            database = DB

            def test_routed(test):
                test.bind_sessionmaker(routing)
                session = routing()
                seen.append((names(session), isinstance(session, RoutingSession)))

        self.assert_passed(run_class(Routed), 1)
        self.assertEqual(seen, [([SEEDED_AUTHOR], True)])

    def test_after_the_test_factories_are_restored_and_its_sessions_closed(self):
        SessionLocal, Scoped = app_factories()
        before = [(maker.kw.copy(), maker.class_) for maker in (SessionLocal, Scoped.session_factory)]
        left_open = []

        class LeavesSessionsOpen(dbtestkit.DatabaseTestCase):
            database = DB

            def test_leave_open(test):
                test.bind_sessionmaker(SessionLocal)
                test.bind_sessionmaker(Scoped)
                for session in (SessionLocal(), Scoped()):
                    names(session)
                    left_open.append(session)

        self.assert_passed(run_class(LeavesSessionsOpen), 1)
        self.assertEqual([(m.kw, m.class_) for m in (SessionLocal, Scoped.session_factory)], before)
        self.assertEqual([session.in_transaction() for session in left_open], [False, False])
        self.assertFalse(Scoped.registry.has())
        self.assertIsNot(Scoped(), left_open[1])

    def test_something_else_is_a_configuration_error(self):
        with self.assertRaises(ConfigurationError) as raised:
            bind_session_factory(Session, None)
        self.assertIn("takes a sessionmaker or a scoped_session", str(raised.exception))


if __name__ == "__main__":
    unittest.main()
