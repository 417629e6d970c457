"""The sync fixtures: the database, savepoint per test, clone per test.

Everything dbtestkit is imported inside the fixtures, so a pytest run whose
tests use none of them never imports SQLAlchemy.
"""

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


def checked_database(request):
    """Return the ``dbtestkit_database`` fixture's value, refusing anything but a ``TestDatabase``."""
    from dbtestkit.database import TestDatabase
    from dbtestkit.exceptions import ConfigurationError

    database = request.getfixturevalue("dbtestkit_database")
    if not isinstance(database, TestDatabase):
        raise ConfigurationError(
            f"The dbtestkit_database fixture returned {database!r}; it must return a "
            "dbtestkit.TestDatabase (for example TestDatabase(alembic_ini=\"alembic.ini\"))."
        )
    return database


# -- savepoint per test -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def _dbtestkit_module(request):
    """One connection and outer transaction for the module's tests, with the module's test data."""
    from dbtestkit.pytest_plugin.data import ModuleDatabase

    module = ModuleDatabase(checked_database(request), request.module)
    yield module
    module.close()


@pytest.fixture(scope="class")
def _dbtestkit_owner(request, _dbtestkit_module):
    """The scope of a class's tests (or of the module's functions), holding its test data."""
    if request.cls is None:
        # Class scope ends with each test outside a class: the module keeps this one.
        yield _dbtestkit_module.functions
        return
    owner = _dbtestkit_module.owner(request.cls)
    yield owner
    owner.close()


@pytest.fixture
def _dbtestkit_test(_dbtestkit_owner):
    """The SAVEPOINT of one test and its Session; undone after the test."""
    test = _dbtestkit_owner.begin_test()
    yield test
    test.end()


@pytest.fixture
def db_session(_dbtestkit_test):
    """A ``Session`` in this test's SAVEPOINT: the app may commit and roll back; all is undone after."""
    return _dbtestkit_test.session


@pytest.fixture
def db_connection(_dbtestkit_test):
    """The ``Connection`` holding the module's outer transaction and this test's SAVEPOINT."""
    return _dbtestkit_test.outer.connection


# -- clone per test ---------------------------------------------------------------------------


@pytest.fixture
def dbtestkit_clone_kind():
    """The kind of clone ``db_clone`` makes: None (the fastest) or ``"shared"``; override to change."""
    return None


@pytest.fixture
def db_clone(request, dbtestkit_clone_kind):
    """This test's own copy of the golden (``.url``, ``.engine``, ``.drop()``); kept on failure with DBTESTKIT_KEEP."""
    database = checked_database(request)
    clone = database.clone(kind=dbtestkit_clone_kind)
    yield clone
    release_clone(request.node, database, clone)


@pytest.fixture
def db_url(db_clone):
    """The URL of this test's clone (the same clone as ``db_clone`` and ``db_engine``)."""
    return db_clone.url


@pytest.fixture
def db_engine(db_clone):
    """The engine of this test's clone (the same clone as ``db_clone`` and ``db_url``)."""
    return db_clone.engine
