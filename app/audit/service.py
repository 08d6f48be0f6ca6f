"""Writing and verifying the audit hash chain (SPEC section 3).

``hash = sha256(prev_hash + canonical_json(event))``. Writers are serialised so that two
events never claim the same ``prev_hash``: on SQLite by the database's one write lock
(``begin_write``, see app.db: ``BEGIN IMMEDIATE`` before the chain is read), on
PostgreSQL by ``pg_advisory_xact_lock``. Both locks belong to the transaction that writes
the event, so an event can share the transaction of the change it records (``append``)
and both commit or roll back together.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from flask_babel import gettext
from sqlalchemy import select, text

from app.audit.models import AuditEvent, AuditHead
from app.core.db import begin_write, end_read, has_pending_writes, on_postgresql, utcnow
from app.core.errors import AuditUnavailable
from app.core.extensions import db

log = logging.getLogger(__name__)

GENESIS = "0" * 64
# An arbitrary constant: the advisory lock key for the audit chain on PostgreSQL.
CHAIN_LOCK_KEY = 0x5A1E_A0D1
HASHED_FIELDS = (
    "id", "at", "actor_id", "actor_role", "action", "outcome", "target_type", "target_id",
    "ip", "user_agent", "request_id", "details",
)


@dataclass(frozen=True)
class Context:
    """Who asked, from where: what a request (or the CLI, or the scheduler) knows."""

    actor_id: str | None = None
    actor_role: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


SYSTEM = Context(actor_id="system", actor_role="system")


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(event: AuditEvent) -> str:
    payload = {}
    for name in HASHED_FIELDS:
        value = getattr(event, name)
        payload[name] = format_time(value) if isinstance(value, datetime) else value
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def compute_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256((prev_hash + canonical(event)).encode()).hexdigest()


def _lock_chain(session) -> None:
    """Take the chain's lock inside the current transaction, held until it ends."""
    begin_write(session)
    if on_postgresql(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})


