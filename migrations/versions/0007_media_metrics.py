"""media: settings row, usage counters per image and per hour, access events

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 21:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _counters(*names):
    return [sa.Column(name, sa.BigInteger(), nullable=False) for name in names]


def upgrade():
    op.create_table(
        "media_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "media_stats",
        sa.Column("image_id", sa.Uuid(), nullable=False),
        *_counters("views", "downloads", "proxy_requests", "bytes_served", "cache_hits",
                   "not_modified", "bytes_from_cache"),
        sa.PrimaryKeyConstraint("image_id"),
    )
    op.create_table(
        "media_hourly",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        *_counters("proxy_requests", "bytes_served", "cache_hits", "not_modified",
                   "bytes_from_cache"),
        sa.PrimaryKeyConstraint("hour"),
    )
    op.create_table(
        "media_events",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("image_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=256), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("cache_hit", sa.Boolean(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("media_events", schema=None) as batch_op:
        batch_op.create_index("ix_media_events_at", ["at"], unique=False)
        batch_op.create_index("ix_media_events_image_id", ["image_id"], unique=False)


def downgrade():
    op.drop_table("media_events")
    op.drop_table("media_hourly")
    op.drop_table("media_stats")
    op.drop_table("media_settings")
