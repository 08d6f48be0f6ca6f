"""API tokens: random, shown once, stored as SHA-256, expiring, revocable.

A token remembers the user's ``auth_epoch`` when it was issued; when the epoch moves
(deactivation, password change) the token is dead for good, even after a reactivation.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update

from app.auth.models import ApiToken
from app.core.events import TokensRevoked
from app.core.extensions import db
from app.core.uow import unit_of_work

PREFIX = "pap_"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user, *, ttl_hours: int, now: datetime) -> tuple[str, ApiToken]:
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, digest=digest(token), auth_epoch=user.auth_epoch,
                   created_at=now, expires_at=now + timedelta(hours=ttl_hours))
    with unit_of_work():
        db.session.add(row)
    return token, row


def find_live_token(token: str, now: datetime) -> ApiToken | None:
    """The live token row, detached: read with one Core SELECT on a connection of its own,
    so no transaction is left open behind it (an upload's storage calls run outside any)
    and the lookup every bearer request pays stays light."""
    table = ApiToken.__table__
    with db.engine.connect() as connection:
        found = connection.execute(select(table).where(table.c.digest == digest(token))).first()
    row = ApiToken(**found._mapping) if found is not None else None
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    return row


def revoke_token(token: str, now: datetime) -> bool:
    with unit_of_work() as uow:
        revoked = db.session.execute(
            update(ApiToken).where(ApiToken.digest == digest(token),
                                   ApiToken.revoked_at.is_(None))
            .values(revoked_at=now).returning(ApiToken.user_id)
        ).scalars().all()
        if revoked:
            uow.emit(TokensRevoked(revoked[0], len(revoked)))
    return len(revoked) == 1


def delete_tokens_of(user_id: str) -> None:
    with unit_of_work() as uow:
        result = db.session.execute(
            ApiToken.__table__.delete().where(ApiToken.user_id == user_id))
        if result.rowcount:
            uow.emit(TokensRevoked(user_id, result.rowcount))
