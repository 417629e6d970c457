"""Create authors and books.

Revision ID: 0001
Revises:
Create Date: 2024-05-01 09:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "authors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_authors"),
        sa.UniqueConstraint("name", name="uq_authors_name"),
    )
    op.create_table(
        "books",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_books"),
        sa.ForeignKeyConstraint(
            ["author_id"], ["authors.id"], name="fk_books_author_id_authors"
        ),
    )
    op.create_index("ix_books_author_id", "books", ["author_id"])


def downgrade() -> None:
    """Downgrade schema."""
    # Dropping the table drops its indexes; MySQL refuses to drop
    # ix_books_author_id on its own while the foreign key still needs it.
    op.drop_table("books")
    op.drop_table("authors")
