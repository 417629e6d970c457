"""The unittest layer of the migration checks: one discovered test method per check."""

import unittest

from dbtestkit.exceptions import ConfigurationError
from dbtestkit.migration_checks import CheckOptions, MigrationRunner, run_check, select_checks

# unittest: leave this glue out of failure tracebacks (pytest: __tracebackhide__).
__unittest = True
__tracebackhide__ = True


class MigrationTestCase(unittest.TestCase):
    """Checks of an Alembic history, each a ``test_*`` method: subclass it with ``database = DB``.

    Class attributes: ``database`` (a ``TestDatabase`` built from migrations),
    ``metadata`` (the models; default: env.py's ``target_metadata``),
    ``checks`` / ``skip_checks`` (names from ``dbtestkit.migration_checks.CHECKS``),
    ``ignore_tables`` (names or shell patterns the models do not own) and
    ``minimum_downgrade_revision`` (downgrades at and below it are not run).
    Override ``include_object`` to leave other objects out of the model comparison.
    """

    # The base class checks nothing; subclasses are collected (pytest, nose2).
    __test__ = False

    database = None
    metadata = None
    checks = None
    skip_checks = ()
    ignore_tables = ()
    minimum_downgrade_revision = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__test__" not in cls.__dict__:
            cls.__test__ = True
        if isinstance(cls.ignore_tables, str):
            raise ConfigurationError(
                f"{cls.__qualname__}.ignore_tables must be a tuple of table names, "
                f"e.g. ({cls.ignore_tables!r},)."
            )
        # Unknown names fail here, when the test module is imported, not in the middle of a run.
        cls._dbtestkit_selected = select_checks(cls.checks, cls.skip_checks, cls.__qualname__)

    def include_object(self, object, name, type_, reflected, compare_to):
        """Override to leave objects out of ``test_model_definitions_match_ddl`` (Alembic's hook)."""
        return True

    def test_single_head_revision(self):
        """The history has exactly one head."""
        self._run("single_head_revision")

    def test_upgrade(self):
        """The history upgrades an empty database to head."""
        self._run("upgrade")

    def test_model_definitions_match_ddl(self):
        """The models match the schema the migrations build."""
        self._run("model_definitions_match_ddl")

    def test_up_down_consistency(self):
        """Every revision downgrades and upgrades again."""
        self._run("up_down_consistency")

    def test_downgrade_leaves_no_trace(self):
        """Every downgrade restores the schema its upgrade started from."""
        self._run("downgrade_leaves_no_trace")

    def _run(self, name):
        cls = type(self)
        selected = cls.__dict__.get("_dbtestkit_selected", getattr(cls, "_dbtestkit_selected", None))
        if selected is None:
            self.skipTest("MigrationTestCase itself checks nothing; subclass it with database = ...")
        if name not in selected:
            if cls.checks is not None and name not in select_checks(cls.checks):
                self.skipTest(f"{name} is not in {cls.__qualname__}.checks = {cls.checks!r}")
            self.skipTest(f"{name} is in {cls.__qualname__}.skip_checks")
        run_check(name, MigrationRunner(self._database(), self._options()))

    def _database(self):
        from dbtestkit.testcase import _database_of

        return _database_of(type(self))

    def _options(self):
        overridden = type(self).include_object is not MigrationTestCase.include_object
        return CheckOptions(
            metadata=self.metadata,
            ignore_tables=tuple(self.ignore_tables or ()),
            include_object=self.include_object if overridden else None,
            minimum_downgrade_revision=self.minimum_downgrade_revision,
        )
