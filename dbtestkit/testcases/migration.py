"""The unittest layer of the migration checks: one discovered test method per check."""

import unittest

from dbtestkit.exceptions import ConfigurationError
from dbtestkit.migration_checks import CHECKS, CheckOptions, MigrationRunner, run_check, select_checks
from dbtestkit.migration_checks.stepper import Stepper
from dbtestkit.migration_checks.twins import CloneKeeper
from dbtestkit.testcases.attributes import database_of

# unittest: leave this glue out of failure tracebacks (pytest: __tracebackhide__).
__unittest = True
__tracebackhide__ = True


class MigrationTestCase(unittest.TestCase):
    """Checks of an Alembic history, one ``test_<check>`` method each: subclass with ``database = DB``.

    Every subclass gets ``test_single_head_revision``, ``test_upgrade``,
    ``test_model_definitions_match_ddl``, ``test_up_down_consistency`` and
    ``test_downgrade_leaves_no_trace``. Class attributes: ``database`` (a
    ``TestDatabase`` built from migrations), ``metadata`` (the models; default:
    env.py's ``target_metadata``), ``checks`` / ``skip_checks`` (check names),
    ``ignore_tables`` (names or shell patterns of tables the models do not own)
    and ``minimum_downgrade_revision`` (downgrades at and below it are not run).
    Override ``include_object`` to leave other objects out of the model comparison.
    Data-migration tests use ``migrate_up_to``, ``migrate_up_one``,
    ``migrate_down_one``, ``migrate_down_to``, ``insert_into`` and
    ``self.connection``, each test on a database of its own; ``checks = []``
    leaves the built-in checks out.
    """

    database = None
    metadata = None
    checks = None
    skip_checks = ()
    ignore_tables = ()
    minimum_downgrade_revision = None
    # Data-migration tests: whether migrate_up_to may start from the golden at head and walk down.
    walk_down_from_head = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if isinstance(cls.ignore_tables, str):
            raise ConfigurationError(
                f"{_name(cls)}.ignore_tables must be a tuple of table names, "
                f"e.g. ({cls.ignore_tables!r},)."
            )
        # Unknown names fail here, when the test module is imported, not in the middle of a run.
        cls._dbtestkit_selected = select_checks(cls.checks, cls.skip_checks, _name(cls))
        # The test methods live on subclasses only, so the base class, when a
        # test module imports it by name, is collected as a class without tests.
        # ``checks = []``: a class of data-migration tests alone.
        if cls.checks is not None and not cls.checks:
            return
        for check in CHECKS:
            if not hasattr(cls, f"test_{check}"):
                setattr(cls, f"test_{check}", _test_method(check))

    @classmethod
    def tearDownClass(cls):
        # A read-only check may have left its clone for the next one; nobody needs it now.
        keeper = cls.__dict__.get("_dbtestkit_keeper")
        if keeper is not None:
            cls._dbtestkit_keeper = None
            keeper.close()
        super().tearDownClass()

    # -- data-migration tests: one database per test, moved through the history --

    @property
    def connection(self):
        """A connection to this test's database, at base until a ``migrate_*`` call moves it."""
        return self._dbtestkit_stepper().connection

    def migrate_up_to(self, revision):
        """Upgrade this test's database to ``revision`` (an id, a file label, or ``"head"``)."""
        self._dbtestkit_stepper().up_to(revision)

    def migrate_up_one(self):
        """Upgrade this test's database by one revision."""
        self._dbtestkit_stepper().up_one()

    def migrate_down_one(self):
        """Downgrade this test's database by one revision."""
        self._dbtestkit_stepper().down_one()

    def migrate_down_to(self, revision):
        """Downgrade this test's database to ``revision`` (an id, a file label, or ``"base"``)."""
        self._dbtestkit_stepper().down_to(revision)

    def insert_into(self, table, rows):
        """Insert ``rows`` (dicts, or one dict) into ``table`` as it is now, committed."""
        self._dbtestkit_stepper().insert_into(table, rows)

    def _dbtestkit_stepper(self):
        stepper = self.__dict__.get("_dbtestkit_stepper_")
        if stepper is None:
            runner = MigrationRunner(self._database(), self._options())
            stepper = Stepper(runner, walk_down=self.walk_down_from_head)
            self.__dict__["_dbtestkit_stepper_"] = stepper
            self.addCleanup(stepper.close)
        return stepper

    def include_object(self, object, name, type_, reflected, compare_to):
        """Override to leave objects out of ``test_model_definitions_match_ddl`` (Alembic's hook)."""
        return True

    def _run_check(self, name):
        cls = type(self)
        if name not in cls._dbtestkit_selected:
            if cls.checks is not None and name not in select_checks(cls.checks):
                self.skipTest(f"{name} is not in {_name(cls)}.checks = {cls.checks!r}")
            self.skipTest(f"{name} is in {_name(cls)}.skip_checks")
        if cls.__dict__.get("_dbtestkit_keeper") is None:
            cls._dbtestkit_keeper = CloneKeeper()
        run_check(name, MigrationRunner(self._database(), self._options(), cls._dbtestkit_keeper))

    def _database(self):
        return database_of(type(self))

    def _options(self):
        overridden = type(self).include_object is not MigrationTestCase.include_object
        return CheckOptions(
            metadata=self.metadata,
            ignore_tables=tuple(self.ignore_tables or ()),
            include_object=self.include_object if overridden else None,
            minimum_downgrade_revision=self.minimum_downgrade_revision,
        )


def _test_method(check):
    def test(self):
        self._run_check(check)

    test.__name__ = test.__qualname__ = f"test_{check}"
    # unittest -v prints the first docstring line next to the test name.
    test.__doc__ = CHECKS[check].__doc__.strip().splitlines()[0]
    return test


def _name(cls):
    # A class defined inside a function: "Migrations", not "test_x.<locals>.Migrations".
    return cls.__qualname__.rpartition("<locals>.")[2]
