"""Test data loaded once per module or class (the fixture equivalent of ``setUpTestData``), and the scopes holding it.

A test module's tests share one connection and outer transaction (a
``SharedScope``); ``@test_data`` functions at module level load into a
savepoint on it that every test of the module sees, those in a class body
into the savepoint of that class's ``ClassScope``. Module-level test
functions form one more owner, without data of its own.
"""

import sys

import pytest


class Loader:
    """Marks a fixture made by ``test_data``; holds the user's load function."""

    def __init__(self, load):
        self.load = load


def test_data(load):
    """Declare rows loaded once for this module's tests (or, in a class body, this class's).

    ``load(connection)`` runs inside the module's (or class's) savepoint,
    before the first test that uses ``db_session`` or ``db_connection``,
    and again if a test broke the transaction. The decorated name becomes a
    fixture whose value is what ``load`` returned.
    """
    name = load.__name__
    caller = sys._getframe(1)
    in_class_body = caller.f_locals is not caller.f_globals and "__qualname__" in caller.f_locals
    if in_class_body:
        def fixture(self, request, _dbtestkit_module, db_session):
            return _dbtestkit_module.owner(request.cls).value(name)
    else:
        def fixture(request, _dbtestkit_module, db_session):
            return _dbtestkit_module.owner(request.cls).value(name)
    fixture.__doc__ = load.__doc__
    fixture.__module__ = load.__module__
    fixture._dbtestkit_loader = Loader(load)
    return pytest.fixture(fixture, name=name)


# Not a test, despite the name.
test_data.__test__ = False


def loaders_in(namespaces):
    """Return {name: load} of the ``test_data`` fixtures in ``namespaces`` (later ones win), in definition order."""
    found = {}
    for namespace in namespaces:
        for name, value in namespace.items():
            loader = getattr(value, "_dbtestkit_loader", None) if callable(value) else None
            if isinstance(loader, Loader):
                found[name] = loader.load
    return found


def load_into(loaders, values):
    """Return ``load(connection)`` running every loader and keeping what each returned in ``values``."""
    if not loaders:
        return None

    def load(connection):
        for name, function in loaders.items():
            values[name] = function(connection)

    return load


class ModuleDatabase:
    """One test module's connection and outer transaction, its data, and the owners joining it."""

    def __init__(self, database, module):
        self.database = database
        self.values = {}
        self.shared = database.shared_scope(load_into(loaders_in([vars(module)]), self.values))
        self.shared.open()
        self.owners = {}

    def owner(self, cls):
        """Return the scope of ``cls``'s tests (the module's functions when ``cls`` is None), opened on first use.

        A class's data stays loaded until a test of another owner begins
        (which rolls it back first) or the module ends: no test of another
        class ever sees it.
        """
        owner = self.owners.get(cls)
        if owner is None:
            namespaces = [vars(klass) for klass in reversed(cls.__mro__)] if cls is not None else []
            values = {}
            scope = self.database.class_scope(load_into(loaders_in(namespaces), values), shared=self.shared)
            owner = self.owners[cls] = Owner(scope, values, self.values)
            scope.open()
        return owner

    def close(self):
        """Roll everything of the module back and drop its clone."""
        try:
            for owner in self.owners.values():
                owner.close()
        finally:
            self.shared.close()


class Owner:
    """The tests of one class (or a module's functions): their ``ClassScope`` and data values."""

    def __init__(self, scope, values, module_values):
        self.scope = scope
        self.values = values
        self.module_values = module_values

    def begin_test(self):
        """Return the transaction of one test (a ``TestTransaction``)."""
        return self.scope.begin_test()

    def value(self, name):
        """Return what the loader ``name`` returned, for this class or the module."""
        return self.values[name] if name in self.values else self.module_values[name]

    def close(self):
        """Roll this owner's data back."""
        self.scope.close()
