"""Async savepoint-per-test and clone-per-test behaviour, run in a subprocess on DBTESTKIT_URL.

The database comes from DBTESTKIT_URL, DBTESTKIT_ALEMBIC_INI and
DBTESTKIT_CACHE_DIR (tests.support's default history: author, book, one
seeded author). Each test asserts it starts pristine, so any order passes.
"""

import unittest

import sqlalchemy as sa

import dbtestkit

SEEDED_AUTHOR = "Ursula K. Le Guin"
author = sa.table("author", sa.column("id"), sa.column("name"))
book = sa.table("book", sa.column("id"), sa.column("title"), sa.column("isbn"), sa.column("author_id"))


async def names(connectable):
    """Return the sorted author names visible through ``connectable`` (AsyncSession or AsyncConnection)."""
    return sorted((await connectable.execute(sa.select(author.c.name))).scalars())


class AsyncAppBehaviour:
    """Tests written as an async application would; each asserts it starts pristine."""

    class_author = None

    async def assert_pristine(self):
        self.assertEqual(await names(self.session), sorted([SEEDED_AUTHOR, self.class_author]))

    async def test_app_commit_is_undone(self):
        await self.assert_pristine()
        self.session.add_all([])
        await self.session.execute(sa.insert(author).values(name="Committed"))
        await self.session.commit()
        self.assertIn("Committed", await names(self.session))

    async def test_app_rollback_keeps_class_data(self):
        await self.assert_pristine()
        await self.session.execute(sa.insert(author).values(name="Rolled back"))
        await self.session.rollback()
        await self.assert_pristine()

    async def test_connection_writes_are_undone(self):
        await self.assert_pristine()
        await self.connection.execute(sa.insert(author).values(name="Raw"))
        self.assertIn("Raw", await names(self.connection))

    async def test_engine_is_async_and_sees_class_data(self):
        await self.assert_pristine()
        self.assertIsInstance(self.engine, sa.ext.asyncio.AsyncEngine)
        async with self.engine.connect() as other:
            self.assertEqual(await names(other), sorted([SEEDED_AUTHOR, self.class_author]))

    def test_sync_test_methods_work_too(self):
        self.assertIsInstance(self.session, sa.ext.asyncio.AsyncSession)


class AsyncDataOne(AsyncAppBehaviour, dbtestkit.AsyncDatabaseTestCase):
    class_author = "Async One"

    @classmethod
    async def setUpTestData(cls, connection):
        await connection.execute(sa.insert(author).values(name=cls.class_author))


    async def test_other_connection_gives_up_on_a_lock_the_test_holds(self):
        await self.session.execute(sa.update(author).where(author.c.name == SEEDED_AUTHOR).values(name="Mine"))
        async with self.engine.connect() as other:
            with self.assertRaises(dbtestkit.LockWaitTimeout) as caught:
                await other.execute(sa.update(author).where(author.c.name == SEEDED_AUTHOR).values(name="Theirs"))
        self.assertIn("self.session or self.connection", str(caught.exception))


class AsyncDataTwo(AsyncAppBehaviour, dbtestkit.AsyncDatabaseTestCase):
    class_author = "Sync Two"

    @classmethod
    def setUpTestData(cls, connection):
        connection.execute(sa.insert(author).values(name=cls.class_author))


class AsyncClonePerTest(dbtestkit.AsyncGoldenFileTestCase):
    async def test_real_commit_seen_by_a_new_connection(self):
        async with self.engine.begin() as connection:
            await connection.execute(sa.insert(author).values(name="Real"))
        engine = sa.ext.asyncio.create_async_engine(self.url)
        try:
            async with engine.connect() as connection:
                self.assertEqual(await names(connection), sorted([SEEDED_AUTHOR, "Real"]))
        finally:
            await engine.dispose()

    async def test_starts_from_the_golden(self):
        self.assertEqual(await names(self.session), [SEEDED_AUTHOR])
        self.assertEqual(self.engine.url.render_as_string(hide_password=False), self.url)
        self.assertTrue(self.engine.dialect.is_async)

    async def test_ddl(self):
        async with self.engine.begin() as connection:
            await connection.execute(sa.text("CREATE TABLE scratch (id INTEGER)"))


if __name__ == "__main__":
    unittest.main()
