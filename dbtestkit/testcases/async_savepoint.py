"""AsyncDatabaseTestCase: each async test in its own transaction and SAVEPOINT on its class's clone."""

from dbtestkit.testcases.attributes import SetInSetUp, database_of, open_for_class, setup_class_skipped
from dbtestkit.testcases.awaits import AwaitCheckedTestCase


class AsyncDatabaseTestCase(AwaitCheckedTestCase):
    """Each async test runs in a transaction and SAVEPOINT on a clone holding its class's data.

    Per test: ``self.session`` (an ``AsyncSession``; may commit and roll back
    freely), ``self.connection`` (``AsyncConnection``) and ``self.engine``
    (``AsyncEngine``). ``setUpTestData`` (sync, or ``async def``) runs once per
    class. ``session_options`` go to the session: attribute loads after a
    commit would need an ``await``, so it does not expire them, as most async
    apps' sessionmakers. If you override ``asyncSetUp`` or ``setUpClass``,
    call ``super()`` first.
    """

    database = None
    session_options = {"expire_on_commit": False}
    session = SetInSetUp()
    connection = SetInSetUp()
    engine = SetInSetUp()

    @classmethod
    def setUpTestData(cls, connection):
        """Override (``def`` with a ``Connection``, or ``async def`` with an ``AsyncConnection``) to insert class data."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        overridden = cls.setUpTestData.__func__ is not AsyncDatabaseTestCase.setUpTestData.__func__
        # Outside any event loop: the golden is built, and the class clone made
        # and loaded, before the first test's loop exists.
        scope = database_of(cls).async_scope(cls.setUpTestData if overridden else None)
        cls._dbtestkit_async_scope = scope
        open_for_class(cls, scope)

    async def asyncSetUp(self):
        await super().asyncSetUp()
        scope = type(self).__dict__.get("_dbtestkit_async_scope")
        if scope is None:
            raise setup_class_skipped(type(self), "AsyncDatabaseTestCase makes the class's clone there.")
        test = await scope.begin_test(**self.session_options)
        # Runs in this test's loop, after the test's own cleanups, even when
        # asyncSetUp fails after this point.
        self.addAsyncCleanup(test.end)
        self.connection = test.connection
        self.engine = scope.engine
        self.session = test.session
