"""The trash: what is in it, how long it stays, bringing things back, emptying it."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask_babel import gettext
from sqlalchemy import and_, select

from app.core.errors import BadRequest, DomainError, NotFound
from app.core.extensions import db
from app.core.pagination import Page, beyond, decode_cursor, page_from_rows
from app.images.models import Image, with_trashed
from app.images.service import release_claim, restore_image
from app.images.totals import Totals, image_totals
from app.purge.batch import BatchResult, claim_and_delete, new_claim_id

EXPIRES_SOON = timedelta(days=3)


def days_left(purge_at: datetime | None, now: datetime) -> int:
    """Whole days until ``purge_at``, rounded up: 30 right after a delete."""
    if purge_at is None:
        return 0
    seconds = (purge_at - now).total_seconds()
    return max(0, math.ceil(seconds / 86400))


def expires_soon(purge_at: datetime | None, now: datetime) -> bool:
    return purge_at is not None and purge_at - now <= EXPIRES_SOON


def list_trash(owner_id: str, *, limit: int, cursor: str | None) -> Page:
    """Trashed images, most recently deleted first, by keyset (deleted_at, id)."""
    statement = select(Image).where(Image.owner_id == owner_id, Image.is_deleted.is_(True))
    if cursor:
        at, last_id = decode_cursor(cursor)
        statement = statement.where(beyond((Image.deleted_at, Image.id), (at, last_id)))
    rows = db.session.execute(
        with_trashed(statement.order_by(Image.deleted_at.desc(), Image.id.desc())
                     .limit(limit + 1))
    ).scalars().all()
    return page_from_rows(rows, limit, lambda img: (img.deleted_at, img.id))


def _in_trash(owner_id: str, only: list[uuid.UUID] | None = None):
    condition = and_(Image.owner_id == owner_id, Image.is_deleted.is_(True))
    return condition if only is None else and_(condition, Image.id.in_(only))


def trash_stats(owner_id: str, only: list[uuid.UUID] | None = None) -> tuple[int, int]:
    """(items, bytes) in the owner's trash, or in ``only`` those items of it."""
    totals = image_totals(_in_trash(owner_id, only))
    return totals.count, totals.bytes


def deletable_totals(owner_id: str, only: list[uuid.UUID] | None = None) -> Totals:
    """What emptying the trash (or deleting ``only`` those items) would take now: the
    items not already being purged, which ``empty_trash`` skips too."""
    return image_totals(and_(_in_trash(owner_id, only), Image.purge_state.is_(None)))


MAX_SELECTION = 1000


def selected_ids(raw: list[str]) -> list[uuid.UUID]:
    """Image ids chosen by a person: at least one, all well formed, at most 1000."""
    if not raw:
        raise BadRequest(gettext("Select the items first."), code="invalid_request")
    if len(raw) > MAX_SELECTION:
        raise BadRequest(gettext("At most %(num)d items at a time.", num=MAX_SELECTION),
                         code="invalid_request")
    try:
        return sorted({uuid.UUID(value) for value in raw})
    except ValueError:
        raise BadRequest(gettext("An item id is not valid."), code="invalid_request") from None


@dataclass
class BulkRestore:
    restored: list[str] = field(default_factory=list)  # image ids, as given
    skipped: list[dict] = field(default_factory=list)  # {"id", "code"}


def restore_many(owner_id: str, ids: list[str] | None, *, all_items: bool,
                 now: datetime) -> BulkRestore:
    """Restore what can be; list the rest with the reason, never fail the whole call.

    Not committed: the caller commits, with the audit event that records it.
    """
    if all_items:
        targets = db.session.execute(
            with_trashed(select(Image.id).where(Image.owner_id == owner_id,
                                                Image.is_deleted.is_(True)))
        ).scalars().all()
        ids = [str(i) for i in targets]
    outcome = BulkRestore()
    for raw_id in ids or []:
        try:
            image_id = uuid.UUID(str(raw_id))
            image = db.session.execute(
                with_trashed(select(Image).where(Image.id == image_id,
                                                 Image.owner_id == owner_id))
            ).scalar_one_or_none()
            if image is None:
                raise NotFound(gettext("No such image."))
            restore_image(image, now=now)
            outcome.restored.append(str(image_id))
        except ValueError:
            outcome.skipped.append({"id": str(raw_id), "code": "not_found"})
        except DomainError as error:
            outcome.skipped.append({"id": str(raw_id), "code": error.code})
    return outcome


def empty_trash(owner_id: str, storage, *, now: datetime, batch_size: int,
                deadline: float | None = None, clock=None,
                only: list[uuid.UUID] | None = None) -> tuple[BatchResult, int]:
    """Delete the owner's whole trash (or ``only`` those items of it) now, batch by
    batch; skip rows being purged.

    Each batch has its own claim id and takes no global lease, so emptying a trash
    never waits for, nor blocks, the nightly purge. Items whose objects the store failed
    to delete are given back to the trash, restorable, and not tried again in this call
    (``result.errors`` names them; the purge retries them). Returns the result and how
    many items remain in the trash.
    """
    total = BatchResult()
    condition = Image.owner_id == owner_id
    if only is not None:
        condition = and_(condition, Image.id.in_(only))
    while True:
        claim_id = new_claim_id("empty")
        failed = [uuid.UUID(i) for i in total.errors]
        result = claim_and_delete(and_(condition, Image.id.not_in(failed)) if failed
                                  else condition, storage=storage, claim_id=claim_id,
                                  now=now, batch_size=batch_size)
        if result.errors:
            release_claim(claim_id)
        total.add(result)
        if result.claimed == 0 or result.deleted == 0:
            break
        if deadline is not None and clock is not None and clock() > deadline:
            break
    remaining = trash_stats(owner_id)[0]
    return total, remaining
