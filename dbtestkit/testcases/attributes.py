"""What dbtestkit's test cases share: the TestDatabase a class uses, and the attributes setUp sets."""

import os
import sys

from dbtestkit.database import TestDatabase, default_database
from dbtestkit.exceptions import ConfigurationError, SetUpNotCalled


class Deferred:
    """A per-test value made when the test first reads it (``make()``), not in ``setUp``."""

    def __init__(self, make):
        self.make = make


class SetInSetUp:
    """A per-test attribute that ``setUp`` sets; reading it earlier explains the missing ``super()``."""

    def __set_name__(self, owner, name):
        self.name = name
        self.base = owner.__name__

    def __get__(self, test, owner=None):
        if test is None:
            return self
        try:
            value = test.__dict__[self.name]
        except KeyError:
            hook, call = getattr(test, "_dbtestkit_setup_hook", ("setUp", "super().setUp()"))
            raise SetUpNotCalled(
                f"self.{self.name} is not set: {type(test).__qualname__}.{hook} does not call "
                f"{call}, which is where {self.base} prepares each test's database. "
                f"Call {call} first in {hook} overrides."
            ) from None
        if isinstance(value, Deferred):
            value = test.__dict__[self.name] = value.make()
        return value

    def __set__(self, test, value):
        test.__dict__[self.name] = value

    def __delete__(self, test):
        test.__dict__.pop(self.name, None)


def database_of(test_class):
    """Return the ``TestDatabase`` a test class uses: its ``database``, or one made from configuration."""
    database = test_class.database
    if database is None:
        module_file = getattr(sys.modules.get(test_class.__module__), "__file__", None)
        try:
            return default_database(near=os.path.dirname(module_file) if module_file else None)
        except ConfigurationError as error:
            raise ConfigurationError(
                f"{test_class.__qualname__} has no `database` attribute, so dbtestkit made one "
                f"from setup.cfg [dbtestkit] (or pyproject.toml [tool.dbtestkit]) and DBTESTKIT_* "
                f"settings, which failed: {error}"
            ) from error
    if not isinstance(database, TestDatabase):
        raise ConfigurationError(
            f"{test_class.__qualname__}.database is {database!r}; it must be a dbtestkit.TestDatabase."
        )
    return database


def open_for_class(test_class, resource):
    """Open ``resource`` (a class's scope or snapshot), closed by a class cleanup of ``test_class``."""
    # A class cleanup runs even when setUpClass fails half-way.
    test_class.addClassCleanup(resource.close)
    resource.open()


def setup_class_skipped(test_class, missed):
    """Return the error for a test class whose ``setUpClass`` skipped ``super()``: ``missed`` says what it lost."""
    return ConfigurationError(
        f"{test_class.__qualname__}.setUpClass did not call super().setUpClass(); {missed}"
    )
