"""Permanent user deletion, interrupted at each step and finished by the purge job's hook.

Runs on every SQL engine: the claim differs between SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.audit import service as audit_service
from app.audit.models import AuditEvent
from app.audit.service import Context
from app.auth.models import ApiToken
from app.core.db import utcnow
from app.core.extensions import db
from app.images import erasure
from app.images.models import Image, with_trashed
from app.storage import get_storage
from app.users import deletion
from app.users.deletion import (
    FINISHED,
    LEASE,
    STARTED,
    delete_user_permanently,
    resume_user_deletions,
)
from app.users.repository import get_users
from tests.helpers import object_files

YES = {"X-Confirm-Delete": "yes"}


class Crash(Exception):
    """The process dying at this point."""


@pytest.fixture
def victim(app, make_user, api_for, admin_api):
    """A user with three images (one in the trash) and a live token; the admin has one."""
    user = make_user("victim")
    api = api_for(user)
    ids = [api.upload().get_json()["id"] for _ in range(3)]
    api.delete(f"/api/v1/images/{ids[0]}", headers=YES)
    admin_api.upload()
    return user


def run_saga(app, user, batch_size=1):
    with app.app_context():
        users = get_users()
        founder = users.by_username("founder")
        return delete_user_permanently(
            users, get_storage(), users.get(user.id),
            ctx=Context(actor_id=founder.id, actor_role="admin"), now=utcnow(),
            batch_size=batch_size)


def resume(app, later=True):
    with app.app_context():
        now = utcnow() + (2 * LEASE if later else timedelta(0))
        return resume_user_deletions(get_storage(), now, 2)


def events(app, user):
    with app.app_context():
        return db.session.execute(
            select(AuditEvent.action, AuditEvent.outcome)
            .where(AuditEvent.target_id == user.id,
                   AuditEvent.action.in_([STARTED, FINISHED])).order_by(AuditEvent.id)).all()


def state(app, user, tmp_path):
    with app.app_context():
        rows = db.session.execute(with_trashed(
            select(Image).where(Image.owner_id == user.id))).scalars().all()
        tokens = db.session.execute(select(ApiToken).where(
            ApiToken.user_id == user.id)).scalars().all()
        doc = get_users().get_doc(user.id)
    return {"doc": doc, "rows": len(rows), "tokens": len(tokens),
            "files": len(object_files(tmp_path))}


def assert_gone(app, user, tmp_path):
    now = state(app, user, tmp_path)
    assert (now["doc"], now["rows"], now["tokens"]) == (None, 0, 0)
    assert now["files"] == 2  # the admin's original and thumbnail only
    assert [tuple(e) for e in events(app, user)] == [(STARTED, "ok"), (FINISHED, "ok")]


def fail_audit(monkeypatch, action):
    real = audit_service.record

    def record(name, *args, **kwargs):
        if name == action:
            raise Crash(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(deletion.audit, "record", record)


def fail_repo(monkeypatch, app, method, when=lambda *a, **k: True):
    with app.app_context():
        users = get_users()
    real = getattr(users, method)

    def broken(*args, **kwargs):
        if when(*args, **kwargs):
            raise Crash(method)
        return real(*args, **kwargs)

    monkeypatch.setattr(users, method, broken)


def fail_batches(monkeypatch, after: int, claim_first=False):
    """Let ``after`` batches through, then die (optionally right after claiming)."""
    real = deletion.claim_and_delete
    calls = {"n": 0}

    def broken(condition, *, storage, claim_id, now, batch_size):
        calls["n"] += 1
        if calls["n"] > after:
            if claim_first:
                erasure.claim(condition, claim_id=claim_id, now=now, limit=batch_size)
            raise Crash("batch")
        return real(condition, storage=storage, claim_id=claim_id, now=now,
                    batch_size=batch_size)

    monkeypatch.setattr(deletion, "claim_and_delete", broken)


def test_the_saga_uninterrupted(app, victim, tmp_path):
    result = run_saga(app, victim)
    assert result.finished and result.deleted == 3 and result.bytes_freed > 0
    assert_gone(app, victim, tmp_path)
    assert resume(app) == []


@pytest.mark.parametrize("step", [
    "trash_active_images", "first_batch", "between_claim_and_delete", "second_batch",
    "tokens", "user_document", "audit_finished",
])
def test_interrupted_after_the_lock_the_purge_job_finishes_it(app, victim, tmp_path,
                                                               monkeypatch, step):
    if step == "trash_active_images":
        monkeypatch.setattr(deletion, "_trash_active_images",
                            lambda *a, **k: (_ for _ in ()).throw(Crash(step)))
    elif step == "first_batch":
        fail_batches(monkeypatch, after=0)
    elif step == "between_claim_and_delete":
        fail_batches(monkeypatch, after=1, claim_first=True)
    elif step == "second_batch":
        fail_batches(monkeypatch, after=1)
    elif step == "tokens":
        monkeypatch.setattr(deletion, "delete_tokens_of",
                            lambda *a: (_ for _ in ()).throw(Crash(step)))
    elif step == "user_document":
        fail_repo(monkeypatch, app, "delete")
    elif step == "audit_finished":
        fail_audit(monkeypatch, FINISHED)
    with pytest.raises(Crash):
        run_saga(app, victim)
    monkeypatch.undo()
    with app.app_context():
        db.session.rollback()
    crashed = state(app, victim, tmp_path)
    if step != "audit_finished":
        assert crashed["doc"]["status"] == "deleting"
        # Locked: no sign-in, and a live lease keeps the purge job's hands off for now.
        login = app.test_client().post("/api/v1/auth/token",
                                       json={"username": "victim", "password": "x" * 10})
        assert login.status_code == 401
        assert resume(app, later=False) == []
        assert state(app, victim, tmp_path)["doc"]["status"] == "deleting"
    finished = resume(app)
    assert finished == ([] if step == "audit_finished" else [victim.id])
    assert_gone(app, victim, tmp_path)
    assert resume(app) == []  # nothing left to do, nothing written twice
    assert_gone(app, victim, tmp_path)


@pytest.mark.parametrize("step", ["audit_started", "mark_deleting"])
def test_interrupted_before_the_lock_nothing_is_deleted(app, victim, tmp_path, monkeypatch,
                                                        step):
    before = state(app, victim, tmp_path)
    if step == "audit_started":
        fail_audit(monkeypatch, STARTED)
    else:
        fail_repo(monkeypatch, app, "update",
                  lambda user_id, expect, changes, **k: changes.get("status") == "deleting")
    with pytest.raises(Crash):
        run_saga(app, victim)
    monkeypatch.undo()
    with app.app_context():
        db.session.rollback()
    assert state(app, victim, tmp_path) == before
    assert before["doc"]["status"] == "active"
    assert resume(app) == []
    # A started deletion that never locked the user is closed as not completed.
    expected = [] if step == "audit_started" else [(STARTED, "ok"), (FINISHED, "error")]
    assert [tuple(e) for e in events(app, victim)] == expected
    assert state(app, victim, tmp_path) == before
    # The admin tries again, and this time it goes through.
    assert run_saga(app, victim).finished
    assert state(app, victim, tmp_path)["doc"] is None
    assert [tuple(e) for e in events(app, victim)][-2:] == [(STARTED, "ok"), (FINISHED, "ok")]


def test_storage_failure_pauses_and_the_purge_job_finishes(app, victim, tmp_path,
                                                           monkeypatch):
    with app.app_context():
        storage = get_storage()
    monkeypatch.setattr(storage, "delete_many", lambda keys: {k: "unreachable" for k in keys})
    result = run_saga(app, victim, batch_size=10)
    assert not result.finished and result.errors == 3 and result.remaining == 3
    assert state(app, victim, tmp_path)["doc"]["status"] == "deleting"
    monkeypatch.undo()
    assert resume(app) == [victim.id]
    assert_gone(app, victim, tmp_path)


def test_an_interrupted_request_answers_500_and_is_finished_later(app, victim, admin_api,
                                                                  tmp_path, monkeypatch):
    monkeypatch.setattr(deletion, "delete_tokens_of",
                        lambda *a: (_ for _ in ()).throw(RuntimeError("boom")))
    response = admin_api.delete(f"/api/v1/users/{victim.id}?permanent=true&force=true",
                                headers={"X-Confirm-Delete": "victim"})
    assert response.status_code == 500 and response.get_json()["code"] == "internal_error"
    monkeypatch.undo()
    restore = admin_api.patch(f"/api/v1/users/{victim.id}/activate")
    assert restore.status_code == 409 and restore.get_json()["code"] == "deleting"
    assert resume(app) == [victim.id]
    assert_gone(app, victim, tmp_path)


def test_the_purge_run_itself_finishes_an_interrupted_deletion(app, victim, tmp_path,
                                                               monkeypatch):
    """Not the resume function alone: the purge job as the scheduler and the CLI run it."""
    from app.purge.service import purge_expired

    monkeypatch.setattr(deletion, "delete_tokens_of",
                        lambda *a: (_ for _ in ()).throw(Crash("tokens")))
    with pytest.raises(Crash):
        run_saga(app, victim)
    monkeypatch.undo()
    with app.app_context():
        db.session.rollback()
        # The job looks at the wall clock: age the abandoned lease as time would.
        get_users().update(victim.id, {"status": "deleting"},
                           {"deletion_lease_until": utcnow() - LEASE})
        report = purge_expired()
    assert report.users_resumed == 1 and report.errors == 0
    assert_gone(app, victim, tmp_path)

