"""Async tests that fail on purpose (run in a subprocess): each failure must say what to do."""

import unittest

import sqlalchemy as sa

import dbtestkit

author = sa.table("author", sa.column("id"), sa.column("name"))


class BreaksIsolation(dbtestkit.AsyncDatabaseTestCase):
    @classmethod
    async def setUpTestData(cls, connection):
        await connection.execute(sa.insert(author).values(name="Class row"))

    async def test_1_commits_connection(self):
        await self.connection.execute(sa.insert(author).values(name="Leaked"))
        await self.connection.commit()

    async def test_2_starts_clean_with_class_data_loaded_again(self):
        rows = (await self.session.execute(sa.select(author.c.name))).scalars().all()
        self.assertNotIn("Leaked", rows)
        self.assertIn("Class row", rows)


class ForgetsAwait(dbtestkit.AsyncDatabaseTestCase):
    async def test_forgets_await(self):
        self.session.execute(sa.insert(author).values(name="Never"))


class ForgetsAwaitOnClone(dbtestkit.AsyncGoldenFileTestCase):
    async def test_forgets_await_on_clone(self):
        self.session.commit()


class AsyncSetUpWithoutAwait(dbtestkit.AsyncDatabaseTestCase):
    async def asyncSetUp(self):
        super().asyncSetUp()

    async def test_uses_session(self):
        await self.session.execute(sa.select(author.c.name))


if __name__ == "__main__":
    unittest.main()
