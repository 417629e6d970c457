"""dbtestkit's pytest plugin: fixtures on the same golden and isolation as the unittest classes.

pytest loads it through the ``pytest11`` entry point whenever dbtestkit is
installed. Loading it imports pytest and nothing else: SQLAlchemy, the
configuration and the database come with the first dbtestkit fixture a test
asks for. The only package of dbtestkit that imports pytest.
"""

from dbtestkit.pytest_plugin.async_fixtures import (  # noqa: F401 (fixtures and hooks pytest finds by name)
    _dbtestkit_async_scope,
    _dbtestkit_async_test,
    async_db_clone,
    async_db_connection,
    async_db_session,
    pytest_fixture_setup,
)
from dbtestkit.pytest_plugin.data import test_data
from dbtestkit.pytest_plugin.fixtures import (  # noqa: F401
    _dbtestkit_module,
    db_clone,
    db_connection,
    db_engine,
    db_session,
    db_url,
    dbtestkit_database,
)
from dbtestkit.pytest_plugin.outcome import (  # noqa: F401
    pytest_runtest_makereport,
    pytest_sessionfinish,
    pytest_terminal_summary,
    pytest_testnodedown,
)

__all__ = ["test_data"]
