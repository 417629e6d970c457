"""The async fixtures, run in the test's own event loop by pytest-asyncio (1.x) or anyio's plugin.

Both plugins take an ``async def`` fixture, but in different ways:
anyio's runs any async fixture a test that uses ``anyio_backend`` asks for;
pytest-asyncio (in its default strict mode) only those marked as its own,
in the loop of the ``loop_scope`` they name. So the marking is decided per
test, here: for a pytest-asyncio test the fixture is marked with that
test's loop scope, so the engine lives in the loop the test awaits in.
"""

import pytest

from dbtestkit.pytest_plugin.fixtures import checked, clone_for_test


@pytest.fixture(scope="module")
def _dbtestkit_async_scope(dbtestkit_database):
    """The clone a module's async savepoint tests connect to (made outside any event loop)."""
    scope = checked(dbtestkit_database).async_scope()
    scope.open()
    yield scope
    scope.close()


@pytest.fixture
async def _dbtestkit_async_test(_dbtestkit_async_scope):
    """One test's async connection, outer transaction and savepoint ``AsyncSession``, in its loop."""
    test = await _dbtestkit_async_scope.begin_test()
    try:
        yield test
    finally:
        await test.end()


@pytest.fixture
def async_db_session(_dbtestkit_async_test):
    """An ``AsyncSession`` in this test's transaction: the app may ``await commit()``; all is undone after."""
    return _dbtestkit_async_test.session


@pytest.fixture
def async_db_connection(_dbtestkit_async_test):
    """The ``AsyncConnection`` holding this test's outer transaction."""
    return _dbtestkit_async_test.connection


@pytest.fixture
async def async_db_clone(request, dbtestkit_database):
    """This test's own clone through its async driver: ``.url``, ``.engine`` (an ``AsyncEngine``), ``.clone``."""
    with clone_for_test(request, dbtestkit_database, asynchronous=True) as handle:
        try:
            yield handle
        finally:
            # In the test's loop, which is still running: its connections die with it.
            await handle.dispose()


ASYNC_FIXTURES = {"_dbtestkit_async_test": _dbtestkit_async_test, "async_db_clone": async_db_clone}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_fixture_setup(fixturedef, request):
    """Hand dbtestkit's async fixtures to the plugin running this test, in this test's loop."""
    # Called for every fixture of the run: the cheap test first.
    if fixturedef.argname not in ASYNC_FIXTURES:
        return (yield)
    original = getattr(fixturedef.func, "_dbtestkit_original", fixturedef.func)
    if getattr(original, "__module__", None) != __name__:
        # Not ours (a project may define a fixture of the same name): left alone.
        return (yield)
    if "anyio_backend" in request.fixturenames:
        fixturedef.func = original
    else:
        # Left in place for the test: pytest-asyncio checks the marking again when it calls the test.
        fixturedef.func = _marked_for_asyncio(original, _asyncio_loop_scope(request))
    return (yield)


def _asyncio_loop_scope(request):
    from dbtestkit.exceptions import ConfigurationError

    marker = request.node.get_closest_marker("asyncio")
    if marker is None or not request.config.pluginmanager.hasplugin("asyncio"):
        raise ConfigurationError(
            f"{request.node.nodeid} asks for {request.fixturename}, an async fixture, but no "
            "async test plugin runs it: make it an `async def` test marked "
            "@pytest.mark.asyncio (pip install 'pytest-asyncio>=1'; or asyncio_mode = auto) "
            "or @pytest.mark.anyio (anyio's plugin), or use the sync fixtures "
            "(db_session, db_clone)."
        )
    return (marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")
            or request.config.getini("asyncio_default_test_loop_scope") or "function")


def _marked_for_asyncio(function, loop_scope):
    """Return ``function`` marked as a pytest-asyncio fixture of ``loop_scope`` (a marked copy)."""
    import pytest_asyncio

    async def fixture(**kwargs):
        async for value in function(**kwargs):
            yield value

    fixture.__name__ = function.__name__
    fixture.__module__ = function.__module__
    fixture._dbtestkit_original = function
    # pytest_asyncio.fixture marks the function it is given; the fixture it
    # returns is not needed, as this one only stands in for one setup.
    pytest_asyncio.fixture(fixture, loop_scope=loop_scope)
    return fixture
