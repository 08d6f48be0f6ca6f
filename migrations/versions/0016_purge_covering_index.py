"""images: ix_images_purge and ix_images_purging cover what the purge's totals add up

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 12:00:00

The purge overview and its dry runs sum the due rows (count, bytes, versions, newest
deletion). With only ``(is_deleted, purge_after)`` in the index each due row was read from
the table: at a million images about a day's worth is due (3,200 rows), and on SQLite the
overview grew ×2.2 from 10,000 images. Carrying the summed columns in the index makes the
sum an index-only range on both engines. The partial index of rows in flight carries the
same columns, so a planner never prefers a covering scan of the whole purge index to it.
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

COVERED = ["purge_state", "size_bytes", "thumbnail_bytes", "variant_bytes", "version",
           "deleted_at"]


IN_FLIGHT = {"postgresql_where": sa.text("purge_state = 'purging'"),
             "sqlite_where": sa.text("purge_state = 'purging'")}


def upgrade():
    op.drop_index("ix_images_purge", table_name="images")
    op.create_index("ix_images_purge", "images", ["is_deleted", "purge_after", *COVERED])
    op.drop_index("ix_images_purging", table_name="images")
    op.create_index("ix_images_purging", "images", ["claimed_at", *COVERED], **IN_FLIGHT)


def downgrade():
    op.drop_index("ix_images_purging", table_name="images")
    op.create_index("ix_images_purging", "images", ["claimed_at"], **IN_FLIGHT)
    op.drop_index("ix_images_purge", table_name="images")
    op.create_index("ix_images_purge", "images", ["is_deleted", "purge_after"])
