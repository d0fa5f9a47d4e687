"""enrollments.variants: the A/B variant recorded per tested step of an enrolment (issue #20)

Revision ID: 0018
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # JSON text {"<step index>": "<variant>"}; NULL for enrolments without a tested step.
    with op.batch_alter_table("enrollments") as batch:
        batch.add_column(sa.Column("variants", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("enrollments") as batch:
        batch.drop_column("variants")
