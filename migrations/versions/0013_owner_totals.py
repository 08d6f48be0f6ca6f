"""images: per-owner counters (owner_totals), kept in the transaction of every change

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 04:00:00

The table is filled from ``images`` here, in one grouped INSERT … SELECT (both engines);
from then on app.images.counters keeps it, and ``flask doctor --counters`` checks it.
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

FIELDS = ("active_count", "active_bytes", "trashed_count", "trashed_bytes",
          "purging_count", "purging_bytes", "trash_changes")


def upgrade():
    op.create_table(
        "owner_totals",
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        *[sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")
          for name in FIELDS],
        sa.PrimaryKeyConstraint("owner_id"),
    )
    images = sa.table("images", sa.column("owner_id", sa.String),
                      sa.column("is_deleted", sa.Boolean),
                      sa.column("purge_state", sa.String), sa.column("size_bytes", sa.BigInteger),
                      sa.column("thumbnail_bytes", sa.BigInteger),
                      sa.column("variant_bytes", sa.BigInteger))
    totals = sa.table("owner_totals", *[sa.column(name) for name in ("owner_id", *FIELDS)])
    size = images.c.size_bytes + images.c.thumbnail_bytes + images.c.variant_bytes
    active = images.c.is_deleted.is_(False)
    trashed = images.c.is_deleted.is_(True)
    purging = sa.and_(trashed, images.c.purge_state == "purging")

    def total(condition, value):
        return sa.func.coalesce(sa.func.sum(sa.case((condition, value), else_=0)), 0)

    op.execute(totals.insert().from_select(
        ["owner_id", *FIELDS],
        sa.select(images.c.owner_id, total(active, 1), total(active, size), total(trashed, 1),
                  total(trashed, size), total(purging, 1), total(purging, size),
                  sa.literal(0))
        .group_by(images.c.owner_id)))


def downgrade():
    op.drop_table("owner_totals")
