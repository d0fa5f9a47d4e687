"""cursors.budget: the provider's remaining API allocation, as last reported (Salesforce Sforce-Limit-Info)

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cursors") as batch_op:
        batch_op.add_column(sa.Column("budget", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cursors") as batch_op:
        batch_op.drop_column("budget")