def append(action: str, outcome: str, ctx: Context, *, target_type: str | None = None,
           target_id=None, details: dict | None = None, now: datetime | None = None) -> AuditEvent:
    """Add one event to the chain inside the caller's transaction; the caller commits.

    The chain lock is taken here and held until that transaction ends, so the event and
    the change it records become visible together, or not at all.
    """
    session = db.session
    _lock_chain(session)
    at = now or utcnow()  # under the lock: event ids and times agree on order
    last = session.execute(
        select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    event = AuditEvent(
        id=(last.id + 1) if last else 1,
        at=at,
        actor_id=_fit("actor_id", ctx.actor_id),
        actor_role=_fit("actor_role", ctx.actor_role),
        action=_fit("action", action),
        outcome=_fit("outcome", outcome),
        target_type=_fit("target_type", target_type),
        target_id=_fit("target_id", target_id),
        ip=_fit("ip", ctx.ip),
        user_agent=(ctx.user_agent or None) and ctx.user_agent[:512],
        request_id=_fit("request_id", ctx.request_id),
        details=_jsonable(details or {}),
        prev_hash=last.hash if last else GENESIS,
    )
    event.hash = compute_hash(event.prev_hash, event)
    session.add(event)
    head = session.get(AuditHead, 1)
    if head is None:
        session.add(AuditHead(id=1, last_id=event.id, last_hash=event.hash))
    else:
        head.last_id, head.last_hash = event.id, event.hash
    session.flush()
    log.info("audit", extra={"action": action, "outcome": outcome, "target_id": event.target_id})
    return event


def commit_change(action: str, outcome: str, ctx: Context, **kwargs) -> AuditEvent:
    """Commit the caller's pending change together with the event that records it.

    If the event cannot be written, the change is rolled back with it and
    ``AuditUnavailable`` (503) is raised: no change without its event.
    """
    try:
        event = append(action, outcome, ctx, **kwargs)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("audit event %s/%s not written: the change is rolled back",
                      action, outcome)
        raise AuditUnavailable(gettext("The audit log cannot be written right now, so nothing "
                                       "was changed. Try again in a moment.")) from None
    return event


def record(action: str, outcome: str, ctx: Context, *, target_type: str | None = None,
           target_id=None, details: dict | None = None, now: datetime | None = None) -> AuditEvent:
    """Append one event to the chain in a transaction of its own, and commit it.

    For events that record no SQL change of their own (a refusal, a failure, the
    outcome of an action outside SQL). It never commits the caller's work: with a change
    pending it refuses (``RuntimeError``, a bug: that change commits with its event
    through ``commit_change``). A read-only transaction still open is ended first, so the
    audit lock is never held while waiting on anything else.
    """
    session = db.session
    if has_pending_writes(session):
        raise RuntimeError(f"audit.record({action!r}) with a change pending: commit the "
                           "change with its event (commit_change)")
    end_read(session)
    event = append(action, outcome, ctx, target_type=target_type, target_id=target_id,
                   details=details, now=now)
    session.commit()
    return event


def _fit(column: str, value) -> str | None:
    """Cut a value to its column's length: an over-long path segment or header is recorded
    (shortened, ending in "…"), never a failed insert that loses the event."""
    if value is None:
        return None
    value = str(value)
    limit = AuditEvent.__table__.c[column].type.length
    return value if len(value) <= limit else value[:limit - 1] + "…"


def _jsonable(value):
    """Round-trip through JSON so the stored value equals the hashed one."""
    return json.loads(json.dumps(value, default=str))


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    problems: list[str]


def chain_head() -> tuple[int, str] | None:
    """The newest event's id and hash: an anchor to keep outside the database."""
    head = db.session.get(AuditHead, 1)
    db.session.rollback()
    return (head.last_id, head.last_hash) if head is not None and head.last_id else None


def parse_anchor(text: str) -> tuple[int, str]:
    """``"<id>:<hash>"`` as ``flask audit head`` prints it and the logs carry it."""
    event_id, _, digest = text.strip().partition(":")
    if not event_id.isdigit() or len(digest) != 64 or not all(
            c in "0123456789abcdef" for c in digest):
        raise ValueError(f"not an anchor (<id>:<64 hex digits>): {text!r}")
    return int(event_id), digest


def verify_chain(batch_size: int = 1000,
                 anchors: dict[int, str] | None = None) -> VerifyResult:
    """Walk the chain in id order and report every break, reading in batches.

    The hashes are unkeyed: someone who can write the database can edit an event and
    recompute every later hash. ``anchors`` (event id -> hash, kept elsewhere: the logs'
    ``audit head`` lines or ``flask audit head``) catch that: a rewritten chain no longer
    passes through them."""
    anchors = dict(anchors or {})
    problems: list[str] = []
    prev_hash, expected_id, checked = GENESIS, 1, 0
    last_id = 0
    while True:
        rows = db.session.execute(
            select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id)
            .limit(batch_size)
        ).scalars().all()
        if not rows:
            break
        for event in rows:
            if event.id != expected_id:
                problems.append(f"events {expected_id}..{event.id - 1} are missing")
            if event.prev_hash != prev_hash:
                problems.append(f"event {event.id}: prev_hash does not match event {event.id - 1}")
            if compute_hash(event.prev_hash, event) != event.hash:
                problems.append(f"event {event.id}: contents do not match its hash")
            if event.id in anchors and anchors.pop(event.id) != event.hash:
                problems.append(f"event {event.id}: its hash differs from the anchor kept "
                                "outside the database: the chain was rewritten")
            prev_hash, expected_id, last_id = event.hash, event.id + 1, event.id
            checked += 1
        db.session.expunge_all()
    head = db.session.get(AuditHead, 1)
    if head is not None and (head.last_id, head.last_hash) != (last_id, prev_hash):
        problems.append(f"the chain ends at event {last_id} but event {head.last_id} was "
                        "written: the newest events were removed or altered")
    elif head is None and checked:
        problems.append("the chain's head record is missing")
    for event_id in sorted(anchors):
        problems.append(f"event {event_id} is anchored outside the database but is no "
                        "longer in the chain")
    db.session.rollback()
    return VerifyResult(ok=not problems, checked=checked, problems=problems)
