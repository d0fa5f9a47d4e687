"""work_leases: which replica holds a work unit (a CRM pull, a mailbox, a singleton step) and until when

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # the submodule by name, so type checkers resolve sqlmodel.sql.sqltypes below
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "work_leases",
        sa.Column("unit", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("lease_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("next_due_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("unit"),
    )
    op.create_index("ix_work_leases_next_due_at", "work_leases", ["next_due_at"])


def downgrade() -> None:
    op.drop_index("ix_work_leases_next_due_at", table_name="work_leases")
    op.drop_table("work_leases")
