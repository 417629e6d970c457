"""Two classes of a module with module fixtures: both must run on the module's one connection."""

import dbtestkit
from tests.cases import DB

setUpModule, tearDownModule = DB.module_fixtures()
SEEN = []


class A(dbtestkit.DatabaseTestCase):
    database = DB

    def test_records_its_connection(self):
        SEEN.append(self.connection)


class B(dbtestkit.DatabaseTestCase):
    database = DB

    def test_shares_the_connection_of_the_class_before(self):
        self.assertEqual(len(SEEN), 1, "class A must run first, on the module's connection")
        self.assertIs(self.connection, SEEN[0])
