"""nose2 layers: one connection and outer transaction shared by every class in a layer.

For legacy suites organised with nose2's layers plugin::

    DatabaseLayer = dbtestkit.layers.database_layer(DB)

    class BookTests(dbtestkit.DatabaseTestCase):
        database = DB
        layer = DatabaseLayer

Run with ``nose2 --plugin nose2.plugins.layers``. Without the plugin the
``layer`` attribute is ignored and each class opens its own transaction, so
the same tests still pass under unittest and pytest.
"""


def database_layer(database, name="DatabaseLayer"):
    """Return a nose2 layer class whose setUp/tearDown open and close a shared transaction."""
    scope = database.shared_scope()

    def setUp(cls):
        scope.open()

    def tearDown(cls):
        scope.close()

    return type(name, (object,), {
        "__doc__": f"nose2 layer sharing one transaction on {database!r}.",
        "setUp": classmethod(setUp),
        "tearDown": classmethod(tearDown),
        "dbtestkit_scope": scope,
    })
