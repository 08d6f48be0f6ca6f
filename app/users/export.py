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


# Characters that are path separators or not allowed in a file name on some system.
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
NAME_LIMIT = 150


def safe_file_name(file_name: str, fallback: str = "photo") -> str:
    """The photo's own name as a single, portable file name: its last path part, without
    control or reserved characters, leading dots or ``..`` anywhere, at most
    ``NAME_LIMIT`` characters with the extension kept."""
    name = (file_name or "").replace("\\", "/").rsplit("/", 1)[-1]  # its last part
    name = re.sub(r"\.{2,}", ".", _UNSAFE.sub("_", name)).strip().lstrip(".").rstrip(". ")
    if not name.strip("._ "):
        return fallback
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > 10:
        stem, extension = name, ""
    extension = f".{extension}" if extension else ""
    return stem[:NAME_LIMIT - len(extension)].rstrip(". ") + extension


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name (2).jpg``, ``name (3).jpg``… the first not in ``taken``
    (compared without case, as Windows and macOS do); the answer is added to ``taken``."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        stem, dot, extension = name, "", ""
    candidate, number = name, 1
    while candidate.casefold() in taken:
        number += 1
        candidate = f"{stem} ({number}){dot}{extension}"
    taken.add(candidate.casefold())
    return candidate


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
                    prefix: str = "files/", own_names: bool = False) -> Iterator[bytes]:
    """Stream each image's original into ``archive`` under ``<prefix><id>-<name>``, yielding
    what ``sink`` holds after every chunk; files already gone from the storage are listed
    in ``missing.json``. Shared by the account export and the gallery's zip download.

    With ``own_names`` (the gallery's "Download as zip") an entry is the photo's own file
    name, made safe, clashes numbered ``name (2).jpg`` as a file manager would."""
    missing = []
    taken = {"missing.json"}
    for image in images:
        try:
            source = storage.open(image.storage_key)
        except KeyError:
            missing.append(str(image.id))
            continue
        entry = (unique_name(safe_file_name(image.file_name), taken) if own_names
                 else archive_name(image).removeprefix("files/"))
        info = zipfile.ZipInfo(prefix + entry, date_time=image.created_at.timetuple()[:6])
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
