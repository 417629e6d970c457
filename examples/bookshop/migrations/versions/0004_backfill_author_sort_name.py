"""Backfill author sort names.

Adds authors.sort_name, fills it in for the authors already stored, then
makes it NOT NULL.

Revision ID: 0004
Revises: 0003
Create Date: 2024-05-22 09:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def sort_name_for(name: str) -> str:
    """Return the shelf-order form of a name: "Frank Herbert" -> "Herbert, Frank"."""
    # A frozen copy of bookshop.models.sort_name_for: a migration must keep
    # doing what it did on the day it was written, whatever the app does later.
    given_names, _, family_name = name.strip().rpartition(" ")
    return f"{family_name}, {given_names}" if given_names else family_name


def upgrade() -> None:
    """Upgrade schema and backfill the new column."""
    if op.get_context().as_sql:
        # The backfill reads the rows it fills in, which a SQL script cannot do.
        raise RuntimeError("migration 0004 backfills data; run it online, not with --sql")

    op.add_column("authors", sa.Column("sort_name", sa.String(200), nullable=True))

    # String concatenation and splitting differ per database, so the values
    # are computed here in Python and written back with plain UPDATEs.
    connection = op.get_bind()
    authors = connection.execute(sa.text("SELECT id, name FROM authors")).all()
    if authors:
        connection.execute(
            sa.text("UPDATE authors SET sort_name = :sort_name WHERE id = :id"),
            [{"id": author.id, "sort_name": sort_name_for(author.name)} for author in authors],
        )

    with op.batch_alter_table("authors") as batch_op:
        batch_op.alter_column("sort_name", existing_type=sa.String(200), nullable=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("authors") as batch_op:
        batch_op.drop_column("sort_name")
