"""JSON face of media: share links, ``POST /api/v1/images/<id>/share``."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_babel import gettext
from flask_login import current_user

from app.auth.login import login_required
from app.core.errors import BadRequest
from app.media.service import parse_share_ttl
from app.media.shares import share_image

bp = Blueprint("media_api", __name__, url_prefix="/api/v1")


@bp.post("/images/<uuid:image_id>/share")
@login_required
def share(image_id):
    """A share link to the image (and its variants), valid for about ``ttl_s`` seconds."""
    body = request.get_json(silent=True)
    if body is None and not request.get_data():
        body = {}
    if not isinstance(body, dict):
        raise BadRequest(gettext('Send {"ttl_s": seconds} as JSON.'), code="invalid_json")
    return jsonify(share_image(image_id, parse_share_ttl(body), actor=current_user)), 201
