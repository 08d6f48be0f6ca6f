"""JSON face of media's share links: make one (``POST /api/v1/images/<id>/share``), list
the live ones (``GET …/shares``) and revoke one (``DELETE …/shares/<share_id>``)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask_babel import gettext
from flask_login import current_user

from app.api import json_body, page_args
from app.auth.login import login_required
from app.deletion import delete_endpoint
from app.media.service import parse_share_ttl
from app.media.shares import (
    list_share_links,
    load_share_for,
    preview_revoke,
    revoke,
    share_image,
    share_to_dict,
)

bp = Blueprint("media_api", __name__, url_prefix="/api/v1")

# Shared with the viewer's Share panel, so both faces declare the same action.
REVOKE_SHARE = {"resource": "share_link", "load": load_share_for, "preview": preview_revoke,
                "soft": False, "action": "share_revoked"}


@bp.post("/images/<uuid:image_id>/share")
@login_required
def share(image_id):
    """A share link to the image (and its variants), valid for about ``ttl_s`` seconds."""
    body = json_body(empty={})  # no body at all: the default lifetime
    return jsonify(share_image(image_id, parse_share_ttl(body), actor=current_user)), 201


@bp.get("/images/<uuid:image_id>/shares")
@login_required
def shares(image_id):
    """The image's live share links, soonest to end first (owner or admin)."""
    limit, cursor = page_args()
    rows, next_cursor = list_share_links(image_id, actor=current_user, limit=limit,
                                         cursor=cursor)
    return jsonify({"items": [share_to_dict(r) for r in rows], "next_cursor": next_cursor})


@bp.delete("/images/<uuid:image_id>/shares/<share_id>")
@delete_endpoint(**REVOKE_SHARE, description="Revoke a share link: it stops working at once")
def revoke_share(target, options):
    body, details = revoke(target, actor=current_user)
    return {"message": gettext("The share link was revoked."), "share": body}, details
