"""How an image looks to the outside: the JSON shape, shared by both faces."""

from __future__ import annotations

from datetime import datetime

from flask import url_for

from app.audit.service import format_time
from app.trash.service import days_left, expires_soon


def iso(value: datetime | None) -> str | None:
    return format_time(value) if value else None


def image_urls(image) -> tuple[str, str]:
    """The stable /media URLs (original, thumbnail): the same on every render."""
    return (url_for("media.original", image_id=image.id),
            url_for("media.thumbnail", image_id=image.id))


def image_fields(image) -> dict:
    """What describes an image wherever it is shown (API answers, exports)."""
    return {
        "id": str(image.id),
        "file_name": image.file_name,
        "content_type": image.content_type,
        "size_bytes": image.size_bytes,
        "width": image.width,
        "height": image.height,
        "created_at": iso(image.created_at),
    }


def image_to_dict(image, *, now: datetime) -> dict:
    url, thumbnail_url = image_urls(image)
    body = {
        **image_fields(image),
        "etag": image.etag,
        "url": url,
        "thumbnail_url": thumbnail_url,
    }
    if image.is_deleted:
        body.update({
            "is_deleted": True,
            "deleted_at": iso(image.deleted_at),
            "purge_at": iso(image.purge_after),
            "days_left": days_left(image.purge_after, now),
            "expires_soon": expires_soon(image.purge_after, now),
        })
    return body


def deletion_to_dict(deletion) -> dict:
    return {
        "id": deletion.id,
        "type": deletion.type,
        "deleted_at": iso(deletion.deleted_at),
        "recoverable_until": iso(deletion.recoverable_until),
        "deleted_by": deletion.deleted_by,
    }
