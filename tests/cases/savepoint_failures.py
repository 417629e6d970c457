"""Tests that fail on purpose; the tests after them must still start pristine.

Methods run in name order, so each ``test_1_*`` breaks something and the
``test_2_*`` after it checks that nothing leaked.
"""

import sqlalchemy as sa

import dbtestkit
from tests.cases import DB, SEEDED_AUTHOR
from tests.cases.savepoint_cases import author, book, names, titles

setUpModule, tearDownModule = DB.module_fixtures()


class ClassData:
    """Shared class data, so a leak or a lost reload shows."""

    database = DB

    @classmethod
    def setUpTestData(cls, connection):
        connection.execute(sa.insert(author).values(name="Class Author"))

    def assert_pristine(self):
        self.assertEqual(names(self.session), sorted([SEEDED_AUTHOR, "Class Author"]))
        self.assertEqual(titles(self.session), [])


class BodyError(ClassData, dbtestkit.DatabaseTestCase):
    def test_1_raises_after_writing(self):
        self.session.execute(sa.insert(book).values(title="Leaked?"))
        self.session.commit()
        raise RuntimeError("boom after commit")

    def test_2_pristine(self):
        self.assert_pristine()


class SetUpError(ClassData, dbtestkit.DatabaseTestCase):
    def setUp(self):
        super().setUp()
        self.session.execute(sa.insert(book).values(title="From setUp"))
        self.session.commit()
        if self._testMethodName.startswith("test_1"):
            raise RuntimeError("boom in setUp")

    def test_1_never_runs(self):
        raise AssertionError("setUp should have failed first")

    def test_2_sees_only_its_own_setup_row(self):
        self.assertEqual(titles(self.session), ["From setUp"])


class TearDownWithoutSuper(ClassData, dbtestkit.DatabaseTestCase):
    def tearDown(self):
        # Deliberately no super().tearDown(): cleanup must not depend on it.
        pass

    def test_1_writes(self):
        self.session.execute(sa.insert(book).values(title="Written"))
        self.session.commit()

    def test_2_pristine(self):
        self.assert_pristine()


class CommitsTheOuterTransaction(ClassData, dbtestkit.DatabaseTestCase):
    def test_1_commits_connection(self):
        self.connection.execute(sa.insert(book).values(title="Escaped"))
        self.connection.commit()

    def test_2_pristine_with_class_data_reloaded(self):
        self.assert_pristine()


class AfterTheBreak(ClassData, dbtestkit.DatabaseTestCase):
    def test_pristine_in_next_class(self):
        self.assert_pristine()


class SetUpClassWithoutSuper(dbtestkit.DatabaseTestCase):
    database = DB

    @classmethod
    def setUpClass(cls):
        pass

    def test_reports_missing_super(self):
        raise AssertionError("setUp should have failed first")
