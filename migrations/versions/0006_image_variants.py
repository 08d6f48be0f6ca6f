"""media: stored image variants, and their bytes on the image row

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 20:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("variant_bytes", sa.BigInteger(), nullable=False,
                                      server_default="0"))
    op.create_table(
        "image_variants",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("image_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("fmt", sa.String(length=8), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
        sa.UniqueConstraint("image_id", "width", "fmt", "quality",
                            name="uq_image_variants_kind"),
    )
    with op.batch_alter_table("image_variants", schema=None) as batch_op:
        batch_op.create_index("ix_image_variants_image_id", ["image_id"], unique=False)


def downgrade():
    op.drop_table("image_variants")
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_column("variant_bytes")
