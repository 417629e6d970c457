"""Create and seed genres.

Also lets a book belong to a genre.

Revision ID: 0005
Revises: 0004
Create Date: 2024-05-29 09:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

SEEDED_GENRES = ["Fantasy", "History", "Mystery", "Poetry", "Science Fiction"]


def upgrade() -> None:
    """Upgrade schema and seed the genres."""
    genres = op.create_table(
        "genres",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(50), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_genres"),
        sa.UniqueConstraint("name", name="uq_genres_name"),
    )
    op.bulk_insert(genres, [{"name": name} for name in SEEDED_GENRES])

    with op.batch_alter_table("books") as batch_op:
        batch_op.add_column(sa.Column("genre_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_books_genre_id", ["genre_id"])
        batch_op.create_foreign_key(
            "fk_books_genre_id_genres", "genres", ["genre_id"], ["id"]
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("books") as batch_op:
        batch_op.drop_constraint("fk_books_genre_id_genres", type_="foreignkey")
        batch_op.drop_index("ix_books_genre_id")
        batch_op.drop_column("genre_id")
    op.drop_table("genres")
