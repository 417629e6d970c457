"""Checks of an Alembic history, framework-free: ``run_check(name, MigrationRunner(database))``."""

from dbtestkit.migration_checks.checks import CHECKS, run_check, select_checks
from dbtestkit.migration_checks.runner import CheckOptions, MigrationRunner

__all__ = ["CHECKS", "CheckOptions", "MigrationRunner", "run_check", "select_checks"]
