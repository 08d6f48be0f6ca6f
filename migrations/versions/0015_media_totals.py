"""media: one row of every image's counters summed (media_totals), kept by the flush

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 12:00:00

Filled here from ``media_stats`` in one INSERT … SELECT; from then on the metrics flush
adds to it in the transaction that adds to ``media_stats`` (app.media.metrics), and
``flask doctor --counters`` checks it against the sum.
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

FIELDS = ("views", "downloads", "proxy_requests", "bytes_served", "cache_hits",
          "not_modified", "bytes_from_cache")


def upgrade():
    op.create_table(
        "media_totals",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        *[sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")
          for name in FIELDS],
        sa.PrimaryKeyConstraint("id"),
    )
    stats = sa.table("media_stats", *[sa.column(name, sa.BigInteger) for name in FIELDS])
    totals = sa.table("media_totals", *[sa.column(name) for name in ("id", *FIELDS)])
    op.execute(totals.insert().from_select(
        ["id", *FIELDS],
        sa.select(sa.literal(1), *[sa.func.coalesce(sa.func.sum(stats.c[name]), 0)
                                   for name in FIELDS])))


def downgrade():
    op.drop_table("media_totals")
