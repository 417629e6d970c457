"""dbtestkit: fast, isolated databases for unittest suites of SQLAlchemy + Alembic code."""

__version__ = "0.1.0"

from dbtestkit.database import TestDatabase  # noqa: E402
from dbtestkit.exceptions import (  # noqa: E402
    BackendUnavailable,
    ConfigurationError,
    DbtestkitError,
    GoldenMismatch,
    IsolationBroken,
    MigrationError,
)
from dbtestkit.testcase import DatabaseTestCase, GoldenFileTestCase  # noqa: E402

__all__ = [
    "BackendUnavailable",
    "ConfigurationError",
    "DatabaseTestCase",
    "DbtestkitError",
    "GoldenFileTestCase",
    "GoldenMismatch",
    "IsolationBroken",
    "MigrationError",
    "TestDatabase",
]
