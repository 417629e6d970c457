"""Isolation for async tests: a clone holding a scope's data, and per test a connection, transaction and AsyncSession.

Every async test runs in an event loop of its own (IsolatedAsyncioTestCase,
pytest-asyncio's function loops), and an async connection belongs to the
loop that opened it, so no connection may span tests. A scope (a test
class, or a pytest module) therefore gets a clone of its own, whose data is
*committed* once, outside any loop; each test then opens, in its own loop, a
connection and an outer transaction (and a SAVEPOINT on MySQL, to notice DDL
that committed), and rolls back and closes it before that loop ends. Framework-free: the unittest layer drives
these objects, and so can a pytest plugin.
"""

import asyncio
import inspect
import os
import re
import sys
import sysconfig
import warnings

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from dbtestkit.exceptions import ConfigurationError, ConnectionLost, IsolationBroken
from dbtestkit.event_loops import outside_event_loop
from dbtestkit.isolation import CONNECTION_LOST, ISOLATION_BROKEN

SAVEPOINT = "dbtestkit_test"


class AsyncScope:
    """A clone of ``golden`` holding one scope's data, and the ``AsyncEngine`` its tests connect through.

    ``load`` inserts the data: ``load(connection)`` with a sync ``Connection``
    or ``async load(connection)`` with an ``AsyncConnection``; it runs once,
    and its transaction is committed (the clone is the scope's alone).
    ``open()`` is called outside any loop (in one, it runs in a thread);
    ``open_async()`` in the running loop; ``begin_test()`` in each test's.
    """

    def __init__(self, golden, load=None):
        self.golden = golden
        self.backend = golden.backend
        self.load = load
        self.clone = None
        self.url = None
        self.engine = self.own_engine = None

    def open(self):
        """Clone the golden and load the data, outside any event loop."""
        outside_event_loop(self._open)

    def _open(self):
        self._new_clone()
        if _is_async(self.load):
            asyncio.run(self._load_async())
        elif self.load is not None:
            self._load_sync()

    async def open_async(self):
        """Clone the golden (in a worker thread) and load the data in the running loop."""
        # A clone may take a CREATE DATABASE, which must not stall the loop.
        await asyncio.to_thread(self._new_clone)
        if _is_async(self.load):
            await self._load_async()
        elif self.load is not None:
            self._load_sync()

    def _new_clone(self):
        self.close()
        self.clone = self.golden.clone()
        try:
            self.url = self.backend.async_url(self.clone.url)
        except BaseException:  # the async driver is missing: leave nothing behind
            self.close()
            raise
        # NullPool: a pooled connection would outlive its test's loop. Two
        # engines: the tests' own connections wait for locks as usual; other
        # connections (self.engine) give up fast, as in sync savepoint mode.
        self.own_engine = create_async_engine(self.url, poolclass=NullPool)
        self.backend.prepare_own_engine(self.own_engine.sync_engine)
        self.engine = create_async_engine(self.url, poolclass=NullPool)
        self.backend.prepare_outer_engine(self.engine.sync_engine)

    def _load_sync(self):
        engine = self.clone.engine
        with engine.begin() as connection:
            self.load(connection)
        engine.dispose()

    async def _load_async(self):
        # An engine of this loop's own, disposed before the loop ends.
        engine = create_async_engine(self.url, poolclass=NullPool)
        try:
            async with engine.begin() as connection:
                await self.load(connection)
        finally:
            await engine.dispose()

    async def begin_test(self, **session_options):
        """Return the ``AsyncTestTransaction`` of one test, begun in the running loop.

        ``session_options`` go to its ``AsyncSession`` (e.g. ``expire_on_commit=False``).
        """
        if self.clone is None:
            raise ConfigurationError(
                "The async scope is not open: call super().setUpClass() in setUpClass "
                "overrides (or open() the scope before its tests)."
            )
        return await AsyncTestTransaction.begin(self, session_options)

    async def renew(self):
        """Start again on a fresh clone with the data loaded again, after a test broke the clone."""
        await self.open_async()

    def close(self):
        """Drop the clone (the engine pools nothing, so nothing is left in any loop)."""
        clone, self.clone, self.engine, self.own_engine = self.clone, None, None, None
        if clone is not None:
            clone.drop()


