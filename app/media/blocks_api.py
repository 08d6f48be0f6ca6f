"""JSON face of auto-blocks: ``GET /api/v1/admin/media/blocks`` and lifting one (admin).

The configured ``block_ips`` are edited through the media config; these are the blocks
the auto-block wrote (SPEC section 8).
"""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask_babel import gettext

from app.auth.login import admin_required
from app.core.db import utcnow
from app.deletion import delete_endpoint
from app.media.protection import active_blocks, block_to_dict, lift_block, load_block

bp = Blueprint("media_blocks_api", __name__, url_prefix="/api/v1")


def load_ip_block(actor, ip):
    return load_block(ip, utcnow())


def preview_lift(target, options):
    return {"images": 0, "objects": 0, "bytes": 0, "blocks": len(target.rows)}


# Shared with any page route that lifts a block, so both faces declare the same action.
LIFT_BLOCK = {"resource": "ip_block", "load": load_ip_block, "preview": preview_lift,
              "soft": False, "roles": ("admin",), "action": "ip_unblocked",
              # it commits on its own, then tells every worker through Redis
              "outside_sql": True}


@bp.get("/admin/media/blocks")
@admin_required
def blocks():
    """Active automatic blocks, newest first: ``{"items": [{"ip", "reason", "image_id",
    "count", "blocked_at", "expires_at"}]}``."""
    return jsonify({"items": [block_to_dict(b) for b in active_blocks(utcnow())]})


# The default converter takes IPv6 colons; anything that is no address is 404 (audited).
@bp.delete("/admin/media/blocks/<ip>")
@delete_endpoint(**LIFT_BLOCK, description="Lift an automatic IP block now")
def lift(target, options):
    result = lift_block(target, utcnow())
    return {"message": gettext("%(ip)s is no longer blocked.", ip=target.id), **result}, result
