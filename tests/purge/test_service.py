"""purge_expired: what it takes, in what batches, what it leaves, and what it records."""

from __future__ import annotations

import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from app.audit import service as audit
from app.audit.models import AuditEvent
from app.audit.service import verify_chain
from app.core.db import utcnow
from app.core.errors import Conflict, NotFound
from app.core.extensions import db
from app.core.uow import unit_of_work
from app.images.models import Image, with_trashed
from app.images.service import restore_image
from app.purge import service
from app.purge.lease import PURGE_LEASE, HeldLease
from app.purge.models import PurgeRun
from app.purge.service import PurgeRunning, purge_expired
from app.storage import get_storage
from tests.purge.conftest import (
    ACTIVE,
    EXPIRED,
    TRASHED,
    FlakyStorage,
    add_images,
    assert_consistent,
    image_rows,
    stored_keys,
)


def runs(app) -> list[PurgeRun]:
    with app.app_context():
        found = db.session.execute(select(PurgeRun).order_by(PurgeRun.id)).scalars().all()
        db.session.commit()
        return list(found)


def audit_events(app, action) -> list[AuditEvent]:
    with app.app_context():
        found = db.session.execute(select(AuditEvent).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id)).scalars().all()
        db.session.commit()
        return list(found)


def test_purges_only_what_is_due_in_batches_each_with_its_own_claim(app, owner):
    expired = add_images(app, owner.id, 11, EXPIRED)
    kept = add_images(app, owner.id, 3, TRASHED) + add_images(app, owner.id, 2, ACTIVE)
    with app.app_context():
        flaky = FlakyStorage(get_storage())
        report = purge_expired(storage=flaky, batch_size=4)
    assert (report.status, report.claimed, report.deleted, report.errors) == ("finished", 11, 11, 0)
    assert report.bytes_freed == 11 * 110  # originals and thumbnails
    assert report.remaining == 0
    assert flaky.calls == [8, 8, 6]  # one delete_many per batch, never all rows at once
    rows = image_rows(app)
    assert set(rows) == set(kept)
    assert not set(expired) & set(rows)
    assert_consistent(app)

    batches = audit_events(app, "purge_batch")
    claim_ids = [event.details["claim_id"] for event in batches]
    assert len(claim_ids) == 3 and len(set(claim_ids)) == 3
    assert [event.details["deleted"] for event in batches] == [4, 4, 3]
    (run,) = runs(app)
    assert (run.trigger, run.status, run.claimed, run.deleted, run.bytes_freed, run.errors) == (
        "cli", "finished", 11, 11, 1210, 0)
    assert run.finished_at >= run.started_at
    assert all(claim_id.startswith(f"purge:{run.token}:") for claim_id in claim_ids)
    (event,) = audit_events(app, "purge_run")
    assert event.actor_id == "system" and event.details["deleted"] == 11
    with app.app_context():
        assert verify_chain().ok


def test_older_than_narrows_and_never_goes_past_purge_after(app, owner):
    old = add_images(app, owner.id, 2, EXPIRED, deleted_days_ago=40)
    recent = add_images(app, owner.id, 2, EXPIRED, deleted_days_ago=5)
    not_due = add_images(app, owner.id, 2, TRASHED, deleted_days_ago=100)
    with app.app_context():
        report = purge_expired(older_than_days=30)
    assert report.deleted == 2
    assert set(image_rows(app)) == set(recent + not_due)
    assert not set(old) & set(image_rows(app))


def test_dry_run_counts_and_changes_nothing(app, owner):
    add_images(app, owner.id, 3, EXPIRED)
    add_images(app, owner.id, 2, TRASHED)
    before = {k: (r.version, r.purge_state) for k, r in image_rows(app).items()}
    with app.app_context():
        report = purge_expired(dry_run=True)
    assert (report.images, report.objects, report.bytes) == (3, 6, 330)
    assert {k: (r.version, r.purge_state) for k, r in image_rows(app).items()} == before
    assert runs(app) == []


def test_abandoned_claims_are_finished_first_and_live_ones_left_alone(app, owner):
    dead_run = add_images(app, owner.id, 3, EXPIRED)
    stale_other = add_images(app, owner.id, 2, EXPIRED)
    live_other = add_images(app, owner.id, 2, EXPIRED)
    long_ago = utcnow() - timedelta(hours=2)
    with app.app_context():
        def stamp(ids, claim_id, at):
            db.session.execute(update(Image).where(Image.id.in_([r.id for r in rows(ids)]))
                               .values(purge_state="purging", claim_id=claim_id, claimed_at=at)
                               .execution_options(synchronize_session=False))
            db.session.commit()

        def rows(ids):
            return [image_rows(app)[i] for i in ids]

        stamp(dead_run, "purge:deadbeef:1", utcnow())  # a purge run that died a moment ago
        stamp(stale_other, "empty:stale", long_ago)  # an empty-trash request that died
        stamp(live_other, "empty:live", utcnow())  # one that is still working
        # The dead run had already deleted one image's objects.
        first = image_rows(app)[dead_run[0]]
        get_storage().delete_many([first.storage_key, first.thumbnail_key])
        report = purge_expired(batch_size=10)
    phases = [e.details["phase"] for e in audit_events(app, "purge_batch")]
    assert phases[0] == "abandoned"
    assert report.deleted == 5
    assert set(image_rows(app)) == set(live_other)
    assert report.remaining == 2  # the live claim is still due; its owner finishes it


