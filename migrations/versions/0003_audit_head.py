"""audit head: the newest event's id and hash, so a cut-off tail is detected

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 20:20:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # A chain written before this migration gets its head from its newest event.
    op.execute(
        "INSERT INTO audit_head (id, last_id, last_hash) "
        "SELECT 1, id, hash FROM audit_events WHERE id = (SELECT max(id) FROM audit_events)"
    )


def downgrade():
    op.drop_table("audit_head")
