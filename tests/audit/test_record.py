"""``audit.record`` writes an event of its own and never commits the caller's work
(issue 16 item 3: one place commits a change, the unit of work)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.audit.service import SYSTEM, commit_change, record
from app.auth.models import ApiToken
from app.core.db import utcnow
from app.core.extensions import db
from app.core.uow import unit_of_work


def _token(user_id: str) -> ApiToken:
    now = utcnow()
    return ApiToken(user_id=user_id, digest=f"d-{user_id}", auth_epoch=1, created_at=now,
                    expires_at=now)


def _count(model) -> int:
    value = db.session.execute(select(func.count()).select_from(model)).scalar_one()
    db.session.rollback()
    return value


def test_record_refuses_a_pending_orm_change_and_commits_nothing(app):
    with app.app_context():
        db.session.add(_token("u1"))
        with pytest.raises(RuntimeError, match="commit_change"):
            record("export", "ok", SYSTEM)
        db.session.rollback()
        assert _count(ApiToken) == 0 and _count(AuditEvent) == 0


def test_record_refuses_a_flushed_write_and_commits_nothing(app):
    with app.app_context():
        with pytest.raises(RuntimeError, match="commit_change"), unit_of_work():
            db.session.add(_token("u2"))
            db.session.flush()
            record("export", "ok", SYSTEM)
        assert _count(ApiToken) == 0 and _count(AuditEvent) == 0


def test_record_after_a_read_writes_its_event_alone(app):
    with app.app_context():
        assert _count(ApiToken) == 0
        db.session.execute(select(ApiToken)).all()  # a read transaction left open
        record("export", "ok", SYSTEM)
        assert _count(AuditEvent) == 1


def test_commit_change_commits_the_change_with_its_event(app):
    with app.app_context():
        with unit_of_work():
            db.session.add(_token("u3"))
            commit_change("token_issued", "ok", SYSTEM)
        assert _count(ApiToken) == 1 and _count(AuditEvent) == 1
