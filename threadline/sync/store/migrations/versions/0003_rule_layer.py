"""events, audit and rule_state: the rule layer's input, its write log and its small state

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(length=64), nullable=False, unique=True),
        sa.Column("type", sa.String(length=100), nullable=False, index=True),
        sa.Column("contact_id", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=400), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
    )
    op.create_index("ix_events_contact_time", "events", ["contact_id", "occurred_at"])
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("rule", sa.String(length=200), nullable=False, index=True),
        sa.Column("contact_id", sa.String(length=64), nullable=False, index=True),
        sa.Column("effect_key", sa.String(length=128), nullable=False, unique=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_table(
        "rule_state",
        sa.Column("name", sa.String(length=200), primary_key=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rule_state")
    op.drop_table("audit")
    op.drop_index("ix_events_contact_time", table_name="events")
    op.drop_table("events")
