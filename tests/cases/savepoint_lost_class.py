"""Lost connections with one connection per class (no module fixtures)."""

import dbtestkit
from tests.cases.savepoint_lost_cases import LostConnection


class LosesItsConnection(LostConnection, dbtestkit.DatabaseTestCase):
    class_author = "Class Author Lost"
