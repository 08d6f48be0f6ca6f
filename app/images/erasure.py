"""Claim-and-delete: the one way image rows and their objects leave Papelera.

A batch is claimed by one conditional UPDATE that stamps ``claim_id``; the claim is
committed before any object-store call; objects (originals, thumbnails and stored
variants) are deleted with ``delete_many`` (DeleteObjects, 1000 keys a call); only rows
of this claim whose objects are gone are deleted (their variant rows go with them, ON
DELETE CASCADE). Each step is a unit of work that says what it did (``ImagesClaimed``,
``ImagesErased``), so the media cache and the access generation follow without being
called from here. A crash anywhere
leaves rows claimed (``purge_state='purging'``) that the next purge run finishes: never
a row without objects that still exist, never objects without a row. Used by permanent
delete, empty trash, the purge job and user deletion.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, delete, select, update

from app.core.db import end_read, on_postgresql
from app.core.events import ImagesClaimed, ImagesErased
from app.core.extensions import db
from app.core.uow import unit_of_work
from app.images import counters
from app.images.models import Image, ImageVariant, with_trashed

log = logging.getLogger(__name__)


def new_claim_id(kind: str) -> str:
    return f"{kind}:{uuid.uuid4().hex}"


@dataclass
class BatchResult:
    claimed: int = 0
    deleted: int = 0
    bytes_freed: int = 0
    errors: dict[str, str] = field(default_factory=dict)  # image id -> error
    deleted_ids: list[str] = field(default_factory=list)
    partial_ids: list[str] = field(default_factory=list)  # handed to the purge

    def add(self, other: BatchResult) -> None:
        self.claimed += other.claimed
        self.deleted += other.deleted
        self.bytes_freed += other.bytes_freed
        self.errors.update(other.errors)
        self.deleted_ids.extend(other.deleted_ids)
        self.partial_ids.extend(other.partial_ids)


def _one_of(candidates):
    """``Image.id IN (candidates)``, with the candidates chosen exactly once.

    On PostgreSQL the candidates are locked with ``FOR UPDATE SKIP LOCKED`` so that
    concurrent claimers pass each other, and they sit in a MATERIALIZED CTE: as a plain
    ``IN (subquery)`` the planner may rescan the subquery for every outer row (a nested
    loop semi-join), and each rescan skips the rows this very statement just locked, so
    the LIMIT would apply per rescan and the claim would take the whole table.
    """
    if on_postgresql(db.session):
        batch = (candidates.with_for_update(skip_locked=True).cte("claim_batch")
                 .prefix_with("MATERIALIZED"))
        return Image.id.in_(select(batch.c.id))
    return Image.id.in_(candidates.scalar_subquery())


def claim(condition, *, claim_id: str, now: datetime, limit: int) -> int:
    """Stamp up to ``limit`` unclaimed rows matching ``condition`` with ``claim_id``.

    One statement, committed at once. The subquery re-checks ``is_deleted`` and
    ``purge_state`` at the moment of the claim, so a restore that won the race is
    never claimed. On PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets concurrent claimers
    pass each other; on SQLite the claim runs under ``BEGIN IMMEDIATE`` (``begin_write``).
    """
    candidates = (
        select(Image.id)
        .where(Image.is_deleted.is_(True), Image.purge_state.is_(None), condition)
        .limit(limit)
    )
    with unit_of_work() as uow:
        claimed = counters.counted(
            with_trashed(
                update(Image)
                .where(_one_of(candidates), Image.purge_state.is_(None),
                       Image.is_deleted.is_(True))
                .values(purge_state="purging", claim_id=claim_id, claimed_at=now,
                        version=Image.version + 1)),
            counters.claimed)
        if claimed:
            uow.emit(ImagesClaimed(claim_id, claimed))
        uow.commit()  # before any object-store call, also inside a larger unit
    return len(claimed)


def reclaim(condition, *, claim_id: str, now: datetime, limit: int) -> int:
    """Take over up to ``limit`` rows left ``purging`` by a claim nobody will finish.

    ``condition`` says which claims are abandoned (the purge passes: claims of runs that
    no longer hold the lease, and other claims older than the stale limit). One
    statement, committed at once; the row keeps ``purge_state='purging'`` throughout, so
    it never becomes restorable, and its new ``claim_id`` makes the old holder's late
    row delete (if it ever wakes up) a no-op.
    """
    candidates = select(Image.id).where(Image.purge_state == "purging", condition).limit(limit)
    with unit_of_work() as uow:  # the rows stay purging: no counter moves
        result = db.session.execute(
            with_trashed(
                update(Image)
                .where(_one_of(candidates), Image.purge_state == "purging", condition)
                .values(claim_id=claim_id, claimed_at=now, version=Image.version + 1)
                .execution_options(synchronize_session=False)
            )
        )
        uow.commit()  # also inside a larger unit: taken over before the store is called
    return result.rowcount


@dataclass(frozen=True)
class ClaimedRow:
    id: uuid.UUID
    storage_key: str
    thumbnail_key: str
    size_bytes: int
    thumbnail_bytes: int
    variant_bytes: int = 0
    variant_keys: tuple[str, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.storage_key, self.thumbnail_key, *self.variant_keys)

    @property
    def total_bytes(self) -> int:
        return self.size_bytes + (self.thumbnail_bytes or 0) + (self.variant_bytes or 0)


def claimed_rows(claim_id: str) -> list[ClaimedRow]:
    """The rows stamped with ``claim_id`` (ids, keys and sizes only), read and committed.

    A variant is only added while its image is unclaimed (``app.media.service``), so the
    keys read here, after the claim, are all there will be.
    """
    rows = db.session.execute(
        with_trashed(select(Image.id, Image.storage_key, Image.thumbnail_key, Image.size_bytes,
                            Image.thumbnail_bytes, Image.variant_bytes)
                     .where(Image.claim_id == claim_id))
    ).all()
    variants: dict[uuid.UUID, list[str]] = {}
    ids = [row.id for row in rows]
    for start in range(0, len(ids), 500):
        for image_id, key in db.session.execute(
                select(ImageVariant.image_id, ImageVariant.key)
                .where(ImageVariant.image_id.in_(ids[start:start + 500]))):
            variants.setdefault(image_id, []).append(key)
    end_read()  # no transaction stays open across the object-store call
    return [ClaimedRow(row.id, row.storage_key, row.thumbnail_key, row.size_bytes,
                       row.thumbnail_bytes, row.variant_bytes or 0,
                       tuple(sorted(variants.get(row.id, ()))))
            for row in rows]


def delete_objects(storage, rows, claim_id: str = "") -> dict[str, str]:
    """Delete the rows' originals, thumbnails and variants; ``{key: error}`` for what failed.

    Touches no database session, so it may run in another thread.
    """
    keys = [k for row in rows for k in row.keys]
    if not keys:
        return {}
    try:
        return storage.delete_many(keys)
    except Exception as exc:  # the store is down: every row of the batch stays claimed
        log.warning("object deletion failed for claim %s: %s", claim_id, exc)
        return {k: str(exc) for k in keys}


PARTIAL_CLAIM_PREFIX = "partial:"


def delete_rows(claim_id: str, rows, failed_keys: dict[str, str]) -> BatchResult:
    """Delete the rows of ``claim_id`` whose objects are gone; the others stay claimed,
    those that lost some of their objects under a claim of the purge's (``partial_ids``)."""
    result = BatchResult(claimed=len(rows))
    done_ids, sizes, partial = [], {}, []
    for row in rows:
        failed = [k for k in row.keys if k in failed_keys]
        if failed:
            result.errors[str(row.id)] = failed_keys[failed[0]]
            if len(failed) < len(row.keys):
                partial.append(row.id)
        else:
            done_ids.append(row.id)
            sizes[row.id] = row.total_bytes
    with unit_of_work() as uow:
        if partial:
            _hand_to_purge(claim_id, partial, result)
        _delete_rows(claim_id, done_ids, sizes, result)
        if result.deleted_ids:
            uow.emit(ImagesErased(tuple(uuid.UUID(i) for i in result.deleted_ids),
                                  result.bytes_freed))
        uow.commit()  # a step of the saga, also inside a larger unit
    result.deleted = len(result.deleted_ids)
    return result


