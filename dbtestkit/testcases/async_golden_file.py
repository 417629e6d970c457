"""AsyncGoldenFileTestCase: each async test gets its own clone of the golden, through the async driver."""

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from dbtestkit.testcases.attributes import SetInSetUp, database_of
from dbtestkit.testcases.awaits import AwaitCheckedTestCase
from dbtestkit.testcases.golden_file import KeepsFailedClones


class AsyncGoldenFileTestCase(KeepsFailedClones, AwaitCheckedTestCase):
    """Each async test gets its own clone of the golden: commit for real, run DDL, open engines.

    Per test: ``self.url`` (the async driver's), ``self.engine`` (an
    ``AsyncEngine`` on it, disposed in the test's loop; the app may make its
    own instead) and ``self.session`` (an ``AsyncSession``). ``clone_kind``
    and ``DBTESTKIT_KEEP`` work as in ``GoldenFileTestCase``; ``session_options``
    as in ``AsyncDatabaseTestCase``.
    """

    database = None
    session_options = {"expire_on_commit": False}
    clone_kind = None
    url = SetInSetUp()
    engine = SetInSetUp()
    session = SetInSetUp()

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The golden is built here, outside any event loop, not in a test's.
        database_of(cls).ensure_golden()

    async def asyncSetUp(self):
        await super().asyncSetUp()
        database = database_of(type(self))
        # In a worker thread: a clone may take a CREATE DATABASE, which must not stall the loop.
        handle = await asyncio.to_thread(database.async_clone, self.clone_kind)
        self.__dict__.setdefault("_dbtestkit_clones", []).append((database, handle.clone))
        self.addCleanup(self._release_clones_unless_run_decides)
        # Cleanups run last in, first out: the session closes, then the engine is disposed.
        self.addAsyncCleanup(handle.dispose)
        self.url = handle.url
        self.engine = handle.engine
        self.session = AsyncSession(bind=self.engine, **self.session_options)
        self.addAsyncCleanup(self.session.close)
