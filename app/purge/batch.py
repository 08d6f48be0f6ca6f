"""Claim-and-delete: the one way image rows and their objects leave Papelera.

A batch is claimed by one conditional UPDATE that stamps ``claim_id``; the claim is
committed before any object-store call; objects are deleted with ``delete_many``
(DeleteObjects, 1000 keys a call); only rows of this claim whose objects are gone are
deleted. A crash anywhere leaves rows claimed (``purge_state='purging'``) that the next
purge run finishes: never a row without objects that still exist, never objects without
a row. Used by permanent delete, empty trash, the purge job and user deletion.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, delete, select, update

from app.extensions import db
from app.images.models import Image, with_trashed

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

    def add(self, other: BatchResult) -> None:
        self.claimed += other.claimed
        self.deleted += other.deleted
        self.bytes_freed += other.bytes_freed
        self.errors.update(other.errors)
        self.deleted_ids.extend(other.deleted_ids)


def claim(condition, *, claim_id: str, now: datetime, limit: int) -> int:
    """Stamp up to ``limit`` unclaimed rows matching ``condition`` with ``claim_id``.

    One statement, committed at once. The subquery re-checks ``is_deleted`` and
    ``purge_state`` at the moment of the claim, so a restore that won the race is
    never claimed. On PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets concurrent claimers
    pass each other; on SQLite the claim runs under ``BEGIN IMMEDIATE``.
    """
    candidates = (
        select(Image.id)
        .where(Image.is_deleted.is_(True), Image.purge_state.is_(None), condition)
        .limit(limit)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    result = db.session.execute(
        with_trashed(
            update(Image)
            .where(Image.id.in_(candidates.scalar_subquery()), Image.purge_state.is_(None),
                   Image.is_deleted.is_(True))
            .values(purge_state="purging", claim_id=claim_id, claimed_at=now,
                    version=Image.version + 1)
            .execution_options(synchronize_session=False)
        )
    )
    db.session.commit()
    return result.rowcount


def reclaim(condition, *, claim_id: str, now: datetime, limit: int) -> int:
    """Take over up to ``limit`` rows left ``purging`` by a claim nobody will finish.

    ``condition`` says which claims are abandoned (the purge passes: claims of runs that
    no longer hold the lease, and other claims older than the stale limit). One
    statement, committed at once; the row keeps ``purge_state='purging'`` throughout, so
    it never becomes restorable, and its new ``claim_id`` makes the old holder's late
    row delete (if it ever wakes up) a no-op.
    """
    candidates = (
        select(Image.id)
        .where(Image.purge_state == "purging", condition)
        .limit(limit)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    result = db.session.execute(
        with_trashed(
            update(Image)
            .where(Image.id.in_(candidates.scalar_subquery()), Image.purge_state == "purging",
                   condition)
            .values(claim_id=claim_id, claimed_at=now, version=Image.version + 1)
            .execution_options(synchronize_session=False)
        )
    )
    db.session.commit()
    return result.rowcount


def delete_claimed(storage, claim_id: str, *,
                   after_objects: Callable[[BatchResult], None] | None = None) -> BatchResult:
    """Delete the objects, then the rows, of everything stamped with ``claim_id``.

    ``after_objects`` is called between the object-store call and the row delete (the
    purge uses it to renew its lease and, in crash tests, to pause there).
    """
    rows = db.session.execute(
        with_trashed(select(Image.id, Image.storage_key, Image.thumbnail_key, Image.size_bytes,
                            Image.thumbnail_bytes).where(Image.claim_id == claim_id))
    ).all()
    db.session.commit()  # no transaction stays open across the object-store call
    result = BatchResult(claimed=len(rows))
    if not rows:
        return result
    keys = [k for row in rows for k in (row.storage_key, row.thumbnail_key)]
    try:
        failed_keys = storage.delete_many(keys)
    except Exception as exc:  # the store is down: every row of the batch stays claimed
        log.warning("object deletion failed for claim %s: %s", claim_id, exc)
        failed_keys = {k: str(exc) for k in keys}
    done_ids, sizes = [], {}
    for row in rows:
        problem = failed_keys.get(row.storage_key) or failed_keys.get(row.thumbnail_key)
        if problem:
            result.errors[str(row.id)] = problem
        else:
            done_ids.append(row.id)
            sizes[row.id] = row.size_bytes + (row.thumbnail_bytes or 0)
    if after_objects is not None:
        after_objects(result)
    for start in range(0, len(done_ids), 500):
        chunk = done_ids[start:start + 500]
        # RETURNING tells which rows this claim really deleted: a run that took the
        # claim over meanwhile (it looked abandoned) deletes and counts the others.
        gone = db.session.execute(
            with_trashed(delete(Image).where(and_(Image.claim_id == claim_id,
                                                  Image.id.in_(chunk)))
                         .returning(Image.id))
            .execution_options(synchronize_session=False)
        ).scalars().all()
        for image_id in gone:
            result.deleted_ids.append(str(image_id))
            result.bytes_freed += sizes[image_id]
    db.session.commit()
    result.deleted = len(result.deleted_ids)
    return result


def claim_and_delete(condition, *, storage, claim_id: str, now: datetime,
                     batch_size: int) -> BatchResult:
    claim(condition, claim_id=claim_id, now=now, limit=batch_size)
    return delete_claimed(storage, claim_id)
