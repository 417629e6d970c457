"""The application's async service layer: every method commits, as a web handler's would."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tasks.models import Project, Task


class TaskService:
    """Create projects and tasks, complete tasks, list what is open."""

    def __init__(self, session: AsyncSession):
        self.session = session

    async def create_project(self, name: str) -> Project:
        """Create a project and commit."""
        project = Project(name=name)
        self.session.add(project)
        await self.session.commit()
        return project

    async def add_task(self, project_name: str, title: str) -> Task:
        """Add a task to an existing project and commit."""
        project = await self.session.scalar(select(Project).where(Project.name == project_name))
        if project is None:
            raise LookupError(f"no project named {project_name!r}")
        task = Task(project_id=project.id, title=title)
        self.session.add(task)
        await self.session.commit()
        return task

    async def complete(self, task_id: int) -> None:
        """Mark a task done and commit."""
        task = await self.session.get(Task, task_id)
        if task is None:
            raise LookupError(f"no task {task_id}")
        task.done = True
        await self.session.commit()

    async def open_titles(self, project_name: str) -> list:
        """Return the titles of a project's tasks that are not done, oldest first."""
        rows = await self.session.scalars(
            select(Task.title).join(Project).where(Project.name == project_name, Task.done.is_(False))
            .order_by(Task.id)
        )
        return list(rows)
