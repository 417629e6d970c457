"""Add price and stock to books.

Neither may go negative; CHECK constraints guard both.

Revision ID: 0003
Revises: 0002
Create Date: 2024-05-15 09:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("books") as batch_op:
        # The server defaults give rows that already exist a valid value.
        batch_op.add_column(
            sa.Column(
                "price", sa.Numeric(10, 2), nullable=False, server_default=sa.text("0")
            )
        )
        batch_op.add_column(
            sa.Column("stock", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.create_check_constraint("ck_books_price_non_negative", "price >= 0")
        batch_op.create_check_constraint("ck_books_stock_non_negative", "stock >= 0")


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("books") as batch_op:
        batch_op.drop_constraint("ck_books_stock_non_negative", type_="check")
        batch_op.drop_constraint("ck_books_price_non_negative", type_="check")
        batch_op.drop_column("stock")
        batch_op.drop_column("price")
