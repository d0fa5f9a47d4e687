"""secrets: tokens and token caches encrypted at rest, with the fingerprint of the key that sealed each

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # the submodule by name, so type checkers resolve sqlmodel.sql.sqltypes below
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "secrets",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("key_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_index("ix_secrets_key_id", "secrets", ["key_id"])


def downgrade() -> None:
    op.drop_index("ix_secrets_key_id", table_name="secrets")
    op.drop_table("secrets")
