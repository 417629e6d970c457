"""The service's behaviour, a savepoint per test: the service commits, dbtestkit undoes it."""

from sqlalchemy import func, insert, select

import dbtestkit

from tasks.models import Project, Task
from tasks.service import TaskService
from tests.database import DB


class TaskServiceTests(dbtestkit.AsyncDatabaseTestCase):
    database = DB

    @classmethod
    async def setUpTestData(cls, connection):
        # Once per class, committed into this class's own clone of the golden.
        garden = await connection.execute(insert(Project).values(name="Garden"))
        await connection.execute(insert(Task).values(project_id=garden.inserted_primary_key[0],
                                                     title="Dig the beds"))

    async def test_add_task_commits_and_lists_it(self):
        service = TaskService(self.session)
        await service.add_task("Garden", "Plant beans")
        self.assertEqual(await service.open_titles("Garden"), ["Dig the beds", "Plant beans"])

    async def test_each_test_starts_from_the_class_data(self):
        count = await self.session.scalar(select(func.count()).select_from(Task))
        self.assertEqual(count, 1)

    async def test_complete_hides_the_task(self):
        service = TaskService(self.session)
        task = await service.add_task("Garden", "Water")
        await service.complete(task.id)
        self.assertEqual(await service.open_titles("Garden"), ["Dig the beds"])

    async def test_unknown_project_is_an_error_and_the_session_goes_on(self):
        service = TaskService(self.session)
        with self.assertRaises(LookupError):
            await service.add_task("Kitchen", "Bake")
        await service.create_project("Kitchen")
        self.assertEqual(await service.open_titles("Kitchen"), [])


class OtherClassTests(dbtestkit.AsyncDatabaseTestCase):
    database = DB

    async def test_sees_no_other_class_data(self):
        self.assertEqual((await self.session.scalars(select(Project.name))).all(), [])
