"""Image rules: upload, list, read, trash, restore, delete for good.

Plain arguments in (ids, a clock, a storage), domain errors out; no request here.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext
from sqlalchemy import select, update

from app.core.db import begin_write
from app.core.errors import Conflict, NotFound, StorageFailed, TooLarge
from app.core.events import ImagesReleased, ImagesRestored, ImagesTrashed, ImagesUploaded
from app.core.extensions import db
from app.core.pagination import Page, beyond, decode_cursor, page_from_rows
from app.core.uow import emit, unit_of_work
from app.images import counters
from app.images.erasure import BatchResult, claim, delete_claimed, new_claim_id
from app.images.models import Image, image_id_or_none, reload, with_trashed
from app.images.processing import THUMBNAIL_TYPE, DecodeSlots, process_upload

log = logging.getLogger(__name__)


def new_keys(now: datetime) -> tuple[str, str]:
    """Random object names, never derived from the file name or the content."""
    token = secrets.token_hex(16)
    return f"originals/{now:%Y/%m}/{token}", f"thumbnails/{now:%Y/%m}/{token}.webp"


def upload_image(storage, *, owner_id: str, file_name: str, data: bytes, max_bytes: int,
                 max_pixels: int, now: datetime, decode_slots: DecodeSlots | None = None) -> Image:
    """Store an upload and its thumbnail. ``decode_slots`` bounds concurrent decodes
    (503 ``busy`` when none frees up in time); None decodes at once (CLI)."""
    if len(data) > max_bytes:
        raise TooLarge(gettext("The upload is larger than the %(limit)s MB limit.",
                               limit=max_bytes // (1024 * 1024)))
    processed = process_upload(data, max_pixels=max_pixels, slots=decode_slots)
    storage_key, thumbnail_key = new_keys(now)
    # Objects first: a crash after this leaves orphan objects (found by `flask doctor`),
    # never a row that points at nothing.
    storage.put(storage_key, data, processed.content_type)
    try:
        storage.put(thumbnail_key, processed.thumbnail, THUMBNAIL_TYPE)
        image = Image(
            owner_id=owner_id, file_name=_display_name(file_name),
            storage_key=storage_key, thumbnail_key=thumbnail_key,
            content_type=processed.content_type, size_bytes=len(data),
            thumbnail_bytes=len(processed.thumbnail), width=processed.width,
            height=processed.height, sha256=hashlib.sha256(data).hexdigest(), created_at=now,
        )
        with unit_of_work() as uow:  # only now, after the storage calls: the lock is held
            db.session.add(image)     # for the INSERT alone
            db.session.flush()
            counters.uploaded(owner_id, image.total_bytes)
            uow.emit(ImagesUploaded(owner_id, (image.id,), len(data)))
    except BaseException:
        db.session.rollback()
        try:
            storage.delete_many([storage_key, thumbnail_key])
        except Exception:  # the original error is the one to answer; `flask doctor` finds these
            log.exception("could not remove the objects of a failed upload: %s, %s",
                          storage_key, thumbnail_key)
        raise
    return image


def _display_name(name: str | None) -> str:
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = "".join(ch for ch in name if ch.isprintable())
    return name[:255] or "image"


def list_images(owner_id: str, *, limit: int, cursor: str | None) -> Page:
    """Active images, newest first, by keyset (created_at, id)."""
    statement = select(Image).where(Image.owner_id == owner_id)
    if cursor:
        at, last_id = decode_cursor(cursor)
        statement = statement.where(beyond((Image.created_at, Image.id), (at, last_id)))
    rows = db.session.execute(
        statement.order_by(Image.created_at.desc(), Image.id.desc()).limit(limit + 1)
    ).scalars().all()
    return page_from_rows(rows, limit, lambda img: (img.created_at, img.id))


def find_duplicates(owner_id: str, hashes, *, exclude=None) -> dict[str, str]:
    """``{sha256: image id}`` for those of ``hashes`` already in the owner's library
    (active images; the oldest copy), leaving out the image ``exclude``."""
    wanted = sorted({h.lower() for h in hashes if isinstance(h, str) and len(h) == 64})
    if not wanted:
        return {}
    statement = (select(Image.sha256, Image.id)
                 .where(Image.owner_id == owner_id, Image.sha256.in_(wanted))
                 .order_by(Image.created_at.desc(), Image.id.desc()))
    if exclude is not None:
        statement = statement.where(Image.id != exclude)
    found: dict[str, str] = {}
    for sha, image_id in db.session.execute(statement):
        found[sha] = str(image_id)  # the last one written is the oldest copy
    return found


def neighbours(image: Image) -> tuple[Image | None, Image | None]:
    """(newer, older) images next to ``image`` in the order it is listed in: the gallery
    (``created_at``) for an active image, the trash (``deleted_at``) for a trashed one."""
    if image.is_deleted:
        column, value = Image.deleted_at, image.deleted_at
        base = with_trashed(select(Image).where(Image.owner_id == image.owner_id,
                                                Image.is_deleted.is_(True)))
    else:
        column, value = Image.created_at, image.created_at
        base = select(Image).where(Image.owner_id == image.owner_id)
    key = (column, Image.id)
    newer = db.session.execute(
        base.where(beyond(key, (value, image.id), descending=False))
        .order_by(column.asc(), Image.id.asc()).limit(1)).scalar_one_or_none()
    older = db.session.execute(
        base.where(beyond(key, (value, image.id)))
        .order_by(column.desc(), Image.id.desc()).limit(1)).scalar_one_or_none()
    return newer, older


def owned_selection(owner_id: str, ids, *, include_trashed: bool = False) -> list[Image]:
    """The owner's images among ``ids`` (other people's ids are left out), newest first."""
    wanted = [i if isinstance(i, uuid.UUID) else uuid.UUID(str(i)) for i in ids]
    statement = select(Image).where(Image.owner_id == owner_id, Image.id.in_(wanted))
    if include_trashed:
        statement = with_trashed(statement)
    return list(db.session.execute(
        statement.order_by(Image.created_at.desc(), Image.id.desc())).scalars())


def count_images(owner_id: str) -> tuple[int, int]:
    """(count, bytes) of the owner's active images (bytes: originals, thumbnails and
    variants), from the owner's counters: one primary-key read however large the library."""
    totals = counters.owner_totals(owner_id)
    return totals.active_count, totals.active_bytes


