"""dbtestkit: fast, isolated databases for unittest suites of SQLAlchemy + Alembic code."""

import importlib

from dbtestkit.database import TestDatabase
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

# The unittest layer is imported on first use: a CLI or a pytest fixture that
# only needs TestDatabase should not pay for importing unittest.
_LAZY = {
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
