"""Async isolation: an ``AsyncEngine`` over a clone, and a savepoint ``AsyncSession`` per test.

Framework-free, like ``isolation``. An event loop may live no longer than one
test (pytest-asyncio's default, anyio), and an async connection belongs to
the loop that opened it, so nothing async spans tests: the clone is made
synchronously (by its owner, once per module or per test), and each test
opens its engine, connection and transactions inside its own loop and
disposes of them there.
"""

from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from dbtestkit.backends.async_drivers import async_url, prepare_async_savepoint_engine
from dbtestkit.exceptions import IsolationBroken


class AsyncClone:
    """A clone seen through its async driver: ``.url``, ``.engine`` (an ``AsyncEngine``), ``.drop()``."""

    def __init__(self, clone):
        self.clone = clone
        self.url = async_url(clone.url)
        self.sync_url = clone.url
        self._engine = None

    @property
    def engine(self):
        """The ``AsyncEngine`` of this clone, created on first use (in the loop that uses it)."""
        if self._engine is None:
            self._engine = create_async_engine(self.url)
        return self._engine

    async def dispose(self):
        """Close the engine's connections, in the loop that opened them."""
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def drop(self):
        """Dispose of the engine and delete the copy; safe to call twice."""
        await self.dispose()
        self.clone.drop()

    async def keep(self, label):
        """Dispose of the engine, keep the copy for inspection and return where it is."""
        await self.dispose()
        return self.clone.keep(label)


class SharedAsyncClone:
    """The clone the async savepoint tests of one module connect to; ``make()`` gives a new one."""

    def __init__(self, make):
        self.make = make
        self.clone = make()

    @property
    def url(self):
        """The clone's URL with its async driver."""
        return async_url(self.clone.url)

    def renew(self):
        """Replace the clone (a test committed into it)."""
        self.clone.drop()
        self.clone = self.make()

    def close(self):
        """Drop the clone."""
        self.clone.drop()


class AsyncTestTransaction:
    """One test's connection to ``url`` (async), its outer transaction, and a Session that may commit."""

    # Not a test, despite the name.
    __test__ = False

    def __init__(self, url):
        self.url = url
        self.engine = None
        self.connection = None
        self.transaction = None
        self.session = None

    async def begin(self):
        """Connect, begin the outer transaction, and join a Session to it with a savepoint."""
        # NullPool: a pooled connection would outlive this test's loop.
        self.engine = create_async_engine(self.url, poolclass=NullPool)
        prepare_async_savepoint_engine(self.engine)
        try:
            self.connection = await self.engine.connect()
            self.transaction = await self.connection.begin()
        except BaseException:
            await self.end()
            raise
        # create_savepoint: the app's commit() releases the Session's own
        # savepoint, never the outer transaction.
        self.session = AsyncSession(bind=self.connection, join_transaction_mode="create_savepoint")
        return self

    async def end(self):
        """Close the Session, roll everything back and dispose of the engine.

        Returns False when the test itself ended the outer transaction (what
        it wrote may then be committed), True otherwise.
        """
        intact = True
        try:
            if self.session is not None:
                await self.session.close()
            if self.transaction is not None:
                intact = self.transaction.is_active
                if intact:
                    await self.transaction.rollback()
        finally:
            try:
                if self.connection is not None:
                    await self.connection.close()
            finally:
                if self.engine is not None:
                    await self.engine.dispose()
                self.engine = self.connection = self.transaction = self.session = None
        return intact


async def end_test(test, shared):
    """End ``test``; if it ended its outer transaction, renew ``shared`` and raise ``IsolationBroken``."""
    if await test.end():
        return
    shared.renew()
    raise IsolationBroken(
        "The test ended the transaction that isolates async tests from each other: it called "
        "commit() or rollback() on the async connection itself. What it committed was thrown "
        "away with its clone, and the next test gets a fresh one. Use the AsyncSession, which "
        "may commit and roll back freely, or a clone of the test's own for tests that must "
        "commit for real."
    )
