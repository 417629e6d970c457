"""The FastAPI app through TestClient: its get_db sessions use the test's database."""

from fastapi.testclient import TestClient

import dbtestkit
from recipes.db import SessionLocal
from recipes.web import app, get_db


class OverrideGetDbTests(dbtestkit.DatabaseTestCase):
    """Savepoint per test, FastAPI's way: get_db overridden to hand out the test's session."""

    def setUp(self):
        super().setUp()
        app.dependency_overrides[get_db] = lambda: self.session
        self.addCleanup(app.dependency_overrides.pop, get_db)
        self.client = TestClient(app)

    def test_create_then_list(self):
        self.assertEqual(self.client.get("/users").json(), [])
        self.assertEqual(self.client.post("/users", json={"name": "ada"}).status_code, 201)
        self.assertEqual(self.client.get("/users").json(), ["ada"])

    def test_starts_empty_again(self):
        self.assertEqual(self.client.get("/users").json(), [])

    def test_a_post_by_a_missing_author_is_refused(self):
        response = self.client.post("/posts", json={"author_id": 424242, "title": "orphan"})
        self.assertEqual(response.status_code, 409)


class BoundSessionLocalTests(dbtestkit.DatabaseTestCase):
    """Savepoint per test, no override: get_db's own SessionLocal is bound to the test."""

    def setUp(self):
        super().setUp()
        self.bind_sessionmaker(SessionLocal)
        self.client = TestClient(app)

    def test_create_then_list(self):
        user = self.client.post("/users", json={"name": "grace"}).json()
        response = self.client.post("/posts", json={"author_id": user["id"], "title": "COBOL"})
        self.assertEqual(response.status_code, 201)
        self.assertEqual(self.client.get("/users").json(), ["grace"])

    def test_starts_empty_again(self):
        self.assertEqual(self.client.get("/users").json(), [])


class OnACloneTests(dbtestkit.GoldenFileTestCase):
    """Clone per test: requests commit for real into the test's own copy."""

    def setUp(self):
        super().setUp()
        self.bind_sessionmaker(SessionLocal)
        self.client = TestClient(app)

    def test_create_then_list(self):
        self.client.post("/users", json={"name": "linus"})
        self.assertEqual(self.client.get("/users").json(), ["linus"])

    def test_starts_empty_again(self):
        self.assertEqual(self.client.get("/users").json(), [])
