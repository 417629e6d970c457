"""Tests that need a database of their own: the app's own engine, real commits, migrations."""

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

import dbtestkit

from tasks.models import Project
from tasks.service import TaskService
from tests.database import DB


class OwnEngineTests(dbtestkit.AsyncGoldenFileTestCase):
    database = DB

    async def test_commit_is_seen_by_a_new_engine(self):
        # What the application does at start-up: an engine and a sessionmaker from a URL.
        engine = create_async_engine(self.url)
        self.addAsyncCleanup(engine.dispose)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions() as session:
            await TaskService(session).create_project("Garage")
        async with self.engine.connect() as connection:
            names = (await connection.execute(select(Project.name))).scalars().all()
        self.assertEqual(names, ["Garage"])

    async def test_starts_from_the_golden(self):
        async with self.engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        self.assertEqual(sorted(tables), ["alembic_version", "projects", "tasks"])
        self.assertEqual((await self.session.scalars(select(Project))).all(), [])
