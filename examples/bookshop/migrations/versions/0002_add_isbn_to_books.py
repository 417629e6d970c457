"""Add an optional, unique ISBN to books.

Revision ID: 0002
Revises: 0001
Create Date: 2024-05-08 09:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("books") as batch_op:
        batch_op.add_column(sa.Column("isbn", sa.String(13), nullable=True))
        batch_op.create_unique_constraint("uq_books_isbn", ["isbn"])


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("books") as batch_op:
        batch_op.drop_constraint("uq_books_isbn", type_="unique")
        batch_op.drop_column("isbn")
