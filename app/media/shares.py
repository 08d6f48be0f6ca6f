"""Share links: a URL anyone may open until it expires or its owner revokes it (SPEC
section 8, "Share links, managed").

Each link is a row (``ShareLinkRecord``) whose id rides in the signed URL, so the owner
(or an admin) can list the live ones and turn one off at once. The expiry choices the
viewer offers are ``EXPIRY_CHOICES``; the API takes any ``ttl_s`` in range.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app, url_for

from app.core.db import utcnow
from app.core.pagination import decode_cursor, encode_cursor
from app.images.present import iso
from app.images.service import get_image
from app.media.service import (
    create_share_link,
    find_share_link,
    live_share_links,
    revoke_share_link,
    share_query,
)

HOUR_S, DAY_S = 3600, 24 * 3600
# What the viewer's Share panel offers (templates/images/_share.html names them).
EXPIRY_CHOICES = (HOUR_S, DAY_S, 7 * DAY_S, 30 * DAY_S)


def share_url(record) -> str:
    return url_for("media.original", image_id=record.image_id, _external=True,
                   **share_query(record, secret=current_app.config["SECRET_KEY"]))


def share_to_dict(record) -> dict:
    """``{"id", "url", "created_at", "expires_at"}`` (and ``revoked_at`` once revoked)."""
    body = {"id": record.id, "url": share_url(record), "created_at": iso(record.created_at),
            "expires_at": iso(record.expires_at)}
    if record.revoked_at is not None:
        body["revoked_at"] = iso(record.revoked_at)
    return body


def share_image(image_id, ttl_s: int, *, actor) -> dict:
    """A link to the image for about ``ttl_s`` seconds (rounded up to the link window),
    made by its owner or an admin (``get_image`` refuses anyone else with 404)."""
    image = get_image(image_id, actor=actor, include_trashed=True)
    record = create_share_link(image, ttl_s=ttl_s, now=utcnow(),
                               window_s=current_app.config["SHARE_LINK_WINDOW_S"],
                               created_by=actor.id)
    return share_to_dict(record)


def list_share_links(image_id, *, actor, limit: int, cursor: str | None = None
                     ) -> tuple[list, str | None]:
    """The image's live links, soonest to end first, and the next page's cursor."""
    image = get_image(image_id, actor=actor, include_trashed=True)
    after = decode_cursor(cursor, (datetime, str)) if cursor else None
    rows = live_share_links(image.id, now=utcnow(), limit=limit, after=after)
    more, rows = len(rows) > limit, rows[:limit]
    next_cursor = encode_cursor(rows[-1].expires_at, rows[-1].id) if more and rows else None
    return rows, next_cursor


def load_share_for(actor, image_id, share_id):
    """``@delete_endpoint``'s ``load``: the link, if ``actor`` may see its image (404)."""
    image = get_image(image_id, actor=actor, include_trashed=True)
    return find_share_link(image.id, share_id)


def preview_revoke(target, options) -> dict:
    return {"images": 0, "objects": 0, "bytes": 0, "share_links": 1}


def revoke(target, *, actor) -> tuple[dict, dict]:
    """Turn the link off now; (the answer, the audit details)."""
    revoke_share_link(target, actor_id=actor.id, now=utcnow())
    return share_to_dict(target), {"image_id": str(target.image_id),
                                   "expires_at": iso(target.expires_at)}
