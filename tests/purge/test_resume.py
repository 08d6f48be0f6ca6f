"""The purge keeps its rules while it finishes user deletions: time budget and lease."""

from __future__ import annotations

from datetime import timedelta

from app.core.db import utcnow
from app.purge import lease as lease_module
from app.purge.service import purge_expired
from app.storage import get_storage
from app.users.deletion import resume_user_deletions
from app.users.repository import get_users
from tests.purge.conftest import ACTIVE, add_images, image_rows


def left_deleting(app, user, images=6) -> list[str]:
    """A user whose deletion request died: ``deleting``, its lease long expired."""
    ids = add_images(app, user.id, images, ACTIVE)
    with app.app_context():
        assert get_users().update(user.id, {"status": "active"}, {
            "status": "deleting", "deletion_lease": "dead-request",
            "deletion_lease_until": utcnow() - timedelta(hours=1)})
    return ids


def status_of(app, user) -> str | None:
    with app.app_context():
        doc = get_users().get_doc(user.id)
        return doc["status"] if doc else None


class Watched:
    """A storage that calls ``on_delete()`` before each DeleteObjects."""

    def __init__(self, inner, on_delete):
        self.inner, self.on_delete = inner, on_delete

    def delete_many(self, keys):
        self.on_delete()
        return self.inner.delete_many(keys)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_the_time_budget_holds_while_a_user_deletion_resumes(app, owner, make_user):
    victim = make_user()
    left_deleting(app, victim, images=6)
    clock = {"now": 0.0}

    def budget_spent():
        clock["now"] = 200.0  # the first batch took the whole budget

    with app.app_context():
        report = purge_expired(storage=Watched(get_storage(), budget_spent), batch_size=2,
                               deadline=100.0, clock=lambda: clock["now"])
    assert report.status == "stopped"
    assert "stopped: time budget used up" in report.error_messages
    assert report.users_resumed == 0
    assert status_of(app, victim) == "deleting"  # the next run finishes it
    assert len(image_rows(app)) == 4


def test_the_purge_lease_is_renewed_between_user_deletion_batches(app, owner, make_user,
                                                                 monkeypatch):
    victim = make_user()
    left_deleting(app, victim, images=6)
    renewals, seen = [], []
    real_renew = lease_module.renew

    def counting_renew(*args, **kwargs):
        renewals.append(1)
        return real_renew(*args, **kwargs)

    monkeypatch.setattr(lease_module, "renew", counting_renew)
    with app.app_context():
        report = purge_expired(storage=Watched(get_storage(), lambda: seen.append(len(renewals))),
                               batch_size=2)
    assert report.users_resumed == 1 and status_of(app, victim) is None
    assert len(seen) == 3  # three batches of two
    assert seen == sorted(set(seen)), f"no renewal between some batches: {seen}"


def test_a_spent_budget_stops_the_resume_before_it_starts(app, owner, make_user):
    victim = make_user()
    left_deleting(app, victim, images=2)
    with app.app_context():
        finished = resume_user_deletions(get_storage(), utcnow(), 10, may_continue=lambda: False)
    assert finished == []
    assert status_of(app, victim) == "deleting" and len(image_rows(app)) == 2
