"""The purge: expired trash leaves the database and the object store, one run at a time.

``purge_expired`` is the one function behind the scheduler job, ``flask purge`` and
``DELETE /api/v1/admin/purge``. A run:

1. takes the SQL lease (``app.purge.lease``) or raises ``PurgeRunning``;
2. finishes claims nobody will finish: rows left ``purging`` by an earlier run (a run
   that does not hold the lease is dead or lost it), and other claims (empty trash,
   permanent delete, user deletion) older than ``PURGE_STALE_CLAIM_S``;
3. finishes users left ``deleting`` (``app.users.deletion``);
4. claims and deletes expired images, ``batch_size`` at a time, each batch with a claim
   id of its own (``purge:<run token>:<n>``) through ``app.images.erasure``;
5. sweeps images whose owner no longer exists: owners whose deletion is recorded (a
   ``user_delete_finished`` tombstone) at once, unknown owners into the trash with the
   normal retention; a sweep larger than ``PURGE_MAX_SWEEP_SHARE`` waits for an admin;
6. records the run (``purge_runs``) and its audit events, and lets the lease go.

Nothing runs while SQL and the user store are not one installation (app.installation).
Only one batch of rows is ever in memory. Between batches, user deletions' included, the
lease is renewed and the deadline checked. Every step leaves a state the next run
finishes: see app.images.erasure.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from flask import current_app
from flask_babel import gettext
from sqlalchemy import and_, func, literal_column, not_, or_, select, update

from app.audit import service as audit
from app.audit.models import AuditEvent
from app.core.db import distinct_values, end_read, utcnow
from app.core.errors import Conflict
from app.core.extensions import db
from app.core.uow import unit_of_work
from app.images.counters import global_totals
from app.images.erasure import (
    PARTIAL_CLAIM_PREFIX,
    BatchResult,
    claim,
    claimed_rows,
    delete_objects,
    delete_rows,
    reclaim,
)
from app.images.models import Image, with_trashed
from app.images.service import trash_rows
from app.images.totals import Totals
from app.installation import require_installation
from app.purge.lease import PURGE_LEASE, HeldLease, current_holder
from app.purge.models import MAX_ERROR_MESSAGES, PurgeRun
from app.storage import get_storage
from app.users.deletion import FINISHED as USER_DELETE_FINISHED
from app.users.deletion import resume_user_deletions
from app.users.repository import get_users

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"


class PurgeRunning(Conflict):
    code = "purge_running"


@dataclass
class PurgeReport:
    trigger: str
    dry_run: bool = False
    status: str = "finished"  # finished | stopped | failed | skipped | dry_run
    run_id: int | None = None
    claimed: int = 0
    deleted: int = 0
    bytes_freed: int = 0
    errors: int = 0
    remaining: int = 0
    users_resumed: int = 0
    orphans_deleted: int = 0
    orphans_trashed: int = 0
    error_messages: list[str] = field(default_factory=list)
    # Dry runs only: what a real run would take now.
    images: int = 0
    objects: int = 0
    bytes: int = 0

    def as_dict(self) -> dict:
        if self.dry_run:
            return {"dry_run": True, "images": self.images, "objects": self.objects,
                    "bytes": self.bytes, "remaining": self.remaining}
        return {"run_id": self.run_id, "status": self.status, "claimed": self.claimed,
                "deleted": self.deleted, "bytes_freed": self.bytes_freed,
                "errors": self.errors, "remaining": self.remaining,
                "users_resumed": self.users_resumed, "orphans_deleted": self.orphans_deleted,
                "orphans_trashed": self.orphans_trashed}


# -- what is due -----------------------------------------------------------------------

def due_condition(now: datetime, older_than_days: int | None = None):
    """Trashed images past their ``purge_after``; ``older_than`` only narrows the run."""
    condition = Image.purge_after <= now
    if older_than_days is not None:
        condition = and_(condition, Image.deleted_at <= now - timedelta(days=older_than_days))
    return condition


# Rows being purged; the literal (not a bound parameter) lets both planners use the
# partial index ``ix_images_purging``, which holds only the rows in flight.
PURGING = literal_column("'purging'")


def _pending_condition(now: datetime, older_than_days: int | None):
    """What a run would take: due rows, and rows already claimed that it finishes."""
    return and_(Image.is_deleted.is_(True),
                or_(due_condition(now, older_than_days), Image.purge_state == PURGING))


def _sums(condition) -> tuple[int, int, int, datetime | None]:
    """count, bytes, sum of versions and newest ``deleted_at`` of the rows matching."""
    count, size, versions, newest = db.session.execute(
        with_trashed(select(func.count(), func.coalesce(func.sum(Image.total_bytes), 0),
                            func.coalesce(func.sum(Image.version), 0),
                            func.max(Image.deleted_at)).select_from(Image).where(condition))
    ).one()
    return int(count), int(size), int(versions), newest


def pending_totals(now: datetime, older_than_days: int | None = None) -> Totals:
    """What the next run would delete, orphans aside.

    Two disjoint parts, each an index range, never an ``OR`` that would stop the range
    (scale review F2): due rows not yet claimed (``ix_images_purge``: ``is_deleted`` and
    ``purge_after <= now``), and rows in flight (the partial ``ix_images_purging``).
    The totals and the fingerprint are those of the one query they replace.
    """
    due = _sums(and_(Image.is_deleted.is_(True), due_condition(now, older_than_days),
                     Image.purge_state.is_(None)))
    # Only trashed rows are ever claimed, so no ``is_deleted`` term (SQLite would take
    # it to ``ix_images_purge`` and read the whole trash).
    flying = _sums(Image.purge_state == PURGING)
    end_read()
    count, size, versions = (due[i] + flying[i] for i in range(3))
    newest = max((t for t in (due[3], flying[3]) if t is not None), default=None)
    # The fingerprint as app.images.totals makes it from the one aggregate.
    digest = hashlib.sha256(f"{count}:{size}:{versions}:{newest}".encode()).hexdigest()[:16]
    return Totals(count, size, digest)


def pending_stats(now: datetime, older_than_days: int | None = None) -> tuple[int, int]:
    """(images, bytes) the next run would delete, orphans aside."""
    totals = pending_totals(now, older_than_days)
    return totals.count, totals.bytes


def trash_total() -> int:
    """Trashed images, those being purged included: the per-owner counters' sum (one row
    per owner, app.images.counters), not a count of the trash."""
    count = global_totals().trashed_count
    end_read()
    return int(count)


def pending_items(now: datetime, limit: int = 20) -> list[Image]:
    """The first items due, oldest deadline first: the first ``limit`` due rows (index
    ``(is_deleted, purge_after)``) and rows in flight (``ix_images_purging``), merged."""
    items = []
    for condition in (and_(Image.is_deleted.is_(True), due_condition(now),
                           Image.purge_state.is_(None)),
                      Image.purge_state == PURGING):
        items.extend(db.session.execute(
            with_trashed(select(Image).where(condition)
                         .order_by(Image.purge_after, Image.id).limit(limit))
        ).scalars())
    end_read()
    return sorted(items, key=lambda i: (i.purge_after is None, i.purge_after, str(i.id)))[:limit]


def _abandoned_condition(own_token: str, stale_before: datetime):
    """Claims nobody will finish: other purge runs' (we hold the lease, so they are dead),
    rows partly deleted and handed over (``PARTIAL_CLAIM_PREFIX``), and any other claim
    older than the stale limit. Only rows in flight: the partial index
    ``ix_images_purging``, so a run with nothing claimed reads no row (scale review F2)."""
    return and_(
        Image.purge_state == PURGING,
        not_(Image.claim_id.like(f"purge:{own_token}:%")),
        or_(Image.claim_id.like("purge:%"), Image.claim_id.like(f"{PARTIAL_CLAIM_PREFIX}%"),
            Image.claimed_at < stale_before),
    )


# -- owners that no longer exist -------------------------------------------------------

def _owner_ids_in_images() -> list[str]:
    """Distinct owners by a loose index scan: one probe of ``ix_images_gallery`` per
    owner, no image row read (``SELECT DISTINCT`` reads them all on PostgreSQL)."""
    owners = distinct_values(Image.__table__.c.owner_id)
    end_read()
    return owners


def _image_count() -> int:
    count = global_totals().count
    end_read()
    return int(count)


@dataclass
class Orphans:
    """Owners of images who are no longer users, and what sweeping them would touch."""

    owners: int = 0  # distinct owners of images
    deleted: list[str] = field(default_factory=list)  # with a tombstone: swept at once
    unknown: dict[str, int] = field(default_factory=dict)  # no tombstone: active images

    @property
    def unknown_images(self) -> int:
        return sum(self.unknown.values())

    @cached_property
    def images(self) -> int:
        """Images in SQL, trashed ones included. Counted only when asked, that is when
        there are unknown owners to weigh: a normal run counts no rows."""
        return _image_count()

    def too_many(self, share: float) -> str | None:
        """Why trashing the unknown owners' images is too much for one run, or None."""
        if not self.unknown:
            return None
        owners_share = len(self.unknown) / max(self.owners, 1)
        images_share = self.unknown_images / max(self.images, 1)
        if owners_share <= share and images_share <= share:
            return None
        return (f"the orphan sweep would move {self.unknown_images} image(s) of "
                f"{len(self.unknown)} owner(s) unknown to the user store to the trash "
                f"({owners_share:.0%} of {self.owners} owners, {images_share:.0%} of "
                f"{self.images} images), more than PURGE_MAX_SWEEP_SHARE={share:g}; check "
                "MONGO_URI, then run `flask purge --allow-mass-sweep` if they are really gone")


