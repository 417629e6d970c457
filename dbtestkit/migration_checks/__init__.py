"""Checks of an Alembic history, framework-free: ``run_check(name, MigrationRunner(database))``."""

from dbtestkit.migration_checks.checks import CHECKS, CheckOptions, MigrationRunner, run_check, select_checks

__all__ = ["CHECKS", "CheckOptions", "MigrationRunner", "run_check", "select_checks"]