def get_image(image_id, *, actor, include_trashed: bool = True) -> Image:
    """The image if ``actor`` may see it. Other people's images are 404, not 403."""
    image_id = image_id_or_none(image_id)
    if image_id is None:
        raise NotFound(gettext("No such photo."))
    statement = select(Image).where(Image.id == image_id)
    if include_trashed:
        statement = with_trashed(statement)
    image = db.session.execute(statement).scalar_one_or_none()
    if image is None or (image.owner_id != actor.id and not actor.is_admin):
        raise NotFound(gettext("No such photo."))
    return image


@dataclass(frozen=True)
class Deletion:
    id: str
    type: str
    deleted_at: datetime
    recoverable_until: datetime | None
    deleted_by: str | None


def soft_delete_image(image: Image, *, actor_id: str, retention_days: int,
                      now: datetime) -> Deletion:
    """Move to the trash, fixing ``purge_after`` now. Trashing again changes nothing.

    Not committed: the caller commits, with the audit event that records it.
    """
    begin_write()
    if not image.is_deleted:
        moved = counters.counted(
            update(Image)
            .where(Image.id == image.id, Image.is_deleted.is_(False))
            .values(is_deleted=True, deleted_at=now, deleted_by=actor_id,
                    purge_after=now + timedelta(days=retention_days),
                    version=Image.version + 1),
            counters.trashed)
        if moved:
            emit(ImagesTrashed((image.id,)))
        image = reload(image.id)
        if image is None:
            raise NotFound(gettext("No such photo."))
    return Deletion(str(image.id), "soft", image.deleted_at, image.purge_after, image.deleted_by)


