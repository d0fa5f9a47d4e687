"""enrollments: contacts' places in sequences

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "enrollments",
        sa.Column("sequence", sa.String(length=200), primary_key=True),
        sa.Column("contact_id", sa.String(length=64), primary_key=True),
        sa.Column("generation", sa.Integer(), primary_key=True),
        sa.Column("status", sa.String(length=16), nullable=False, index=True),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_step_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exit_reason", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("enrollments")
