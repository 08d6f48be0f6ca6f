"""media: the shared generation of /media's per-process access decisions

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 00:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "media_access_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade():
    op.drop_table("media_access_generation")