def trash_rows(condition, *, deleted_by: str | None, now: datetime,
               purge_after: datetime) -> tuple[uuid.UUID, ...]:
    """Move the active rows matching ``condition`` to the trash in one statement; their ids.

    The one "trash these rows" write (a user's library before deletion, the orphan sweep,
    the doctor's repairs). Its own unit of work, or the caller's when one is open (then
    the caller commits).
    """
    with unit_of_work() as uow:
        trashed = counters.counted(
            update(Image)
            .where(condition, Image.is_deleted.is_(False))
            .values(is_deleted=True, deleted_at=now, deleted_by=deleted_by,
                    purge_after=purge_after, version=Image.version + 1),
            counters.trashed)
        if trashed:
            uow.emit(ImagesTrashed(trashed))
    return trashed


def _exists(image_id) -> bool:
    return db.session.execute(
        with_trashed(select(Image.id).where(Image.id == image_id))
    ).first() is not None


def restore_image(image: Image, *, now: datetime) -> Image:
    """Back to the gallery. Refused when not in the trash, or while being purged.

    Not committed: the caller commits, with the audit event that records it.
    """
    begin_write()
    moved = counters.counted(
        update(Image)
        .where(Image.id == image.id, Image.is_deleted.is_(True), Image.purge_state.is_(None))
        .values(is_deleted=False, deleted_at=None, deleted_by=None, purge_after=None,
                version=Image.version + 1),
        counters.restored)
    current = reload(image.id)
    if current is None:
        raise NotFound(gettext("No such photo."))
    if not moved:
        if current.purge_state == "purging":
            raise Conflict(gettext("This photo is being purged and can no longer be restored."),
                           code="purging")
        raise Conflict(gettext("This photo is not in the trash."), code="not_in_trash")
    emit(ImagesRestored((image.id,)))
    return current


def permanently_delete_image(image: Image, storage, *, actor_id: str,
                             now: datetime) -> tuple[Deletion, BatchResult]:
    """Delete now, active or trashed: claim the row, delete its objects, then the row.

    When the object store fails, the claim is released and committed before
    ``StorageFailed`` (503) is raised: the image stays in the trash, restorable, with
    ``purge_after`` no later than now, so the next purge run retries it.
    """
    claim_id = new_claim_id("delete")
    begin_write()
    # Mark it trashed first (if it was active) so that it is hidden at once, then claim it.
    moved = counters.counted(
        update(Image)
        .where(Image.id == image.id, Image.is_deleted.is_(False))
        .values(is_deleted=True, deleted_at=now, deleted_by=actor_id, purge_after=now,
                version=Image.version + 1),
        counters.trashed)
    if moved:
        emit(ImagesTrashed((image.id,)))
    claimed = claim(Image.id == image.id, claim_id=claim_id, now=now, limit=1)
    if claimed == 0:
        if _exists(image.id):
            raise Conflict(gettext("This photo is already being purged."), code="purging")
        raise NotFound(gettext("No such photo."))
    result = delete_claimed(storage, claim_id)
    if result.errors:
        release_claim(claim_id)
        raise StorageFailed(gettext("The photo's files could not be deleted right now; it "
                                    "stays in the trash and the next purge run will delete it."))
    return Deletion(str(image.id), "permanent", now, None, actor_id), result


def release_claim(claim_id: str) -> None:
    """Give rows of an unfinished claim back to the trash (restorable again), committed."""
    with unit_of_work() as uow:
        released = counters.counted(
            with_trashed(
                update(Image).where(Image.claim_id == claim_id, Image.purge_state == "purging")
                .values(purge_state=None, claim_id=None, claimed_at=None,
                        version=Image.version + 1)),
            counters.released)
        if released:
            uow.emit(ImagesReleased(released))
        uow.commit()  # also inside a larger unit: the rows are restorable from now on
