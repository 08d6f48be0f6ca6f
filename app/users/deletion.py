"""Deleting a user for good: a saga that cannot half-fail, with no transaction to lean on.

The steps, each safe to run again:

1. ``user_delete_started`` goes to the audit log (with what will be deleted);
2. the user is marked ``status=deleting`` by a guarded ``find_one_and_update`` that also
   takes a lease (``deletion_lease``, ``deletion_lease_until``). From here on the user
   cannot sign in, upload or be reactivated, and the deletion only moves forward;
3. their active images are moved to the trash with one UPDATE (so the purge's claim, which
   only takes trashed rows, can take them), then ``claim_and_delete`` removes objects and
   thumbnails, then rows, batch by batch under the claim id ``user:<id>``;
4. their API tokens are deleted;
5. the user document is deleted (only by the lease holder);
6. ``user_delete_finished`` goes to the audit log.

If the process dies anywhere, ``resume_user_deletions`` (called by the purge job) takes
over users left ``deleting`` whose lease expired and runs steps 3–6 again, and closes a
``user_delete_started`` that has no ``user_delete_finished``: with ``ok`` when the user is
gone (the crash hit between 5 and 6), or with ``error`` when the user was never locked
(the crash hit between 1 and 2: nothing was deleted, the admin may simply try again).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext
from sqlalchemy import exists, select
from sqlalchemy.orm import aliased

from app.audit import service as audit
from app.audit.models import AuditEvent
from app.audit.service import SYSTEM, Context
from app.auth.sessions import end_sessions_of
from app.auth.tokens import delete_tokens_of
from app.core.db import end_read, utcnow
from app.core.errors import Conflict, NotFound
from app.core.extensions import db
from app.core.uow import unit_of_work
from app.images import counters
from app.images.erasure import BatchResult, claim_and_delete
from app.images.models import Image, with_trashed
from app.images.service import trash_rows
from app.installation import require_installation
from app.users.repository import User, UserRepository, get_users
from app.users.service import changed_meanwhile, ensure_not_last_admin

log = logging.getLogger(__name__)

STARTED, FINISHED = "user_delete_started", "user_delete_finished"
# How long a deletion may go without renewing its lease before the purge job takes over.
LEASE = timedelta(minutes=10)


@dataclass
class UserDeletion:
    user_id: str
    username: str
    finished: bool
    deleted: int = 0
    bytes_freed: int = 0
    errors: int = 0
    remaining: int = 0

    def as_dict(self) -> dict:
        return {"images_deleted": self.deleted, "bytes_freed": self.bytes_freed,
                "errors": self.errors, "remaining": self.remaining,
                "finished": self.finished}


def claim_id_for(user_id: str) -> str:
    return f"user:{user_id}"


def deletion_consequences(user_id: str) -> dict:
    """What deleting the user takes with it: images (trashed too), stored files, bytes.
    From the user's counters: one primary-key read however large the library."""
    totals = counters.owner_totals(str(user_id))
    return {"images": totals.count, "objects": totals.count * 2, "bytes": totals.bytes,
            "trash_items": totals.trashed_count}


def _remaining_images(user_id: str) -> int:
    """How many of the user's images are left: the counters, when a row is left at all.
    Whether one is (which decides if the deletion may finish) is asked of ``images``
    itself, one index probe, so that a counter off by some drift can never delete the
    account over rows nor keep it for none."""
    left = db.session.execute(
        with_trashed(select(Image.id).where(Image.owner_id == str(user_id)).limit(1))
    ).first()
    if left is None:
        return 0
    return max(counters.owner_totals(str(user_id)).count, 1)


def _lease_until(now: datetime) -> datetime:
    return max(now, utcnow()) + LEASE


# -- steps 1 and 2 -------------------------------------------------------------------------

