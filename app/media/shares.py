"""Share links: a URL anyone may open until it expires (SPEC section 8)."""

from __future__ import annotations

from flask import current_app, url_for

from app.core.db import utcnow
from app.images.present import iso
from app.images.service import get_image
from app.media.service import create_share_link


def share_image(image_id, ttl_s: int, *, actor) -> dict:
    """``{"url", "expires_at"}``: a link to the image for about ``ttl_s`` seconds, made by
    its owner or an admin (``get_image`` refuses anyone else)."""
    image = get_image(image_id, actor=actor, include_trashed=True)
    config = current_app.config
    query, expires_at = create_share_link(image, ttl_s=ttl_s, now=utcnow(),
                                          window_s=config["SHARE_LINK_WINDOW_S"],
                                          secret=config["SECRET_KEY"])
    return {"url": url_for("media.original", image_id=image.id, _external=True, **query),
            "expires_at": iso(expires_at)}
