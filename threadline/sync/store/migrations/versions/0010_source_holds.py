"""source_holds and outbox.first_attempt_at: long throttles park a source's writes for every replica, and a
failing row gives up after a time horizon counted from its first provider attempt (not from claims)

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # the submodule by name, so type checkers resolve sqlmodel.sql.sqltypes below
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_holds",
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("held_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("set_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("set_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("first_attempt_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("first_attempt_at")
    op.drop_table("source_holds")
