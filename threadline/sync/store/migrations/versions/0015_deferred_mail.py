"""deferred_mail and cursors.caught_up: mail from unknown senders waits while a paused backfill fills the mirror

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # the submodule by name, so type checkers resolve sqlmodel.sql.sqltypes below
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cursors") as batch:
        batch.add_column(sa.Column("caught_up", sa.Boolean(), nullable=True))
    op.create_table(
        "deferred_mail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("provider_id", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("folder", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("thread_id", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=True),
        sa.Column("internal_date", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("deferred_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("mailbox", "provider_id", name="uq_deferred_mail_mailbox_provider_id"),
    )


def downgrade() -> None:
    op.drop_table("deferred_mail")
    with op.batch_alter_table("cursors") as batch:
        batch.drop_column("caught_up")
