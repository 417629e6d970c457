"""Database models of the task tracker; they must match the head of migrations/."""

from typing import List, Optional

from sqlalchemy import ForeignKey, MetaData, String, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# The migrations spell these same names out, so autogenerate sees no difference.
NAMING_CONVENTION = {
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ix": "ix_%(table_name)s_%(column_0_name)s",
}


class Base(DeclarativeBase):
    """Declarative base sharing one naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Project(Base):
    """A named list of tasks."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)

    tasks: Mapped[List["Task"]] = relationship(back_populates="project", order_by="Task.id")


class Task(Base):
    """Something to do in a project."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    done: Mapped[bool] = mapped_column(server_default=false())
    notes: Mapped[Optional[str]] = mapped_column(String(500))

    project: Mapped[Project] = relationship(back_populates="tasks")
