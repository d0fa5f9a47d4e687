"""deferred_mail.kind: mail from a stranger in a thread waits for the thread to become known (issue #19)

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # the submodule by name, so type checkers resolve sqlmodel.sql.sqltypes below
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deferred_mail") as batch:
        batch.add_column(sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                                   server_default="mirror"))
        batch.add_column(sa.Column("thread_ref", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=True))
        batch.create_index("ix_deferred_mail_thread", ["mailbox", "kind", "thread_ref"])


def downgrade() -> None:
    with op.batch_alter_table("deferred_mail") as batch:
        batch.drop_index("ix_deferred_mail_thread")
        batch.drop_column("thread_ref")
        batch.drop_column("kind")
