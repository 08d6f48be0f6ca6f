"""media: when each stored variant was last used (least recently used evicted first)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 01:20:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("image_variants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True),
                                      nullable=True))


def downgrade():
    with op.batch_alter_table("image_variants", schema=None) as batch_op:
        batch_op.drop_column("last_used_at")