def _hand_to_purge(claim_id: str, ids: list, result: BatchResult) -> None:
    """Move partly deleted rows of ``claim_id`` to a claim only the purge finishes."""
    moved = db.session.execute(
        with_trashed(update(Image)
                     .where(Image.claim_id == claim_id, Image.id.in_(ids),
                            Image.purge_state == "purging")
                     .values(claim_id=new_claim_id(PARTIAL_CLAIM_PREFIX.rstrip(":")),
                             version=Image.version + 1)
                     .returning(Image.id))
        .execution_options(synchronize_session=False)
    ).scalars().all()
    result.partial_ids.extend(str(i) for i in moved)
    if moved:
        log.warning("%d image(s) partly deleted under claim %s; the purge finishes them",
                    len(moved), claim_id)


def _delete_rows(claim_id: str, done_ids: list, sizes: dict, result: BatchResult) -> None:
    for start in range(0, len(done_ids), 500):
        chunk = done_ids[start:start + 500]
        # RETURNING tells which rows this claim really deleted: a run that took the
        # claim over meanwhile (it looked abandoned) deletes and counts the others.
        gone = counters.counted(
            with_trashed(delete(Image).where(and_(Image.claim_id == claim_id,
                                                  Image.id.in_(chunk)))),
            counters.erased)
        for image_id in gone:
            result.deleted_ids.append(str(image_id))
            result.bytes_freed += sizes[image_id]


def delete_claimed(storage, claim_id: str) -> BatchResult:
    """Delete the objects, then the rows, of everything stamped with ``claim_id``."""
    rows = claimed_rows(claim_id)
    if not rows:
        return BatchResult()
    return delete_rows(claim_id, rows, delete_objects(storage, rows, claim_id))


def claim_and_delete(condition, *, storage, claim_id: str, now: datetime,
                     batch_size: int) -> BatchResult:
    claim(condition, claim_id=claim_id, now=now, limit=batch_size)
    return delete_claimed(storage, claim_id)
