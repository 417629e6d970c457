"""setUp overrides that forget super().setUp(): each test says so instead of an AttributeError."""

import dbtestkit
from tests.cases import DB


class SavepointSetUpWithoutSuper(dbtestkit.DatabaseTestCase):
    database = DB

    def setUp(self):
        self.service = "an application service"  # and no super().setUp()

    def test_uses_session(self):
        self.session.commit()

    def test_uses_connection(self):
        self.connection.exec_driver_sql("SELECT 1")

    def test_uses_engine(self):
        self.engine.dispose()

    def test_hasattr_still_answers(self):
        self.assertFalse(hasattr(self, "session"))
        self.assertIsNone(getattr(self, "connection", None))


class CloneSetUpWithoutSuper(dbtestkit.GoldenFileTestCase):
    database = DB

    def setUp(self):
        self.service = "an application service"  # and no super().setUp()

    def test_uses_url(self):
        str(self.url)

    def test_uses_session(self):
        self.session.commit()


class SetsItsOwnSession(dbtestkit.DatabaseTestCase):
    database = DB

    def setUp(self):
        super().setUp()
        self.session = "replaced by the test"

    def test_its_own_value_is_kept(self):
        self.assertEqual(self.session, "replaced by the test")
