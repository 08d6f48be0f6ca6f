"""A user's export: their profile and image metadata, optionally a zip with the originals.

The zip is streamed: ``zipfile`` writes into a sink that the response generator drains
after every chunk, so memory holds one chunk at a time, never the archive.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select

from app.audit.service import format_time
from app.core.extensions import db
from app.images.models import Image, with_trashed
from app.images.present import image_fields, iso
from app.users.present import user_to_dict
from app.users.repository import User

CHUNK = 256 * 1024


def image_metadata(image: Image) -> dict:
    return {
        **image_fields(image),
        "sha256": image.sha256,
        "is_deleted": image.is_deleted,
        "deleted_at": iso(image.deleted_at),
        "purge_at": iso(image.purge_after),
    }


def owned_images(user_id: str) -> list[Image]:
    """Every image of the user, trashed ones included, oldest first."""
    return list(db.session.execute(
        with_trashed(select(Image).where(Image.owner_id == str(user_id))
                     .order_by(Image.created_at, Image.id))
    ).scalars())


def export_document(user: User, images: list[Image], now: datetime) -> dict:
    return {"exported_at": format_time(now), "user": user_to_dict(user),
            "images": [image_metadata(image) for image in images]}


def archive_name(image: Image) -> str:
    """``files/<id>-<name>``: the id keeps names unique, the name is made path-safe."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", image.file_name).strip("._") or "image"
    return f"files/{image.id}-{safe[:100]}"


class _Sink(io.RawIOBase):
    """A write-only, unseekable stream whose bytes the generator hands to the client."""

    def __init__(self):
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def write_originals(archive: zipfile.ZipFile, sink: _Sink, images: list[Image], storage, *,
                    prefix: str = "files/") -> Iterator[bytes]:
    """Stream each image's original into ``archive`` under ``<prefix><id>-<name>``, yielding
    what ``sink`` holds after every chunk; files already gone from the storage are listed
    in ``missing.json``. Shared by the account export and the gallery's zip download."""
    missing = []
    for image in images:
        try:
            source = storage.open(image.storage_key)
        except KeyError:
            missing.append(str(image.id))
            continue
        info = zipfile.ZipInfo(prefix + archive_name(image).removeprefix("files/"),
                               date_time=image.created_at.timetuple()[:6])
        info.compress_type = zipfile.ZIP_STORED  # images are compressed already
        with source, archive.open(info, "w", force_zip64=True) as target:
            for chunk in iter(lambda s=source: s.read(CHUNK), b""):
                target.write(chunk)
                yield sink.drain()
        yield sink.drain()
    if missing:
        archive.writestr("missing.json", json.dumps({"missing": missing}))


def stream_zip(document: dict, images: list[Image], storage) -> Iterator[bytes]:
    """``export.json`` then each original; files already gone are listed in ``missing``."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w") as archive:
        archive.writestr("export.json", json.dumps(document, indent=2),
                         compress_type=zipfile.ZIP_DEFLATED)
        yield sink.drain()
        yield from write_originals(archive, sink, images, storage)
    yield sink.drain()
