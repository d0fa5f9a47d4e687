"""enrollments: next_due_at (what the scheduler looks at) and the sending mailbox

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("enrollments") as batch:
        batch.add_column(sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("mailbox", sa.String(length=320), nullable=True))
        batch.create_index("ix_enrollments_next_due_at", ["next_due_at"])


def downgrade() -> None:
    with op.batch_alter_table("enrollments") as batch:
        batch.drop_index("ix_enrollments_next_due_at")
        batch.drop_column("mailbox")
        batch.drop_column("next_due_at")
