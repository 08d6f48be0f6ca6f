"""scale: indexes that keep the purge's fixed cost, the media page and the audit filter flat

Rows in flight (``ix_images_purging``, partial: only ``purging`` rows) for the purge's
reclaim query and pending totals; live images by size (``ix_images_heavy``, partial) for
the media page's heavy images; media stats by requests for its top images; audit events
by actor and action for the combined filter (scale review F1, F2, F10).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 04:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_images_purging", "images", ["claimed_at"],
                    postgresql_where=sa.text("purge_state = 'purging'"),
                    sqlite_where=sa.text("purge_state = 'purging'"))
    op.create_index("ix_images_heavy", "images", [sa.text("size_bytes DESC"), "id"],
                    postgresql_where=sa.text("is_deleted IS false AND purge_state IS NULL"),
                    sqlite_where=sa.text("is_deleted IS 0 AND purge_state IS NULL"))
    op.create_index("ix_media_stats_requests", "media_stats",
                    [sa.text("proxy_requests DESC"), "image_id"])
    op.create_index("ix_audit_actor_action", "audit_events", ["actor_id", "action", "id"])


def downgrade():
    op.drop_index("ix_audit_actor_action", table_name="audit_events")
    op.drop_index("ix_media_stats_requests", table_name="media_stats")
    op.drop_index("ix_images_heavy", table_name="images")
    op.drop_index("ix_images_purging", table_name="images")