def _tombstoned(owners: list[str]) -> set[str]:
    """Owners whose deletion finished: a ``user_delete_finished`` event with outcome ok."""
    found: set[str] = set()
    for start in range(0, len(owners), 500):
        found.update(db.session.execute(
            select(AuditEvent.target_id).where(
                AuditEvent.action == USER_DELETE_FINISHED, AuditEvent.outcome == "ok",
                AuditEvent.target_type == "user",
                AuditEvent.target_id.in_(owners[start:start + 500]))
        ).scalars())
    end_read()
    return found


def _active_counts(owners: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for start in range(0, len(owners), 500):
        counts.update(db.session.execute(
            with_trashed(select(Image.owner_id, func.count())
                         .where(Image.owner_id.in_(owners[start:start + 500]),
                                Image.is_deleted.is_(False))
                         .group_by(Image.owner_id))
        ).all())
    end_read()
    return {owner: int(n) for owner, n in counts.items() if n}


def find_orphans() -> Orphans:
    """Owners of images who are no longer users, split by whether their deletion is recorded.

    Images are read before users, so a user created in between (who cannot own images
    yet) is never mistaken for a missing one. An empty user store means a misconfigured
    or unreachable one, never "everyone is gone": then nothing is swept.
    """
    owners = _owner_ids_in_images()
    if not owners:
        return Orphans()
    known = get_users().all_ids()
    if not known:
        log.warning("the user store has no users: skipping the orphan sweep")
        return Orphans()
    missing = [owner for owner in owners if owner not in known]
    tombstoned = _tombstoned(missing)
    unknown = [owner for owner in missing if owner not in tombstoned]
    return Orphans(owners=len(owners),
                   deleted=[owner for owner in missing if owner in tombstoned],
                   unknown=_active_counts(unknown))


def orphan_owner_ids() -> list[str]:
    """Owners whose images the purge deletes at once: deleted users (with a tombstone)."""
    return find_orphans().deleted


def _orphan_stats(owners: list[str]) -> tuple[int, int]:
    if not owners:
        return 0, 0
    count = size = 0
    for start in range(0, len(owners), 500):
        row = db.session.execute(
            with_trashed(select(func.count(Image.id),
                                func.coalesce(func.sum(Image.total_bytes), 0))
                         .where(Image.owner_id.in_(owners[start:start + 500]),
                                Image.purge_state.is_(None)))
        ).one()
        count, size = count + int(row[0]), size + int(row[1])
    end_read()
    return count, size


# -- crash-test seam -------------------------------------------------------------------

_checkpoint_hits: dict[str, int] = {}


def checkpoint(name: str) -> None:
    """Pause at a named point when the crash tests say so; inert otherwise.

    Only when both ``PAPELERA_PURGE_PAUSE_AT`` (``name`` or ``name:n``, the n-th time
    the point is reached) and ``PAPELERA_PURGE_PAUSE_FILE`` (the marker the test waits
    for before its SIGKILL) are set, and for at most ``PAPELERA_PURGE_PAUSE_MAX_S``
    (default 300) seconds: a variable leaked into a web worker's environment cannot hold
    a purge, its lease and its connection for good.
    """
    wanted = os.environ.get("PAPELERA_PURGE_PAUSE_AT")
    marker = os.environ.get("PAPELERA_PURGE_PAUSE_FILE")
    if not wanted or not marker:
        return
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    _checkpoint_hits[name] = _checkpoint_hits.get(name, 0) + 1
    if _checkpoint_hits[name] != int(nth or 1):
        return
    with open(marker, "w") as handle:
        handle.write(f"{os.getpid()} {name}\n")
    limit = float(os.environ.get("PAPELERA_PURGE_PAUSE_MAX_S") or 300)
    log.warning("purge paused at %s for at most %g s (crash-test seam)", name, limit)
    time.sleep(limit)  # the crash test kills the process long before


# -- the run ---------------------------------------------------------------------------

class _Run:
    """Book-keeping for one run: counters, the run row, the audit events."""

    def __init__(self, row: PurgeRun, lease: HeldLease, report: PurgeReport, *, storage,
                 batch_size: int, deadline: float | None, ctx: audit.Context,
                 progress: Callable[[int, int], None] | None, total: int,
                 clock: Callable[[], float] = time.monotonic):
        self.row, self.lease, self.report = row, lease, report
        self.storage, self.batch_size, self.deadline, self.ctx = storage, batch_size, deadline, ctx
        self.clock = clock
        self.progress, self.total = progress, total
        self.batches = 0
        self.stop_reason: str | None = None
        # One worker deletes objects while this thread does the SQL of the batches
        # around it. The worker never touches a database session.
        self.objects = ThreadPoolExecutor(max_workers=1, thread_name_prefix="purge-objects")

    def next_claim_id(self) -> str:
        self.batches += 1
        return f"purge:{self.row.token}:{self.batches}"

    def may_continue(self) -> bool:
        if self.stop_reason:
            return False
        if self.deadline is not None and self.clock() >= self.deadline:
            self.stop_reason = "time budget used up"
        elif not self.lease.renew():
            self.stop_reason = "lease lost to another holder"
        return self.stop_reason is None

    def take_batch(self, take: Callable[[str], int]) -> tuple[str, list] | None:
        """Claim the next batch with ``take(claim_id)`` and read its rows; None when done."""
        if not self.may_continue():
            return None
        claim_id = self.next_claim_id()
        if take(claim_id) == 0:
            return None
        checkpoint("claimed")
        rows = claimed_rows(claim_id)
        return (claim_id, rows) if rows else None

    def count(self, result: BatchResult, claim_id: str, phase: str) -> None:
        report = self.report
        report.claimed += result.claimed
        report.deleted += result.deleted
        report.bytes_freed += result.bytes_freed
        report.errors += len(result.errors)
        for image_id, problem in result.errors.items():
            if len(report.error_messages) < MAX_ERROR_MESSAGES:
                report.error_messages.append(f"image {image_id}: {problem}")
        self.save()
        if result.claimed:
            audit.record("purge_batch", "error" if result.errors else "ok", self.ctx,
                         target_type="purge_run", target_id=self.row.id,
                         details={"claim_id": claim_id, "phase": phase,
                                  "claimed": result.claimed, "deleted": result.deleted,
                                  "bytes_freed": result.bytes_freed,
                                  "errors": len(result.errors)})
        if self.progress is not None:
            self.progress(report.claimed, max(self.total, report.claimed))

    def note_error(self, message: str) -> None:
        self.report.errors += 1
        if len(self.report.error_messages) < MAX_ERROR_MESSAGES:
            self.report.error_messages.append(message)
        self.save()

    def save(self) -> None:
        """Write the counters to the run row, so a killed run still tells what it did."""
        report = self.report
        with unit_of_work() as uow:
            db.session.execute(
                update(PurgeRun).where(PurgeRun.id == self.row.id)
                .values(claimed=report.claimed, deleted=report.deleted,
                        bytes_freed=report.bytes_freed, errors=report.errors,
                        error_messages=list(report.error_messages))
            )
            uow.commit()


def purge_expired(now: datetime | None = None, *, storage=None, batch_size: int | None = None,
                  older_than_days: int | None = None, dry_run: bool = False,
                  trigger: str = "cli", deadline: float | None = None,
                  progress: Callable[[int, int], None] | None = None,
                  ctx: audit.Context = audit.SYSTEM, audit_run: bool = True,
                  skip_if_started_since: datetime | None = None,
                  allow_mass_sweep: bool = False,
                  clock: Callable[[], float] = time.monotonic,
                  pending: Totals | None = None) -> PurgeReport:
    """Purge what has expired at ``now``; see the module docstring for the steps.

    ``deadline`` is a ``clock()`` value (``time.monotonic`` by default) after which no
    new batch starts, user deletions' batches included.
    ``progress(done, total)`` is called after every batch. ``audit_run=False`` leaves the
    ``purge_run`` audit event to the caller (the API's ``@delete_endpoint`` writes it).
    ``skip_if_started_since``: the scheduler's guard against running twice for one slot
    when several workers fire a moment apart. ``allow_mass_sweep``: an admin's yes to an
    orphan sweep above ``PURGE_MAX_SWEEP_SHARE``. Raises ``PurgeRunning`` when another
    run holds the lease, ``InstallationMismatch`` when SQL and the user store disagree.
    ``pending``: with ``dry_run``, the ``pending_totals`` the caller already read at
    ``now`` (the API's confirmation snapshot), so a dry run counts the due rows once.
    """
    require_installation()
    config = current_app.config
    now = now or utcnow()
    if storage is None:
        storage = get_storage()
    batch_size = batch_size or config["PURGE_BATCH_SIZE"]
    report = PurgeReport(trigger=trigger, dry_run=dry_run)

    if dry_run:
        return _dry_run(report, pending or pending_totals(now, older_than_days))

    lease = HeldLease.try_take(PURGE_LEASE, ttl_s=config["PURGE_LEASE_TTL_S"])
    if lease is None:
        raise _already_running()
    try:
        if skip_if_started_since is not None and _started_since(trigger, skip_if_started_since):
            report.status = "skipped"
            return report
        return _run(report, lease, now=now, storage=storage, batch_size=batch_size,
                    older_than_days=older_than_days, deadline=deadline, progress=progress,
                    ctx=ctx, audit_run=audit_run, allow_mass_sweep=allow_mass_sweep,
                    clock=clock)
    finally:
        lease.release()


def _already_running() -> PurgeRunning:
    holder = current_holder(PURGE_LEASE, now=utcnow())
    extra = {}
    if holder is not None:
        extra = {"holder": holder.holder, "since": audit.format_time(holder.acquired_at)}
    return PurgeRunning(gettext("A purge is already running; try again when it has finished."),
                        **extra)


def _started_since(trigger: str, since: datetime) -> bool:
    found = db.session.execute(
        select(PurgeRun.id).where(PurgeRun.trigger == trigger, PurgeRun.started_at >= since)
        .limit(1)
    ).first()
    end_read()
    return found is not None


def _dry_run(report: PurgeReport, pending: Totals) -> PurgeReport:
    images, size = pending.count, pending.bytes
    orphans, orphan_bytes = _orphan_stats(orphan_owner_ids())
    report.status = "dry_run"
    report.images = images + orphans
    report.objects = 2 * report.images
    report.bytes = size + orphan_bytes
    report.remaining = images
    return report


def _run(report: PurgeReport, lease: HeldLease, *, now, storage, batch_size, older_than_days,
         deadline, progress, ctx, audit_run, allow_mass_sweep, clock) -> PurgeReport:
    config = current_app.config
    started = utcnow()
    row = PurgeRun(token=secrets.token_hex(8), trigger=report.trigger, holder=lease.holder,
                   status="running", started_at=started, older_than_days=older_than_days,
                   error_messages=[])
    with unit_of_work() as uow:
        db.session.add(row)
        uow.commit()
        report.run_id = row.id
        # We hold the lease, so any other run still marked running was killed.
        db.session.execute(update(PurgeRun).where(PurgeRun.status == "running",
                                                  PurgeRun.id != row.id)
                           .values(status="interrupted"))
        uow.commit()
    checkpoint("run_started")
    total, _ = pending_stats(now, older_than_days)
    run = _Run(row, lease, report, storage=storage, batch_size=batch_size, deadline=deadline,
               ctx=ctx, progress=progress, total=total, clock=clock)
    if progress is not None:
        progress(0, total)
    stale_s = config["PURGE_STALE_CLAIM_S"]
    try:
        _finish_abandoned(run, stale_before=utcnow() - timedelta(seconds=stale_s))
        _finish_user_deletions(run)
        _purge_due(run, due_condition(now, older_than_days))
        if older_than_days is None:  # a narrowed run stays narrow
            _sweep_orphans(run, now, allow_mass_sweep=allow_mass_sweep)
        report.status = "stopped" if run.stop_reason else "finished"
        if run.stop_reason:
            report.error_messages.append(f"stopped: {run.stop_reason}")
    except Exception as exc:
        db.session.rollback()
        log.exception("purge run %s failed", row.id)
        report.status = "failed"
        report.error_messages.append(f"failed: {type(exc).__name__}: {exc}"[:500])
        report.errors += 1
    finally:
        run.objects.shutdown(wait=True)
    report.remaining = pending_stats(now, older_than_days)[0]
    checkpoint("run_finished")
    run.save()
    with unit_of_work() as uow:
        db.session.execute(update(PurgeRun).where(PurgeRun.id == row.id)
                           .values(status=report.status, finished_at=utcnow(),
                                   remaining=report.remaining))
        uow.commit()
    if audit_run:
        outcome = "ok" if report.status in ("finished", "stopped") else "error"
        audit.record("purge_run", outcome, ctx, target_type="purge_run", target_id=row.id,
                     details={"trigger": report.trigger, **report.as_dict()})
    log.info("purge run finished", extra={"run_id": row.id, **report.as_dict()})
    return report


def _pipeline(run: _Run, take: Callable[[str], int], phase: str) -> None:
    """Claim and delete batch after batch, the object store never waiting on SQL.

    While the worker deletes batch k's objects, this thread claims batch k+1 and reads
    its rows; once k's objects are gone, k+1's deletion starts at once and this thread
    deletes k's rows, writes its audit event and renews the lease. Every transaction is
    short and committed before anything waits on the store; a row is only deleted after
    its own objects are.
    """
    current = run.take_batch(take)
    if current is None:
        return
    pending = run.objects.submit(delete_objects, run.storage, current[1], current[0])
    while current is not None:
        upcoming = run.take_batch(take)
        failed = pending.result()
        checkpoint("objects_deleted")
        if upcoming is not None:
            pending = run.objects.submit(delete_objects, run.storage, upcoming[1], upcoming[0])
        result = delete_rows(current[0], current[1], failed)
        checkpoint("rows_deleted")
        run.count(result, current[0], phase)
        if result.claimed and not result.deleted:
            run.stop_reason = "the object store failed a whole batch"
        if phase == "orphans":
            run.report.orphans_deleted += result.deleted
        current = upcoming


def _finish_abandoned(run: _Run, *, stale_before: datetime) -> None:
    condition = _abandoned_condition(run.row.token, stale_before)
    _pipeline(run, lambda claim_id: reclaim(condition, claim_id=claim_id, now=utcnow(),
                                            limit=run.batch_size), "abandoned")


def _finish_user_deletions(run: _Run) -> None:
    if not run.may_continue():
        return
    try:
        # The wall clock, not the run's ``now``: user deletions hold leases in real time.
        # ``may_continue`` checks the run's deadline and renews its lease between batches.
        resumed = resume_user_deletions(run.storage, utcnow(), run.batch_size,
                                        may_continue=run.may_continue)
    except Exception as exc:
        db.session.rollback()
        log.exception("finishing user deletions failed")
        run.note_error(f"user deletions: {type(exc).__name__}: {exc}"[:500])
        return
    run.report.users_resumed += len(resumed)


def _purge_due(run: _Run, condition) -> None:
    _pipeline(run, lambda claim_id: claim(condition, claim_id=claim_id, now=utcnow(),
                                          limit=run.batch_size), "expired")


def _sweep_orphans(run: _Run, now: datetime, *, allow_mass_sweep: bool) -> None:
    if not run.may_continue():
        return
    try:
        orphans = find_orphans()
    except Exception as exc:  # the user store is down: the sweep waits for the next run
        db.session.rollback()
        run.note_error(f"orphan sweep skipped: {type(exc).__name__}: {exc}"[:500])
        return
    config = current_app.config
    too_many = orphans.too_many(config["PURGE_MAX_SWEEP_SHARE"])
    if too_many and not allow_mass_sweep:
        # A forgotten MONGO_URI looks like this: everyone unknown. Nothing is touched.
        run.stop_reason = too_many
        log.error("orphan sweep stopped: %s", too_many)
        audit.record("orphan_sweep", "refused", run.ctx, target_type="purge_run",
                     target_id=run.row.id,
                     details={"reason": too_many, "unknown_owners": len(orphans.unknown),
                              "images": orphans.unknown_images, "owners": orphans.owners})
        return
    if orphans.unknown:
        # Nobody proved these owners gone: the trash, with its normal retention, so a
        # user store that comes back finds its images restorable.
        purge_after = now + timedelta(days=config["TRASH_RETENTION_DAYS"])
        for owner_id in orphans.unknown:
            moved = trash_rows(Image.owner_id == owner_id, deleted_by=SYSTEM_ACTOR, now=now,
                               purge_after=purge_after)
            run.report.orphans_trashed += len(moved)
        audit.record("orphan_sweep", "ok", run.ctx, target_type="purge_run",
                     target_id=run.row.id,
                     details={"trashed": run.report.orphans_trashed,
                              "owners": sorted(orphans.unknown)[:50],
                              "purge_after": audit.format_time(purge_after),
                              "mass_sweep_allowed": bool(too_many)})
    for owner_id in orphans.deleted:
        # Their deletion is recorded: nobody can restore these any more. Due at once.
        trash_rows(Image.owner_id == owner_id, deleted_by=SYSTEM_ACTOR, now=now, purge_after=now)
        condition = Image.owner_id == owner_id
        _pipeline(run, lambda claim_id, condition=condition: claim(
            condition, claim_id=claim_id, now=utcnow(), limit=run.batch_size), "orphans")


# -- reading runs ----------------------------------------------------------------------

def last_run() -> PurgeRun | None:
    row = db.session.execute(
        select(PurgeRun).order_by(PurgeRun.id.desc()).limit(1)
    ).scalar_one_or_none()
    end_read()
    return row


def list_runs(*, limit: int, before_id: int | None = None) -> tuple[list[PurgeRun], bool]:
    """Runs newest first, ``limit`` of them after the cursor; and whether more exist."""
    statement = select(PurgeRun).order_by(PurgeRun.id.desc()).limit(limit + 1)
    if before_id is not None:
        statement = statement.where(PurgeRun.id < before_id)
    rows = db.session.execute(statement).scalars().all()
    end_read()
    return list(rows[:limit]), len(rows) > limit


def is_running(now: datetime | None = None) -> bool:
    return current_holder(PURGE_LEASE, now=now or utcnow()) is not None