def test_a_failed_key_leaves_its_row_claimed_and_the_next_run_finishes_it(app, owner):
    ids = add_images(app, owner.id, 4, EXPIRED)
    victim = image_rows(app)[ids[1]]
    with app.app_context():
        flaky = FlakyStorage(get_storage(), fail={victim.thumbnail_key})
        report = purge_expired(storage=flaky, batch_size=10)
    assert (report.deleted, report.errors, report.remaining) == (3, 1, 1)
    assert "AccessDenied" in report.error_messages[0]
    left = image_rows(app)
    assert set(left) == {ids[1]} and left[ids[1]].purge_state == "purging"
    assert runs(app)[0].errors == 1
    with app.app_context():
        with pytest.raises(Conflict) as refused, unit_of_work():
            restore_image(left[ids[1]], now=utcnow())
        assert refused.value.code == "purging"
        report = purge_expired()
    assert report.deleted == 1 and image_rows(app) == {}
    assert stored_keys(app) == set()


def test_object_store_down_stops_the_run_and_keeps_everything(app, owner):
    add_images(app, owner.id, 6, EXPIRED)
    with app.app_context():
        report = purge_expired(storage=FlakyStorage(get_storage(), down=True), batch_size=2)
    assert report.status == "stopped" and report.deleted == 0
    assert report.claimed <= 4  # the batch in flight and the one claimed meanwhile
    assert len(image_rows(app)) == 6
    assert_consistent(app)


def test_deadline_stops_between_batches_and_reports_remaining(app, owner):
    add_images(app, owner.id, 5, EXPIRED)
    with app.app_context():
        report = purge_expired(deadline=0.0)  # already past
    assert (report.status, report.deleted, report.remaining) == ("stopped", 0, 5)


def test_second_caller_gets_purge_running_while_a_run_works(app, owner):
    add_images(app, owner.id, 4, EXPIRED)
    gate = threading.Event()
    outcome = {}

    def first_run():
        with app.app_context():
            flaky = FlakyStorage(get_storage(), gate=gate)
            outcome["flaky"] = flaky
            outcome["report"] = purge_expired(storage=flaky, batch_size=2)
            db.session.remove()

    with app.app_context():
        flaky_holder = threading.Thread(target=first_run)
        flaky_holder.start()
        for _ in range(200):
            if "flaky" in outcome and outcome["flaky"].entered.is_set():
                break
            threading.Event().wait(0.02)
        with pytest.raises(PurgeRunning) as refused:
            purge_expired()
        assert refused.value.code == "purge_running" and refused.value.status == 409
        gate.set()
        flaky_holder.join(30)
    assert outcome["report"].deleted == 4
    assert len(runs(app)) == 1


def test_a_dead_holder_loses_the_lease_when_it_expires(app, owner):
    add_images(app, owner.id, 2, EXPIRED)
    with app.app_context():
        app.config["PURGE_LEASE_TTL_S"] = 60
        # Someone took the lease and died (it is never renewed nor released).
        dead = HeldLease.try_take(PURGE_LEASE, ttl_s=60,
                                  clock=lambda: utcnow() - timedelta(seconds=61))
        assert dead is not None
        report = purge_expired()
    assert report.deleted == 2


def test_killed_run_rows_are_marked_interrupted(app, owner):
    with app.app_context():
        db.session.add(PurgeRun(token="dead", trigger="cli", holder="x", status="running",
                                started_at=utcnow() - timedelta(hours=1), error_messages=[]))
        db.session.commit()
        purge_expired()
    assert [r.status for r in runs(app)] == ["interrupted", "finished"]


def tombstone(app, user_id: str) -> None:
    """What a finished user deletion leaves in the audit log."""
    with app.app_context():
        audit.record("user_delete_finished", "ok", audit.SYSTEM, target_type="user",
                     target_id=user_id, details={"finished": True})


def test_images_of_users_whose_deletion_is_recorded_are_swept_at_once(app, owner):
    mine = add_images(app, owner.id, 2, ACTIVE) + add_images(app, owner.id, 1, TRASHED)
    add_images(app, "deleted-owner", 2, ACTIVE)
    add_images(app, "deleted-owner", 1, TRASHED)
    tombstone(app, "deleted-owner")
    with app.app_context():
        dry = purge_expired(dry_run=True)
        assert dry.images == 3
        report = purge_expired(batch_size=2)
    assert report.orphans_deleted == 3 and report.orphans_trashed == 0
    assert set(image_rows(app)) == set(mine)
    assert_consistent(app)