def start_user_deletion(users: UserRepository, target: User, *, ctx: Context,
                        now: datetime) -> str:
    """Audit the intent, then lock the user as ``deleting``; return the lease id."""
    ensure_not_last_admin(users, target, "delete")
    audit.record(STARTED, "ok", ctx, target_type="user", target_id=target.id,
                 details={"username": target.username, **deletion_consequences(target.id)})
    lease = uuid.uuid4().hex
    with users.exclusive():  # no SQL in here (app.core.uow: the lock order)
        marked = users.update(
            target.id, {"status": {"$in": ["active", "inactive"]}, "version": target.version},
            {"status": "deleting", "deletion_lease": lease,
             "deletion_lease_until": _lease_until(now), "deletion_started_at": now,
             "deletion_started_by": ctx.actor_id},
        )
        current = users.get(target.id) if marked is None else None
        last_admin = (marked is not None and marked.role == "admin"
                      and users.count_active_admins() == 0)
        if last_admin:
            # Another admin was deactivated or deleted at the same moment: undo ours.
            users.update(target.id, {"status": "deleting", "deletion_lease": lease},
                         {"status": target.status, "deletion_lease": None,
                          "deletion_lease_until": None})
    if marked is None:
        _close(ctx, target, "conflict", reason="the user changed or went away meanwhile")
        if current is None:
            raise NotFound(gettext("No such user."))
        if current.status == "deleting":
            raise Conflict(gettext("%(name)s is already being deleted.", name=target.username),
                           code="deleting")
        raise changed_meanwhile(current)
    if last_admin:
        _close(ctx, target, "conflict", reason="last_admin")
        raise Conflict(gettext("%(name)s is the last active administrator and cannot be "
                               "deleted.", name=target.username), code="last_admin")
    return lease


def _close(ctx: Context, target: User, outcome: str, **details) -> None:
    audit.record(FINISHED, outcome, ctx, target_type="user", target_id=target.id,
                 details={"username": target.username, "completed": False, **details})


# -- steps 3 to 6 --------------------------------------------------------------------------

def finish_user_deletion(users: UserRepository, storage, user_id: str, lease: str, *,
                         ctx: Context, now: datetime, batch_size: int,
                         deadline: float | None = None,
                         clock: Callable[[], float] = time.monotonic,
                         may_continue: Callable[[], bool] | None = None,
                         resumed: bool = False) -> UserDeletion:
    """Remove the images, tokens and document of a user we hold the lease on.

    Stops early (``finished=False``, the user stays ``deleting``) when the object store
    fails, when rows are claimed by someone else, when the deadline passes, when
    ``may_continue()`` says no (the purge's deadline and lease) or when the lease was
    lost; the purge job finishes the rest.
    """
    doc = users.get_doc(user_id)
    username = doc["username"] if doc else ""
    result = UserDeletion(user_id=str(user_id), username=username, finished=False)
    if doc is None or doc.get("status") != "deleting" or doc.get("deletion_lease") != lease:
        return result
    _trash_active_images(user_id, actor_id=ctx.actor_id, now=now, deadline=deadline,
                         clock=clock)
    total = BatchResult()
    claim_id = claim_id_for(user_id)
    while True:
        # The first call also finishes rows a crashed run left claimed under this id.
        batch = claim_and_delete(Image.owner_id == str(user_id), storage=storage,
                                 claim_id=claim_id, now=now, batch_size=batch_size)
        total.add(batch)
        if batch.claimed == 0 or batch.errors:
            break
        if deadline is not None and clock() >= deadline:
            break
        if may_continue is not None and not may_continue():
            break
        if users.update(user_id, {"status": "deleting", "deletion_lease": lease},
                        {"deletion_lease_until": _lease_until(now)}) is None:
            break  # someone took over (our lease had expired): they finish it
    result.deleted, result.bytes_freed = total.deleted, total.bytes_freed
    result.errors = len(total.errors)
    result.remaining = _remaining_images(user_id)
    if result.remaining:
        log.warning("user deletion paused", extra={"user_id": user_id,
                                                  "remaining": result.remaining})
        return result
    with unit_of_work() as uow:
        delete_tokens_of(str(user_id))
        end_sessions_of(str(user_id))
        uow.commit()  # a step of the saga: no way in is left when the document goes
    if not users.delete(user_id, {"status": "deleting", "deletion_lease": lease}):
        return result
    result.finished = True
    audit.record(FINISHED, "ok", ctx, target_type="user", target_id=user_id,
                 details={"username": username, "resumed": resumed, **result.as_dict()})
    return result


