"""ix_enrollments_contact_id: the runner and the report read enrollments by contact (issue #20's report bench)

Revision ID: 0019
Revises: 0018
"""
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_enrollments_contact_id", "enrollments", ["contact_id"])


def downgrade() -> None:
    op.drop_index("ix_enrollments_contact_id", table_name="enrollments")