def test_a_failed_deletion_is_no_tombstone(app, owner):
    add_images(app, owner.id, 30, ACTIVE)
    ghost = add_images(app, "ghost-owner", 1, ACTIVE)
    with app.app_context():
        audit.record("user_delete_finished", "conflict", audit.SYSTEM, target_type="user",
                     target_id="ghost-owner", details={"completed": False})
        app.config["PURGE_MAX_SWEEP_SHARE"] = 1.0
        report = purge_expired()
    assert report.orphans_deleted == 0 and report.orphans_trashed == 1
    assert image_rows(app)[ghost[0]].is_deleted


def test_images_of_unknown_owners_go_to_the_trash_with_the_normal_retention(app, owner):
    """No tombstone: nobody proved the owner gone (a wrong user store looks like this)."""
    add_images(app, owner.id, 40, ACTIVE)
    ghost = add_images(app, "ghost-owner", 1, ACTIVE)
    already = add_images(app, "ghost-owner", 1, TRASHED)
    now = utcnow()
    with app.app_context():
        app.config["PURGE_MAX_SWEEP_SHARE"] = 0.5  # one owner of two
        report = purge_expired(now=now)
    assert (report.orphans_trashed, report.orphans_deleted, report.deleted) == (1, 0, 0)
    rows = image_rows(app)
    assert len(rows) == 42  # nothing deleted
    swept = rows[ghost[0]]
    assert swept.is_deleted and swept.deleted_by == "system" and swept.purge_state is None
    assert swept.purge_after == now + timedelta(days=app.config["TRASH_RETENTION_DAYS"])
    assert rows[already[0]].purge_after > now  # a trashed image keeps its own date
    assert audit_events(app, "orphan_sweep")[0].details["trashed"] == 1


def test_orphan_sweep_is_skipped_when_the_user_store_is_empty(app, owner, monkeypatch):
    add_images(app, owner.id, 2, ACTIVE)
    with app.app_context():
        from app.users.repository import get_users

        monkeypatch.setattr(type(get_users()), "all_ids", lambda self: set())
        purge_expired()
    assert len(image_rows(app)) == 2


def test_the_run_gives_the_user_resume_its_batch_size(app, owner, monkeypatch):
    """Wiring only; tests/users/test_saga.py has a run finishing a real deletion."""
    seen = []
    monkeypatch.setattr(service, "resume_user_deletions",
                        lambda storage, now, batch_size, **kw: seen.append(batch_size) or ["u1"])
    with app.app_context():
        report = purge_expired(batch_size=7)
    assert seen == [7] and report.users_resumed == 1


def test_a_failing_user_sweep_is_recorded_and_the_purge_goes_on(app, owner, monkeypatch):
    add_images(app, owner.id, 2, EXPIRED)

    def broken(storage, now, batch_size, **kw):
        raise RuntimeError("user store down")

    monkeypatch.setattr(service, "resume_user_deletions", broken)
    with app.app_context():
        report = purge_expired()
    assert report.deleted == 2 and report.errors == 1
    assert "user store down" in report.error_messages[0]


def test_restore_and_purge_race_never_loses_a_restore(app, owner):
    """A thread restores every image while another purges them, batch by batch."""
    ids = add_images(app, owner.id, 40, EXPIRED)
    restored, refused, errors = [], [], []
    start = threading.Barrier(2)

    def purger():
        try:
            with app.app_context():
                start.wait()
                purge_expired(storage=FlakyStorage(get_storage(), delay=0.01), batch_size=4)
                db.session.remove()
        except BaseException as exc:
            errors.append(exc)

    def restorer():
        try:
            with app.app_context():
                start.wait()
                for image_id in reversed(ids):
                    try:
                        with unit_of_work():  # the service leaves the commit to its caller
                            restore_image(SimpleNamespace(id=image_rows_id(image_id)),
                                          now=utcnow())
                        restored.append(image_id)
                    except (Conflict, NotFound) as exc:
                        refused.append((image_id, exc.code))
                db.session.remove()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=purger), threading.Thread(target=restorer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    rows = image_rows(app)
    keys = stored_keys(app)
    assert len(restored) + len(refused) == len(ids)
    for image_id in restored:
        row = rows[image_id]
        assert not row.is_deleted and row.purge_state is None
        assert {row.storage_key, row.thumbnail_key} <= keys
    for image_id, code in refused:
        assert code in ("purging", "not_found")
        assert image_id not in rows
    assert set(rows) == set(restored)
    assert_consistent(app)


def image_rows_id(image_id):
    import uuid

    return uuid.UUID(image_id)


def test_progress_is_reported_after_every_batch(app, owner):
    add_images(app, owner.id, 5, EXPIRED)
    seen = []
    with app.app_context():
        purge_expired(batch_size=2, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(0, 5), (2, 5), (4, 5), (5, 5)]


def test_trashed_rows_stay_hidden_and_the_claim_rechecks_is_deleted(app, owner):
    (image_id,) = add_images(app, owner.id, 1, EXPIRED)
    with app.app_context():
        with unit_of_work():
            restore_image(SimpleNamespace(id=image_rows_id(image_id)), now=utcnow())
        report = purge_expired()
        row = db.session.execute(with_trashed(select(Image))).scalar_one()
    assert report.claimed == 0 and not row.is_deleted
