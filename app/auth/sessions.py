"""Server-side sign-in sessions, kept in SQL (table ``user_sessions``).

The signed cookie carries a random session id; the live sessions are rows here, stored
by the id's SHA-256 like API tokens. Signing out deletes the row, so a copy of the
cookie taken earlier is dead afterwards. A session ends after ``idle`` without a request
or ``absolute`` after sign-in, whichever comes first. It also carries the user's
``auth_epoch``: moving the epoch (deactivation, new password) still ends every session.

``last_seen_at`` is written at most once a minute per session, so signed-in reads stay
reads. Plain arguments in (times, lifetimes, ids), no request here.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update

from app.auth.models import UserSession
from app.core.events import SessionsEnded
from app.core.extensions import db
from app.core.uow import unit_of_work

# How stale ``last_seen_at`` may get before a request writes it again.
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Lifetimes:
    idle: timedelta
    absolute: timedelta

    def ends_at(self, created_at: datetime, last_seen_at: datetime) -> datetime:
        return min(created_at + self.absolute, last_seen_at + self.idle)


@dataclass(frozen=True)
class LiveSession:
    """What sign-in checks need of a row, detached from any database session."""

    id: uuid.UUID
    user_id: str
    auth_epoch: int
    created_at: datetime
    last_seen_at: datetime


def snapshot(row: UserSession) -> LiveSession:
    return LiveSession(row.id, row.user_id, row.auth_epoch, row.created_at, row.last_seen_at)


def digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(user, *, now: datetime, lifetimes: Lifetimes, ip: str | None,
                  user_agent: str | None) -> tuple[str, UserSession]:
    """A new session for ``user``: the random id for the cookie and its row.

    The user's dead rows (expired, or from an older epoch) are swept on the way.
    """
    session_id = secrets.token_urlsafe(32)
    row = UserSession(id=uuid.uuid4(), digest=digest(session_id), user_id=user.id,
                      auth_epoch=user.auth_epoch, created_at=now, last_seen_at=now,
                      expires_at=lifetimes.ends_at(now, now), ip=(ip or None) and ip[:64],
                      user_agent=(user_agent or None) and user_agent[:255])
    with unit_of_work() as uow:
        swept = db.session.execute(delete(UserSession).where(
            or_(UserSession.expires_at <= now,
                (UserSession.user_id == user.id) & (UserSession.auth_epoch != user.auth_epoch))))
        db.session.add(row)
        if swept.rowcount:
            uow.emit(SessionsEnded(None, swept.rowcount))
    return session_id, row


def find_live_session(session_id: str | None, *, now: datetime,
                      lifetimes: Lifetimes) -> UserSession | None:
    """The row behind a cookie's session id while it is within both lifetimes."""
    if not session_id or not isinstance(session_id, str):
        return None
    row = db.session.execute(
        select(UserSession).where(UserSession.digest == digest(session_id))
    ).scalar_one_or_none()
    if row is None or lifetimes.ends_at(row.created_at, row.last_seen_at) <= now:
        return None
    return row


def touch(row: UserSession | LiveSession, *, now: datetime, lifetimes: Lifetimes) -> None:
    """Record activity, at most once per ``TOUCH_EVERY``, in a short write of its own."""
    if now - row.last_seen_at < TOUCH_EVERY:
        return
    row_id, expires_at = row.id, lifetimes.ends_at(row.created_at, now)
    with unit_of_work():  # it only extends the session: no event
        db.session.execute(update(UserSession).where(UserSession.id == row_id)
                           .values(last_seen_at=now, expires_at=expires_at)
                           .execution_options(synchronize_session=False))


def sessions_of(user, *, now: datetime, lifetimes: Lifetimes) -> list[UserSession]:
    """The user's live sessions, most recently used first."""
    rows = db.session.execute(
        select(UserSession).where(UserSession.user_id == user.id,
                                  UserSession.auth_epoch == user.auth_epoch)
        .order_by(UserSession.last_seen_at.desc(), UserSession.created_at.desc())
    ).scalars().all()
    return [r for r in rows if lifetimes.ends_at(r.created_at, r.last_seen_at) > now]


def end_session(user_id: str, session_row_id: uuid.UUID) -> bool:
    """End one of ``user_id``'s sessions by its public id; False when it is not theirs."""
    with unit_of_work() as uow:
        result = db.session.execute(delete(UserSession).where(
            UserSession.id == session_row_id, UserSession.user_id == user_id))
        _ended(uow, user_id, result.rowcount)
    return result.rowcount == 1


def end_session_by_cookie(session_id: str | None) -> None:
    """Sign-out: the row behind this cookie's id is gone, whoever holds a copy."""
    if session_id and isinstance(session_id, str):
        with unit_of_work() as uow:
            result = db.session.execute(
                delete(UserSession).where(UserSession.digest == digest(session_id)))
            _ended(uow, None, result.rowcount)


def end_sessions_of(user_id: str, *, keep: uuid.UUID | None = None) -> int:
    """End every session of the user, except ``keep`` when given; how many ended."""
    query = delete(UserSession).where(UserSession.user_id == user_id)
    if keep is not None:
        query = query.where(UserSession.id != keep)
    with unit_of_work() as uow:
        result = db.session.execute(query)
        _ended(uow, user_id, result.rowcount)
    return result.rowcount


def _ended(uow, user_id: str | None, count: int) -> None:
    """Say so only when a row went: a sign-out of a gone session changes nothing."""
    if count:
        uow.emit(SessionsEnded(user_id, count))
