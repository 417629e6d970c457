"""Lost connections with one connection for the whole module: every class recovers."""

import dbtestkit
from tests.cases import DB
from tests.cases.savepoint_cases import ClassData
from tests.cases.savepoint_lost_cases import LostConnection

setUpModule, tearDownModule = DB.module_fixtures()


class LosesItsConnection(LostConnection, dbtestkit.DatabaseTestCase):
    class_author = "Module Class Author Lost"


class NextClass(ClassData, dbtestkit.DatabaseTestCase):
    class_author = "Next Module Class Author"

    def test_pristine_after_the_losses(self):
        self.assert_pristine()
