"""created_contacts: contacts Threadline created from mail, once across replicas (issue #19)

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # the submodule by name, so type checkers resolve sqlmodel.sql.sqltypes below
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "created_contacts",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("crm_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("object_type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created", sa.Boolean(), nullable=False),
        sa.Column("mode", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("mailbox", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_created_contacts_crm_id", "created_contacts", ["crm_id"])
    op.create_index("ix_created_contacts_at", "created_contacts", ["at"])


def downgrade() -> None:
    op.drop_index("ix_created_contacts_at", table_name="created_contacts")
    op.drop_index("ix_created_contacts_crm_id", table_name="created_contacts")
    op.drop_table("created_contacts")
