"""Reading the audit log back: filters, keyset pages, and a streaming iterator."""

from __future__ import annotations

from sqlalchemy import select

from app.audit.models import AuditEvent
from app.audit.service import format_time
from app.core.db import end_read
from app.core.extensions import db
from app.core.pagination import Page, decode_cursor, encode_cursor


def _filtered(actor=None, action=None, target=None):
    statement = select(AuditEvent)
    if actor:
        statement = statement.where(AuditEvent.actor_id == actor)
    if action:
        statement = statement.where(AuditEvent.action == action)
    if target:
        statement = statement.where(AuditEvent.target_id == target)
    return statement


def search_events(*, actor=None, action=None, target=None, limit: int,
                  cursor: str | None) -> Page:
    statement = _filtered(actor, action, target)
    if cursor:
        (before,) = decode_cursor(cursor, kinds=(int,))
        statement = statement.where(AuditEvent.id < before)
    rows = db.session.execute(statement.order_by(AuditEvent.id.desc()).limit(limit + 1)
                              ).scalars().all()
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return Page(rows[:limit], next_cursor)


def iter_events(*, actor=None, action=None, target=None, batch: int = 500):
    """Every matching event, newest first, read a batch at a time.

    Each batch is read in a short transaction of its own and detached, so a slow
    download holds no transaction open between batches (on SQLite, an open read would
    also keep the WAL from being checkpointed).
    """
    before = None
    while True:
        statement = _filtered(actor, action, target)
        if before is not None:
            statement = statement.where(AuditEvent.id < before)
        rows = db.session.execute(statement.order_by(AuditEvent.id.desc()).limit(batch)
                                  ).scalars().all()
        for row in rows:
            db.session.expunge(row)
        end_read()
        if not rows:
            return
        yield from rows
        before = rows[-1].id


def event_to_dict(event: AuditEvent) -> dict:
    return {
        "id": event.id,
        "at": format_time(event.at),
        "actor_id": event.actor_id,
        "actor_role": event.actor_role,
        "action": event.action,
        "outcome": event.outcome,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
        "details": event.details,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }
