"""rule_due: each contact's next time-driven change of the rules' verdict (decay, SLA due), so the rules step
re-evaluates exactly the contacts that are due; contacts.mirrored_at: when a version reached the mirror, on
Threadline's own clock

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # the submodule by name, so type checkers resolve sqlmodel.sql.sqltypes below
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rule_due",
        sa.Column("crm_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("due_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.PrimaryKeyConstraint("crm_id"),
    )
    op.create_index(op.f("ix_rule_due_due_at"), "rule_due", ["due_at"], unique=False)
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("mirrored_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("mirrored_at")
    op.drop_index(op.f("ix_rule_due_due_at"), table_name="rule_due")
    op.drop_table("rule_due")
