"""The unittest layer: base classes for savepoint-per-test and clone-per-test suites."""

import unittest

from dbtestkit.exceptions import ConfigurationError
from dbtestkit.isolation import ClassScope
from dbtestkit.progress import report


def _database_of(test_class):
    from dbtestkit.database import TestDatabase, default_database

    database = test_class.database
    if database is None:
        try:
            return default_database()
        except ConfigurationError as error:
            raise ConfigurationError(
                f"{test_class.__qualname__} has no `database` attribute and the configuration "
                f"names no database: {error}"
            ) from error
    if not isinstance(database, TestDatabase):
        raise ConfigurationError(
            f"{test_class.__qualname__}.database is {database!r}; it must be a dbtestkit.TestDatabase."
        )
    return database


class DatabaseTestCase(unittest.TestCase):
    """Each test runs in a SAVEPOINT inside one module- or class-wide transaction.

    Per test: ``self.session`` (may commit and roll back freely),
    ``self.connection`` and ``self.engine``. If you override ``setUp`` or
    ``setUpClass``, call ``super()`` first; teardown needs no ``super()``.
    """

    database = None

    @classmethod
    def setUpTestData(cls, connection):
        """Override to insert rows visible to every test of this class and no other."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        scope = ClassScope(_database_of(cls), cls.__module__, cls.setUpTestData)
        cls._dbtestkit_scope = scope
        # A class cleanup runs even when setUpClass fails half-way.
        cls.addClassCleanup(scope.close)
        scope.open()

    def setUp(self):
        super().setUp()
        scope = type(self).__dict__.get("_dbtestkit_scope")
        if scope is None:
            raise ConfigurationError(
                f"{type(self).__qualname__}.setUpClass did not call super().setUpClass(); "
                "DatabaseTestCase opens the test transaction there."
            )
        test = scope.begin_test()
        # Cleanups run even when setUp fails after this point, and after the
        # test's own cleanups (last in, first out), so nothing leaks.
        self.addCleanup(test.end)
        self.connection = scope.outer.connection
        self.engine = scope.outer.clone.engine
        self.session = test.session


class GoldenFileTestCase(unittest.TestCase):
    """Each test gets its own clone of the golden: commit for real, run DDL, open engines.

    Per test: ``self.url``, ``self.engine``, ``self.session``. Set
    ``clone_kind = "file"`` when another process must open ``self.url``.
    With ``DBTESTKIT_KEEP=1`` the clone of a failed test is kept and its path printed.
    """

    database = None
    clone_kind = None

    def setUp(self):
        super().setUp()
        database = _database_of(type(self))
        clone = database.clone(kind=self.clone_kind)
        self.addCleanup(self._release_clone, database, clone)
        self.url = clone.url
        self.engine = clone.engine
        self.session = self._make_session()
        self.addCleanup(self.session.close)

    def _make_session(self):
        from sqlalchemy.orm import Session

        return Session(bind=self.engine)

    def _release_clone(self, database, clone):
        if database.keep and self._test_failed():
            location = clone.keep(self.id())
            report(f"kept the clone of failed test {self.id()} at {location}")
        else:
            clone.drop()

    def _test_failed(self):
        # unittest exposes no public "did this test fail" to cleanups; its
        # private _outcome has carried `success` since Python 3.4.
        outcome = getattr(self, "_outcome", None)
        return outcome is not None and not getattr(outcome, "success", True)
