"""The savepoint cases with one connection per class (no module fixtures)."""

import dbtestkit
from tests.cases.savepoint_cases import AppBehaviour


class FirstClass(AppBehaviour, dbtestkit.DatabaseTestCase):
    class_author = "First Class Author"


class SecondClass(AppBehaviour, dbtestkit.DatabaseTestCase):
    class_author = "Second Class Author"
