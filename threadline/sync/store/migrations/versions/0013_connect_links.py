"""connect_links: single-use links for reps to connect their own mailbox (digests only)

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # the submodule by name, so type checkers resolve sqlmodel.sql.sqltypes below
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connect_links",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("aliases", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("state_digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("browser_digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("used_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_connect_links_address", "connect_links", ["address"])
    op.create_index("ix_connect_links_state_digest", "connect_links", ["state_digest"])


def downgrade() -> None:
    op.drop_index("ix_connect_links_state_digest", table_name="connect_links")
    op.drop_index("ix_connect_links_address", table_name="connect_links")
    op.drop_table("connect_links")
