"""The unittest layer: base classes for savepoint-per-test and clone-per-test suites."""

import os
import sys
import unittest

from dbtestkit.exceptions import ConfigurationError, SetUpNotCalled
from dbtestkit.isolation import ClassScope
from dbtestkit.report import report


class SetInSetUp:
    """A per-test attribute that ``setUp`` sets; reading it earlier explains the missing ``super()``."""

    def __set_name__(self, owner, name):
        self.name = name
        self.base = owner.__name__

    def __get__(self, test, owner=None):
        if test is None:
            return self
        try:
            return test.__dict__[self.name]
        except KeyError:
            raise SetUpNotCalled(
                f"self.{self.name} is not set: {type(test).__qualname__}.setUp does not call "
                f"super().setUp(), which is where {self.base} prepares each test's database. "
                "Call super().setUp() first in setUp overrides."
            ) from None

    def __set__(self, test, value):
        test.__dict__[self.name] = value

    def __delete__(self, test):
        test.__dict__.pop(self.name, None)


def database_of(test_class):
    """Return the ``TestDatabase`` a test class uses: its ``database``, or one made from configuration."""
    from dbtestkit.database import TestDatabase, default_database

    database = test_class.database
    if database is None:
        module_file = getattr(sys.modules.get(test_class.__module__), "__file__", None)
        try:
            return default_database(near=os.path.dirname(module_file) if module_file else None)
        except ConfigurationError as error:
            raise ConfigurationError(
                f"{test_class.__qualname__} has no `database` attribute, so dbtestkit made one "
                f"from setup.cfg [dbtestkit] and DBTESTKIT_* settings, which failed: {error}"
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
    session = SetInSetUp()
    connection = SetInSetUp()
    engine = SetInSetUp()

    @classmethod
    def setUpTestData(cls, connection):
        """Override to insert rows visible to every test of this class and no other."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        scope = cls._dbtestkit_new_scope()
        # A class cleanup runs even when setUpClass fails half-way.
        cls.addClassCleanup(scope.close)
        scope.open()

    @classmethod
    def _dbtestkit_new_scope(cls):
        layer_scope = getattr(getattr(cls, "layer", None), "dbtestkit_scope", None)
        scope = ClassScope(database_of(cls), cls.__module__, cls.setUpTestData, layer_scope)
        cls._dbtestkit_scope = scope
        return scope

    @classmethod
    def _dbtestkit_layer_scope(cls):
        # nose2's layers plugin never calls setUpClass: open the class scope
        # on the first test instead; the layer's tearDown closes the transaction.
        layer_scope = getattr(getattr(cls, "layer", None), "dbtestkit_scope", None)
        if layer_scope is None or layer_scope.outer is None:
            return None
        scope = cls._dbtestkit_new_scope()
        scope.open()
        return scope

    def setUp(self):
        super().setUp()
        scope = type(self).__dict__.get("_dbtestkit_scope") or self._dbtestkit_layer_scope()
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
    ``clone_kind = "shared"`` when another process must open ``self.url``.
    With ``DBTESTKIT_KEEP=1`` the clone of a failed test is kept and its path printed.
    """

    database = None
    clone_kind = None
    url = SetInSetUp()
    engine = SetInSetUp()
    session = SetInSetUp()

    def setUp(self):
        super().setUp()
        database = database_of(type(self))
        clone = database.clone(kind=self.clone_kind)
        self.__dict__.setdefault("_dbtestkit_clones", []).append((database, clone))
        self.addCleanup(self._release_clones_unless_run_decides)
        self.url = clone.url
        self.engine = clone.engine
        self.session = self._make_session()
        self.addCleanup(self.session.close)

    def _make_session(self):
        from sqlalchemy.orm import Session

        return Session(bind=self.engine)

    def run(self, result=None):
        # Whether a test failed is only known for sure once run() has reported
        # it (Python 3.9 and 3.10 report after the cleanups), so the
        # keep-or-drop decision waits until then.
        self._dbtestkit_clones = []
        watch = _FailureWatch(result) if result is not None else None
        self._dbtestkit_watch = watch
        try:
            return super().run(watch)
        finally:
            self._dbtestkit_watch = None
            self._release_clones(failed=watch is not None and watch.failed)

    def _release_clones_unless_run_decides(self):
        if getattr(self, "_dbtestkit_watch", None) is None:
            # Run through debug() or without a result: no verdict will come.
            self._release_clones(failed=False)

    def _release_clones(self, failed):
        clones, self._dbtestkit_clones = getattr(self, "_dbtestkit_clones", []), []
        for database, clone in clones:
            if failed and database.keep:
                location = clone.keep(self.id())
                report(f"kept the clone of failed test {self.id()} at {location}")
            else:
                clone.drop()


class _FailureWatch:
    """Passes a test's results on to the real result, noting whether it failed."""

    def __init__(self, result):
        self._result = result
        self.failed = False

    def addError(self, test, err):
        self.failed = True
        self._result.addError(test, err)

    def addFailure(self, test, err):
        self.failed = True
        self._result.addFailure(test, err)

    def addUnexpectedSuccess(self, test):
        self.failed = True
        self._result.addUnexpectedSuccess(test)

    def addSubTest(self, test, subtest, err):
        if err is not None:
            self.failed = True
        if hasattr(self._result, "addSubTest"):
            self._result.addSubTest(test, subtest, err)
        elif err is not None:
            is_failure = issubclass(err[0], test.failureException)
            (self._result.addFailure if is_failure else self._result.addError)(subtest, err)

    def __getattr__(self, name):
        return getattr(self._result, name)
