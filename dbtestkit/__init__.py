"""dbtestkit: fast, isolated databases for unittest suites of SQLAlchemy + Alembic code."""

import importlib

from dbtestkit.exceptions import (
    BackendUnavailable,
    CloneNotShareable,
    ConfigurationError,
    ConnectionLost,
    DbtestkitError,
    GoldenMismatch,
    IsolationBroken,
    LockWaitTimeout,
    MigrationError,
)
from dbtestkit.version import __version__

# Imported on first use: a CLI or a pytest fixture that only needs TestDatabase
# should not pay for importing unittest, and the pytest plugin, loaded into
# every pytest run, should not pay for SQLAlchemy until a test asks for a database.
_LAZY = {
    "TestDatabase": "dbtestkit.database",
    "AsyncDatabaseTestCase": "dbtestkit.testcases.async_savepoint",
    "AsyncGoldenFileTestCase": "dbtestkit.testcases.async_golden_file",
    "DatabaseTestCase": "dbtestkit.testcases.savepoint",
    "GoldenFileTestCase": "dbtestkit.testcases.golden_file",
    "MigrationTestCase": "dbtestkit.testcases.migration",
}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dbtestkit' has no attribute {name!r}")

__all__ = [
    "AsyncDatabaseTestCase",
    "AsyncGoldenFileTestCase",
    "BackendUnavailable",
    "CloneNotShareable",
    "ConfigurationError",
    "ConnectionLost",
    "DatabaseTestCase",
    "DbtestkitError",
    "GoldenFileTestCase",
    "GoldenMismatch",
    "IsolationBroken",
    "LockWaitTimeout",
    "MigrationError",
    "MigrationTestCase",
    "TestDatabase",
    "__version__",
]
