"""Transactions that isolate tests: an outer transaction, class data, a savepoint per test.

Framework-free: the unittest layer drives these objects, and so could any
other runner. Every scope gets the golden its clones come from
(``golden.clone()``) and whose backend's savepoint-mode hooks it calls
(``golden.backend``); nothing here knows what made that golden.
"""

import threading
import weakref

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, scoped_session, sessionmaker
from sqlalchemy.util import ThreadLocalRegistry

from dbtestkit.exceptions import ConfigurationError, ConnectionLost, IsolationBroken

# What a savepoint-mode test is told when its connection died, or when it ended the outer transaction.
CONNECTION_LOST = (
    "The database connection of this test was lost: something outside the test "
    "ended it (the server restarted, an administrator or another program killed "
    "the connection, or a server timeout for idle connections ran out). What the "
    "test wrote went with its clone, and the next test starts on a fresh clone "
    "with class data loaded again. If nothing ended it on purpose, look in the "
    "server's log for why."
)
ISOLATION_BROKEN = (
    "The test ended the transaction that isolates tests from each other: it called "
    "commit() or rollback() on self.connection, or ran a statement that commits "
    "implicitly (DDL such as CREATE TABLE on MySQL). What it wrote was thrown away "
    "with its clone. Use self.session, which may commit and roll back freely, or "
    "GoldenFileTestCase (AsyncGoldenFileTestCase) for tests that must commit for real or run DDL."
)


class OuterTransaction:
    """One connection to a fresh clone of ``golden``, inside one transaction that is never committed."""

    def __init__(self, golden):
        self.golden = golden
        self.backend = golden.backend
        self.clone = None
        self.connection = None
        self.transaction = None
        # Bumped on every (re)open so class data knows when to load itself again.
        self.generation = 0

    def open(self):
        """Clone the golden, connect, and begin the outer transaction."""
        backend = self.backend
        self.clone = self.golden.clone()
        try:
            # Other connections of the test (self.engine's, the app's) open the
            # database this outer transaction holds: reachable by URL before it begins.
            self.clone.share()
            backend.prepare_outer_engine(self.clone.engine)
            self.connection = self.clone.engine.connect()
            backend.prepare_outer_connection(self.connection)
            self.transaction = self.connection.begin()
        except BaseException:
            self.close()
            raise
        self.generation += 1

    @property
    def intact(self):
        """Whether the outer transaction is still open, so rolling back undoes everything."""
        return self.transaction is not None and self.transaction.is_active and not self.lost

    @property
    def lost(self):
        """Whether the connection died under us (the server ended it, or it broke)."""
        return self.connection is not None and self.connection.invalidated

    def close(self):
        """Roll everything back and drop the clone."""
        try:
            if self.intact:
                self.transaction.rollback()
        finally:
            if self.connection is not None:
                self.connection.close()
            if self.clone is not None:
                self.clone.drop()
            self.clone = self.connection = self.transaction = None

    def reopen(self):
        """Start again on a new clone, after a test broke the outer transaction."""
        self.close()
        self.open()


class ClassData:
    """The savepoint that holds one class's ``setUpTestData`` rows."""

    def __init__(self, outer, load):
        self.outer = outer
        self.load = load
        self.savepoint = None
        self.generation = None

    def ensure(self):
        """Load the class data unless it is already loaded in the current outer transaction."""
        # Discarded (another class ran in between) means loaded again, even in the same transaction.
        current = self.savepoint is not None and self.generation == self.outer.generation
        if current and self.savepoint.is_active:
            return
        self.savepoint = self.outer.connection.begin_nested()
        self.generation = self.outer.generation
        self.load(self.outer.connection)

    def discard(self):
        """Roll the class data back (unless it went with an outer transaction since replaced)."""
        current = self.generation == self.outer.generation
        if current and self.savepoint is not None and self.savepoint.is_active and self.outer.intact:
            self.savepoint.rollback()
        self.savepoint = None


class Savepoint:
    """A named SAVEPOINT that is rolled back and then released.

    SQLAlchemy's nested transaction only rolls back to its savepoint, which
    leaves it open; over thousands of tests on one outer transaction the
    stack grows and every statement slows down (benchmarks/isolation.py).
    """

    def __init__(self, connection, name):
        self.connection = connection
        self.name = name
        connection.exec_driver_sql(f"SAVEPOINT {name}")

    def undo(self):
        """Roll back to the savepoint and release it."""
        self.connection.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {self.name}")
        self.connection.exec_driver_sql(f"RELEASE SAVEPOINT {self.name}")


class TestTransaction:
    """A SAVEPOINT for one test, and a Session joined to it that may commit freely."""

    # Not a test, despite the name.
    __test__ = False

    def __init__(self, outer):
        self.outer = outer
        self.savepoint = Savepoint(outer.connection, "dbtestkit_test")
        # create_savepoint: the app's commit() releases the Session's own
        # savepoint, never our test savepoint or the outer transaction.
        self.session = Session(bind=outer.connection, join_transaction_mode="create_savepoint")

    def end(self):
        """Close the Session and undo everything the test did."""
        backend = self.outer.backend
        cause = None
        try:
            self.session.close()
            if self.outer.intact:
                try:
                    backend.before_savepoint_rollback(self.outer.connection)
                finally:
                    if not self.outer.lost:
                        self.savepoint.undo()
                return
        except DBAPIError as error:
            # MySQL commits implicitly on DDL, which erases every savepoint.
            if not (error.connection_invalidated or backend.savepoint_lost(error)):
                raise
            cause = error
        lost = self.outer.lost
        self.outer.reopen()
        if lost:
            raise ConnectionLost(CONNECTION_LOST) from cause
        raise IsolationBroken(ISOLATION_BROKEN) from cause


