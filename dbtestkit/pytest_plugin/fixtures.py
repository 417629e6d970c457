"""The sync fixtures: the database, savepoint per test, clone per test.

Everything dbtestkit is imported inside the fixtures, so a pytest run whose
tests use none of them never imports SQLAlchemy.
"""

import contextlib

import pytest

from dbtestkit.pytest_plugin.outcome import release_clone


@pytest.fixture(scope="session")
def dbtestkit_database(request):
    """The ``TestDatabase`` every dbtestkit fixture uses: from configuration; override it in conftest.py."""
    from dbtestkit.database import default_database
    from dbtestkit.exceptions import ConfigurationError

    try:
        return default_database(near=str(request.config.rootpath))
    except ConfigurationError as error:
        raise ConfigurationError(
            "The dbtestkit_database fixture makes a TestDatabase from setup.cfg [dbtestkit] and "
            f"DBTESTKIT_* settings, which failed: {error} Or override the fixture in conftest.py: "
            "a session-scoped fixture named dbtestkit_database returning dbtestkit.TestDatabase(...)."
        ) from error


def checked(database):
    """Return ``database`` (the ``dbtestkit_database`` fixture's value), refusing anything but a ``TestDatabase``."""
    from dbtestkit.database import TestDatabase
    from dbtestkit.exceptions import ConfigurationError

    if not isinstance(database, TestDatabase):
        raise ConfigurationError(
            f"The dbtestkit_database fixture returned {database!r}; it must return a "
            "dbtestkit.TestDatabase (for example TestDatabase(alembic_ini=\"alembic.ini\"))."
        )
    return database


def clone_kind(request):
    """Return the ``dbtestkit_clone_kind`` of the test's class, else of its module (None: the fastest)."""
    for holder in (request.cls, request.module):
        kind = getattr(holder, "dbtestkit_clone_kind", None)
        if kind is not None:
            return kind
    return None


@contextlib.contextmanager
def clone_for_test(request, dbtestkit_database, asynchronous=False):
    """Give the test its own clone (an async handle if ``asynchronous``); after, keep or drop it by the outcome."""
    database = checked(dbtestkit_database)
    kind = clone_kind(request)
    handle = database.async_clone(kind=kind) if asynchronous else database.clone(kind=kind)
    try:
        yield handle
    finally:
        release_clone(request.node, database, handle.clone if asynchronous else handle)


# -- savepoint per test -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def _dbtestkit_module(request, dbtestkit_database):
    """One connection and outer transaction for the module's tests, with the module's test data."""
    from dbtestkit.pytest_plugin.data import ModuleDatabase

    module = ModuleDatabase(checked(dbtestkit_database), request.module)
    yield module
    module.close()


# Few fixtures per test on purpose: each costs pytest tens of microseconds.
@pytest.fixture
def db_session(request, _dbtestkit_module):
    """A ``Session`` in this test's SAVEPOINT: the app may commit and roll back; all is undone after."""
    test = _dbtestkit_module.owner(request.cls).begin_test()
    yield test.session
    test.end()


@pytest.fixture
def db_connection(db_session):
    """The ``Connection`` holding the module's outer transaction and this test's SAVEPOINT."""
    return db_session.bind


# -- clone per test ---------------------------------------------------------------------------


@pytest.fixture
def db_clone(request, dbtestkit_database):
    """This test's own copy of the golden (``.url``, ``.engine``, ``.drop()``); kept on failure with DBTESTKIT_KEEP.

    ``dbtestkit_clone_kind = "shared"`` in the test's class or module when
    another process must open the clone.
    """
    with clone_for_test(request, dbtestkit_database) as clone:
        yield clone


@pytest.fixture
def db_url(db_clone):
    """The URL of this test's clone (the same clone as ``db_clone`` and ``db_engine``)."""
    return db_clone.url


@pytest.fixture
def db_engine(db_clone):
    """The engine of this test's clone (the same clone as ``db_clone`` and ``db_url``)."""
    return db_clone.engine
