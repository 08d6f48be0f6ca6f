"""media: automatic IP blocks

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 21:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "ip_blocks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("image_id", sa.Uuid(), nullable=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("blocked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("ip_blocks", schema=None) as batch_op:
        batch_op.create_index("ix_ip_blocks_ip", ["ip"], unique=False)


def downgrade():
    op.drop_table("ip_blocks")
