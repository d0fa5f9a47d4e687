"""messages.contact_ids: text, not varchar(2000)

A message to ~90+ contacts (log_outgoing) overflowed varchar(2000) on PostgreSQL, failing the whole page and
leaving the mailbox's cursor stuck.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.alter_column("contact_ids", existing_type=sa.String(length=2000), type_=sa.Text(),
                           existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.alter_column("contact_ids", existing_type=sa.Text(), type_=sa.String(length=2000),
                           existing_nullable=False)
