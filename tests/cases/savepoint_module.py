"""The savepoint cases with one connection for the whole module (module fixtures)."""

import dbtestkit
from tests.cases import DB
from tests.cases.savepoint_cases import AppBehaviour

setUpModule, tearDownModule = DB.module_fixtures()


class FirstClass(AppBehaviour, dbtestkit.DatabaseTestCase):
    class_author = "First Class Author"


class SecondClass(AppBehaviour, dbtestkit.DatabaseTestCase):
    class_author = "Second Class Author"
