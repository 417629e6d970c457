"""DatabaseTestCase: each test in a SAVEPOINT inside one module- or class-wide transaction."""

import unittest

from dbtestkit.testcases.app_sessions import AppSessions
from dbtestkit.testcases.attributes import SetInSetUp, database_of, open_for_class, setup_class_skipped


class DatabaseTestCase(AppSessions, unittest.TestCase):
    """Each test runs in a SAVEPOINT inside one module- or class-wide transaction.

    Per test: ``self.session`` (may commit and roll back freely),
    ``self.connection`` and ``self.engine``. If you override ``setUp`` or
    ``setUpClass``, call ``super()`` first; teardown needs no ``super()``.
    ``self.bind_sessionmaker(SessionLocal)`` joins the app's own sessions to the test.
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
        open_for_class(cls, cls._dbtestkit_new_scope())

    @classmethod
    def _dbtestkit_new_scope(cls):
        layer_scope = getattr(getattr(cls, "layer", None), "dbtestkit_scope", None)
        scope = database_of(cls).class_scope(cls.setUpTestData, cls.__module__, layer_scope)
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
            raise setup_class_skipped(type(self), "DatabaseTestCase opens the test transaction there.")
        test = scope.begin_test()
        # Cleanups run even when setUp fails after this point, and after the
        # test's own cleanups (last in, first out), so nothing leaks.
        self.addCleanup(test.end)
        self.connection = scope.outer.connection
        self.engine = scope.outer.clone.engine
        self.session = test.session

    def _dbtestkit_app_bind(self):
        return self.connection, True