class SharedScope:
    """One outer transaction shared by several test classes (those of a module, or of a nose2 layer).

    ``load(connection)``, if given, inserts data every class of the scope
    sees, in a savepoint below theirs (a pytest module's test data).
    """

    def __init__(self, golden, load=None):
        self.golden = golden
        self.load = load
        self.outer = None
        self.data = None
        # The class whose data is loaded now; another class's tests roll it back first.
        self.active_class = None

    def open(self):
        """Open the shared connection and outer transaction."""
        self.close()
        outer = OuterTransaction(self.golden)
        outer.open()
        self.outer = outer
        if self.load is not None:
            self.data = ClassData(outer, self.load)

    def close(self):
        """Roll back and drop the shared clone."""
        if self.outer is not None:
            self.outer.close()
            self.outer = None
        self.data = None


class ClassScope:
    """What a test class runs in: a shared outer transaction or its own, plus class data.

    ``shared`` is the ``SharedScope`` the class joins if it is open when the
    class opens (a module's or a nose2 layer's); ``load(connection)`` inserts
    the class data, once per outer transaction.
    """

    def __init__(self, golden, load, shared=None):
        self.golden = golden
        self.load = load
        self.shared = shared
        self.outer = None
        self.owns_outer = False
        self.data = None

    def open(self):
        """Join the shared scope (or open a transaction of its own) and load class data."""
        shared = self.shared
        if shared is not None and shared.outer is not None:
            self.outer = shared.outer
        else:
            self.shared = None
            self.outer = OuterTransaction(self.golden)
            self.owns_outer = True
            self.outer.open()
        self.data = ClassData(self.outer, self.load)
        self._activate()

    def begin_test(self):
        """Return the transaction of one test, reloading class data if a test broke it."""
        if self.outer is None or self.outer.connection is None:
            raise ConfigurationError(
                "The class's database scope is not open: call super().setUpClass() in "
                "setUpClass overrides, and do not use tests after tearDownModule."
            )
        if not self.outer.lost:
            try:
                self._activate()
                return TestTransaction(self.outer)
            except DBAPIError as error:
                if not error.connection_invalidated:
                    raise
        # The connection died between tests: no test broke anything, so this
        # one starts on a fresh clone instead of failing.
        self.outer.reopen()
        self._activate()
        return TestTransaction(self.outer)

    def _activate(self):
        # Runners that interleave classes, or never call tearDownClass (nose2
        # layers), would otherwise show one class's data to another.
        shared = self.shared
        if shared is not None and shared.active_class not in (None, self):
            shared.active_class.data.discard()
        if shared is not None:
            shared.active_class = self
            if shared.data is not None:
                # Below the class's own savepoint: loaded first, and again after a reopen.
                shared.data.ensure()
        self.data.ensure()

    def close(self):
        """Discard class data, and the outer transaction if the class owns it."""
        try:
            if self.data is not None:
                self.data.discard()
            if self.shared is not None and self.shared.active_class is self:
                self.shared.active_class = None
        finally:
            if self.owns_outer and self.outer is not None:
                self.outer.close()
            self.outer = None


def bind_session_factory(factory, bind, join_savepoint=False):
    """Point an app's ``sessionmaker`` or ``scoped_session`` at ``bind``; return the function that undoes it.

    Every session the factory makes until then talks to ``bind`` (a test's
    connection or engine), whatever database its class's ``get_bind`` would
    choose (Flask-SQLAlchemy's picks its own engine), and with
    ``join_savepoint`` joins the test's transaction in a savepoint of its own.
    Undoing it closes every session the factory made meanwhile, which the
    app may have left open, and a scoped_session forgets them.
    """
    scoped = factory if isinstance(factory, scoped_session) else None
    maker = scoped.session_factory if scoped is not None else factory
    if not isinstance(maker, sessionmaker):
        raise ConfigurationError(
            f"bind_sessionmaker() takes a sessionmaker or a scoped_session, got {factory!r}. "
            "Pass the application's SessionLocal = sessionmaker(...) (or scoped_session(...)) itself."
        )
    saved = maker.kw, maker.class_
    kw = dict(maker.kw)
    kw["bind"] = bind
    if join_savepoint:
        kw["join_transaction_mode"] = "create_savepoint"
    made = weakref.WeakSet()
    maker.kw = kw
    maker.class_ = _bound_class(maker.class_, made)
    _forget_sessions(scoped)

    def restore():
        _forget_sessions(scoped)
        maker.kw, maker.class_ = saved
        # A session left open would keep its savepoint on the test's connection.
        for session in list(made):
            session.close()

    return restore


def _bound_class(base, made):
    """Return a subclass of the session class ``base`` whose sessions use their own ``bind``, noted in ``made``."""
    def __init__(session, *args, **kwargs):
        base.__init__(session, *args, **kwargs)
        made.add(session)

    def get_bind(session, mapper=None, clause=None, bind=None, **kwargs):
        bind = bind if bind is not None else session.bind
        if bind is not None:
            return bind
        return base.get_bind(session, mapper, clause, **kwargs)

    namespace = {"__init__": __init__, "get_bind": get_bind, "__module__": base.__module__}
    return type(base.__name__, (base,), namespace)


def _forget_sessions(scoped):
    if scoped is None:
        return
    registry = scoped.registry
    if isinstance(registry, ThreadLocalRegistry):
        # A fresh thread-local: other threads' sessions (a web server's worker
        # threads) are out of reach here; they are closed with the others made.
        sessions = [registry()] if registry.has() else []
        registry.registry = threading.local()
    else:
        # Every scope's session, not only the current one: a Flask app context
        # or a request's scope may be gone by now, and its session with it.
        sessions, registry.registry = list(registry.registry.values()), {}
    for session in sessions:
        session.close()
