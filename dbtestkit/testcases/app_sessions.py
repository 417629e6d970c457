"""What both test case classes offer an application's own session factories."""

from dbtestkit.isolation import bind_session_factory


class AppSessions:
    """``bind_sessionmaker()``: the application's sessions use the test's database until the test ends."""

    def _dbtestkit_app_bind(self):
        """Return ``(bind, join_savepoint)``: what app sessions use, and whether they join its transaction."""
        raise NotImplementedError

    def bind_sessionmaker(self, factory):
        """Bind the app's ``sessionmaker`` or ``scoped_session`` to this test's database; restored after it.

        In ``DatabaseTestCase`` its sessions join the test's connection and
        transaction (their ``commit()`` releases a savepoint); in
        ``GoldenFileTestCase`` they use the test's clone through ``self.engine``.
        Returns ``factory``.
        """
        bind, join_savepoint = self._dbtestkit_app_bind()
        restore = bind_session_factory(factory, bind, join_savepoint=join_savepoint)
        # Before the test's own cleanups (last in, first out): sessions go first.
        self.addCleanup(restore)
        return factory
