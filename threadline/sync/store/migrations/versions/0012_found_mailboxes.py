"""found_mailboxes: mailboxes found from the CRM's owners (mailbox_sources), shared by every replica

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # the submodule by name, so type checkers resolve sqlmodel.sql.sqltypes below
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "found_mailboxes",
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("address"),
    )


def downgrade() -> None:
    op.drop_table("found_mailboxes")