class AsyncTestTransaction:
    """One test's connection, outer transaction and ``AsyncSession`` (which may commit freely)."""

    # Not a test, despite the name.
    __test__ = False

    def __init__(self, scope, connection, transaction, session_options=None):
        self.scope = scope
        self.connection = connection
        self.transaction = transaction
        # create_savepoint: the app's commit() releases the session's own
        # savepoint, never the outer transaction.
        self.session = AsyncSession(bind=connection, join_transaction_mode="create_savepoint",
                                    **(session_options or {}))

    @classmethod
    async def begin(cls, scope, session_options=None):
        """Connect to ``scope``'s clone and begin the test's transaction (and savepoint, on MySQL)."""
        connection = await scope.own_engine.connect()
        try:
            transaction = await connection.begin()
            if scope.backend.ddl_commits_implicitly:
                # Only to notice that DDL committed: ROLLBACK TO it fails then.
                await connection.exec_driver_sql(f"SAVEPOINT {SAVEPOINT}")
        except BaseException:
            await connection.close()
            raise
        return cls(scope, connection, transaction, session_options)

    async def end(self):
        """Close the session, undo everything the test did and close the connection, in this loop.

        Raises ``IsolationBroken`` (the test ended the outer transaction, or
        MySQL committed DDL) or ``ConnectionLost``, after renewing the scope's
        clone so the next test starts clean.
        """
        backend, connection = self.scope.backend, self.connection
        cause = None
        try:
            await self.session.close()
            if self.transaction.is_active and not connection.invalidated:
                try:
                    await connection.run_sync(backend.before_savepoint_rollback)
                finally:
                    if backend.ddl_commits_implicitly:
                        # Fails when DDL committed (and so erased) the savepoint.
                        await connection.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {SAVEPOINT}")
                    await self.transaction.rollback()
                return
        except DBAPIError as error:
            if not (error.connection_invalidated or backend.savepoint_lost(error)):
                raise
            cause = error
        finally:
            lost = connection.invalidated
            await connection.close()
        await self.scope.renew()
        if lost:
            raise ConnectionLost(CONNECTION_LOST) from cause
        raise IsolationBroken(ISOLATION_BROKEN) from cause


class AsyncClone:
    """One test's clone of the golden, through the async driver: ``.url``, ``.engine``, ``.clone``.

    ``.engine`` is an ``AsyncEngine`` as the app would make one on ``.url``,
    created on first use in the running loop; ``await dispose()`` it in that
    loop, then drop (or keep) ``.clone``.
    """

    def __init__(self, clone):
        self.clone = clone
        self.url = clone.backend.async_url(clone.url)
        self._engine = None

    @property
    def engine(self):
        """The clone's ``AsyncEngine``, created on first use."""
        if self._engine is None:
            self._engine = create_async_engine(self.url)
        return self._engine

    async def dispose(self):
        """Close the engine's connections, in the loop that opened them."""
        if self._engine is not None:
            await self._engine.dispose()


class MissingAwaits:
    """Records coroutines created and never awaited while it is active (a test that forgot ``await``).

    Python reports such a coroutine with a RuntimeWarning when it is freed;
    under ``-W error`` that becomes an "Exception ignored" report instead.
    Both are caught here, so the test can fail with ``message()``; other
    warnings, and coroutines a library made (left behind by an earlier
    error), pass on unchanged.
    """

    def __init__(self):
        # (what to tell, how to show it as Python would have) per coroutine.
        self.found = []
        # How many of ``found`` the test's failure already reports.
        self.reported = 0

    def __enter__(self):
        self._showwarning, self._unraisablehook = warnings.showwarning, sys.unraisablehook
        warnings.showwarning, sys.unraisablehook = self._warning, self._unraisable
        return self

    def __exit__(self, *exc_info):
        warnings.showwarning, sys.unraisablehook = self._showwarning, self._unraisablehook
        # Not turned into a failure (the test failed anyway): shown as Python would have.
        for _, show in self.found[self.reported:]:
            show()

    def _warning(self, message, category, filename, lineno, file=None, line=None):
        def show():
            self._showwarning(message, category, filename, lineno, file, line)

        text = str(message)
        # The loop's debug mode (IsolatedAsyncioTestCase's) adds where it was made.
        made = _FILE_LINE.findall(text)
        if not _unawaited(category, text) or (made and _in_library(made[-1][0])):
            return show()
        where = f"created at {made[-1][0]}:{made[-1][1]}" if made else f"freed at {filename}:{lineno}"
        self.found.append((f"{text.splitlines()[0]} ({where})", show))

    def _unraisable(self, unraisable):
        def show():
            self._unraisablehook(unraisable)

        error = unraisable.exc_value
        origin = getattr(unraisable.object, "cr_origin", None)
        if not _unawaited(type(error), str(error)) or (origin and _in_library(origin[0][0])):
            return show()
        where = f" (created at {origin[0][0]}:{origin[0][1]})" if origin else ""
        self.found.append((str(error).splitlines()[0] + where, show))

    def message(self, test_id):
        """Explain what was not awaited in test ``test_id``."""
        found = "; ".join(text for text, _ in self.found)
        self.reported = len(self.found)
        return (
            f"{test_id} called a coroutine function without awaiting it: {found}. Its work "
            "(a query, a commit) never ran, so the test checked nothing of it. Write "
            "`await` before the call, e.g. `await self.session.execute(...)`."
        )


_FILE_LINE = re.compile(r'File "([^"]+)", line (\d+)')
# Where Python and installed packages live: coroutines made there are no test's doing.
_LIBRARY_PATHS = tuple({os.path.join(path, "") for key, path in sysconfig.get_paths().items()
                        if key in ("stdlib", "platstdlib", "purelib", "platlib")})


def _unawaited(category, text):
    return issubclass(category, RuntimeWarning) and "was never awaited" in text


def _in_library(filename):
    return os.path.abspath(filename).startswith(_LIBRARY_PATHS)


def _is_async(load):
    return load is not None and inspect.iscoroutinefunction(load)
