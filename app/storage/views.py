"""Serves LocalStorage objects behind short-lived signed URLs.

The URL alone is not enough: the image must still exist, and unless the URL was minted
for the trash view, must not be in the trash.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, current_app, send_file
from itsdangerous import BadSignature
from sqlalchemy import select

from app.extensions import db
from app.images.models import Image, with_trashed
from app.storage import get_storage

bp = Blueprint("storage", __name__)


@bp.get("/objects/<token>")
def serve_object(token: str):
    storage = get_storage()
    if not hasattr(storage, "read_token"):
        abort(404)
    try:
        payload = storage.read_token(token, current_app.config["SIGNED_URL_TTL_S"])
        image_id = uuid.UUID(payload["i"])
    except (BadSignature, KeyError, ValueError, TypeError):
        abort(404)
    statement = select(Image).where(Image.id == image_id)
    if payload.get("t"):
        statement = with_trashed(statement)
    image = db.session.execute(statement).scalar_one_or_none()
    key = payload["k"]
    if image is None or key not in (image.storage_key, image.thumbnail_key):
        abort(404)
    try:
        stream = storage.open(key)
    except KeyError:
        abort(404)
    is_thumb = key == image.thumbnail_key
    response = send_file(
        stream,
        mimetype="image/webp" if is_thumb else image.content_type,
        download_name=payload.get("n") or image.file_name,
        as_attachment=False,
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, max-age=60"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
