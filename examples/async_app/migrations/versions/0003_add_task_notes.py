"""add task notes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-09 14:30:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Let tasks carry free-text notes."""
    op.add_column("tasks", sa.Column("notes", sa.String(length=500), nullable=True))


def downgrade() -> None:
    """Drop the notes (batch mode: SQLite cannot drop a column in place on old versions)."""
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("notes")
