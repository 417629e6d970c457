"""The Flask-SQLAlchemy app: db.session bound to the test's connection, or the app on the clone's URL."""

import dbtestkit
from recipes.flask_app import create_app, db


class FlaskSavepointTests(dbtestkit.DatabaseTestCase):
    """Savepoint per test: ``db.session`` (a scoped_session) joins the test's transaction."""

    def setUp(self):
        super().setUp()
        # The app's own engine is never used: db.session is bound to the test.
        self.app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
        self.bind_sessionmaker(db.session)
        self.client = self.app.test_client()

    def test_create_then_list(self):
        self.assertEqual(self.client.get("/users").get_json(), [])
        self.assertEqual(self.client.post("/users", json={"name": "ada"}).status_code, 201)
        self.assertEqual(self.client.get("/users").get_json(), ["ada"])

    def test_starts_empty_again(self):
        self.assertEqual(self.client.get("/users").get_json(), [])


class FlaskCloneTests(dbtestkit.GoldenFileTestCase):
    """Clone per test: the app's own engine (db.engine too) opens the test's copy."""

    def setUp(self):
        super().setUp()
        self.app = create_app({"SQLALCHEMY_DATABASE_URI": self.url})
        self.client = self.app.test_client()
        self.addCleanup(self.dispose_engines)

    def dispose_engines(self):
        with self.app.app_context():
            for engine in db.engines.values():
                engine.dispose()

    def test_create_then_list(self):
        self.client.post("/users", json={"name": "grace"})
        self.assertEqual(self.client.get("/users").get_json(), ["grace"])
        with self.app.app_context():
            with db.engine.connect() as connection:
                self.assertEqual(connection.exec_driver_sql("SELECT count(*) FROM users").scalar(), 1)

    def test_starts_empty_again(self):
        self.assertEqual(self.client.get("/users").get_json(), [])
