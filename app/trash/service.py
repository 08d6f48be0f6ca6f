"""The trash: what is in it, how long it stays, bringing things back, emptying it."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask_babel import gettext
from sqlalchemy import and_, select, update

from app.core.errors import BadRequest
from app.core.events import ImagesRestored
from app.core.extensions import db
from app.core.pagination import Page, beyond, decode_cursor, page_from_rows
from app.core.uow import unit_of_work
from app.images import counters
from app.images.erasure import BatchResult, claim_and_delete, new_claim_id
from app.images.models import Image, with_trashed
from app.images.service import release_claim
from app.images.totals import Totals, image_totals

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
    """(items, bytes) in the owner's trash (items being purged included), or in ``only``
    those items of it. The whole trash is the owner's counters (one primary-key read);
    a selection (at most ``MAX_SELECTION`` ids) is counted from its rows."""
    if only is None:
        totals = counters.owner_totals(owner_id)
        return totals.trashed_count, totals.trashed_bytes
    totals = image_totals(_in_trash(owner_id, only))
    return totals.count, totals.bytes


def deletable_totals(owner_id: str, only: list[uuid.UUID] | None = None) -> Totals:
    """What emptying the trash (or deleting ``only`` those items) would take now: the
    items not already being purged, which ``empty_trash`` skips too. The whole trash
    from the owner's counters, its fingerprint from ``trash_changes``."""
    if only is None:
        totals = counters.owner_totals(owner_id)
        return Totals(totals.deletable_count, totals.deletable_bytes,
                      totals.trash_fingerprint)
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


RESTORE_BATCH = 500  # ids per UPDATE … IN (…): well under every engine's parameter limit


def restore_many(owner_id: str, ids: list[str] | None, *, all_items: bool,
                 now: datetime) -> BulkRestore:
    """Restore what can be; list the rest with the reason, never fail the whole call.

    Set-based: one UPDATE per batch of ids, and one SELECT for the reasons of those it
    did not take (``not_found``, ``not_in_trash``, ``purging``). ``all_items`` brings
    back at most ``MAX_SELECTION`` items per call, the most recently deleted first; the
    caller answers how many remain, and the client asks again. Not committed: the
    caller commits, with the audit event that records it.
    """
    outcome = BulkRestore()
    with unit_of_work() as uow:
        if all_items:
            ids = [str(i) for i in db.session.execute(with_trashed(
                select(Image.id).where(_in_trash(owner_id), Image.purge_state.is_(None))
                .order_by(Image.deleted_at.desc(), Image.id.desc()).limit(MAX_SELECTION)
            )).scalars()]
        given: list[tuple[str, uuid.UUID | None]] = []
        for raw in ids or []:
            try:
                given.append((str(raw), uuid.UUID(str(raw))))
            except ValueError:
                given.append((str(raw), None))
        wanted = list(dict.fromkeys(image_id for _, image_id in given if image_id))
        restored: set[uuid.UUID] = set()
        for start in range(0, len(wanted), RESTORE_BATCH):
            batch = counters.counted(
                update(Image)
                .where(Image.id.in_(wanted[start:start + RESTORE_BATCH]),
                       Image.owner_id == owner_id, Image.is_deleted.is_(True),
                       Image.purge_state.is_(None))
                .values(is_deleted=False, deleted_at=None, deleted_by=None, purge_after=None,
                        version=Image.version + 1),
                counters.restored)
            if batch:
                restored.update(batch)
                uow.emit(ImagesRestored(batch))
        reasons = _why_not_restored(owner_id, [i for i in wanted if i not in restored])
    for raw, image_id in given:
        if image_id in restored:
            restored.discard(image_id)  # a repeated id is restored once, then "not_in_trash"
            outcome.restored.append(str(image_id))
        else:
            code = "not_found" if image_id is None else reasons.get(image_id, "not_in_trash")
            outcome.skipped.append({"id": raw, "code": code})
    return outcome


def _why_not_restored(owner_id: str, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The reason each of ``ids`` (the owner's or not) was not restored."""
    reasons = {image_id: "not_found" for image_id in ids}
    for start in range(0, len(ids), RESTORE_BATCH):
        rows = db.session.execute(with_trashed(
            select(Image.id, Image.is_deleted, Image.purge_state)
            .where(Image.id.in_(ids[start:start + RESTORE_BATCH]), Image.owner_id == owner_id)
        )).all()
        for row in rows:
            reasons[row.id] = ("purging" if row.purge_state == "purging" else
                               "not_in_trash")
    return reasons


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