PRE_TRASH_BATCH = 500


def _trash_active_images(user_id: str, *, actor_id: str | None, now: datetime,
                         deadline: float | None = None,
                         clock: Callable[[], float] = time.monotonic) -> None:
    """Move the user's active images to the trash, due now, in committed batches of 500
    (a step of the saga each); trashed rows keep their dates. Stops at ``deadline``: the
    batches that follow delete what is trashed, and the next run (the purge job) trashes
    the rest, as it finishes the deletion.
    """
    while True:
        with unit_of_work() as uow:
            batch = select(Image.id).where(Image.owner_id == str(user_id),
                                           Image.is_deleted.is_(False)).limit(PRE_TRASH_BATCH)
            trashed = trash_rows(Image.id.in_(batch.scalar_subquery()), deleted_by=actor_id,
                                 now=now, purge_after=now)
            uow.commit()
        if len(trashed) < PRE_TRASH_BATCH or (deadline is not None and clock() >= deadline):
            return


def delete_user_permanently(users: UserRepository, storage, target: User, *, ctx: Context,
                            now: datetime, batch_size: int, deadline: float | None = None,
                            clock: Callable[[], float] = time.monotonic) -> UserDeletion:
    """The whole saga, as a request runs it."""
    lease = start_user_deletion(users, target, ctx=ctx, now=now)
    return finish_user_deletion(users, storage, target.id, lease, ctx=ctx, now=now,
                                batch_size=batch_size, deadline=deadline, clock=clock)


# -- the purge job's part ------------------------------------------------------------------

def _always() -> bool:
    return True


def resume_user_deletions(storage, now: datetime, batch_size: int, *,
                          may_continue: Callable[[], bool] = _always) -> list[str]:
    """Finish users left ``deleting`` whose lease expired; close dangling audit starts.

    ``may_continue()`` is asked before each user and between batches: the purge passes
    its own, which checks the run's deadline and renews the purge lease. Returns the ids
    of the users whose deletion finished in this call.
    """
    require_installation()
    users = get_users()
    finished = []
    for user_id in users.ids_in_status("deleting"):
        if not may_continue():
            return finished
        lease = uuid.uuid4().hex
        taken = users.update(
            user_id,
            {"status": "deleting", "$or": [{"deletion_lease_until": {"$lte": now}},
                                           {"deletion_lease_until": None}]},
            {"deletion_lease": lease, "deletion_lease_until": _lease_until(now)},
        )
        if taken is None:
            continue  # a live request still holds it
        result = finish_user_deletion(users, storage, user_id, lease, ctx=SYSTEM, now=now,
                                      batch_size=batch_size, may_continue=may_continue,
                                      resumed=True)
        if result.finished:
            finished.append(user_id)
    if may_continue():
        _close_dangling_starts(users, cutoff=now - LEASE)
    return finished


def _close_dangling_starts(users: UserRepository, *, cutoff: datetime) -> None:
    finished = aliased(AuditEvent)
    rows = db.session.execute(
        select(AuditEvent.target_id).where(
            AuditEvent.action == STARTED, AuditEvent.at <= cutoff,
            ~exists(select(finished.id).where(finished.action == FINISHED,
                                              finished.target_id == AuditEvent.target_id,
                                              finished.id > AuditEvent.id)))
        .order_by(AuditEvent.id)
    ).scalars().all()
    end_read()
    for user_id in dict.fromkeys(rows):
        doc = users.get_doc(user_id)
        if doc is None:  # the crash came between deleting the user and this event
            audit.record(FINISHED, "ok", SYSTEM, target_type="user", target_id=user_id,
                         details={"resumed": True, "finished": True})
        elif doc.get("status") != "deleting":  # the crash came before the user was locked
            audit.record(FINISHED, "error", SYSTEM, target_type="user", target_id=user_id,
                         details={"username": doc.get("username"), "resumed": True,
                                  "completed": False,
                                  "reason": "interrupted before the account was locked; "
                                            "nothing was deleted"})
