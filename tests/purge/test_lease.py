"""The SQL lease: one holder at a time, taken over only after it expires (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import timedelta

from app.core.db import utcnow
from app.core.extensions import db
from app.purge import lease
from app.purge.lease import HeldLease


def test_first_caller_takes_it_second_is_refused(app):
    now = utcnow()
    with app.app_context():
        assert lease.acquire("purge", "a", ttl_s=60, now=now)
        assert not lease.acquire("purge", "b", ttl_s=60, now=now + timedelta(seconds=1))
        assert lease.current_holder("purge", now=now).holder == "a"


def test_holder_may_take_it_again_and_renew(app):
    now = utcnow()
    with app.app_context():
        assert lease.acquire("purge", "a", ttl_s=60, now=now)
        assert lease.acquire("purge", "a", ttl_s=60, now=now + timedelta(seconds=1))
        assert lease.renew("purge", "a", ttl_s=60, now=now + timedelta(seconds=50))
        # Renewed at +50 s for 60 s: still held at +100 s.
        assert not lease.acquire("purge", "b", ttl_s=60, now=now + timedelta(seconds=100))


def test_expired_lease_is_taken_over_and_the_old_holder_cannot_renew(app):
    now = utcnow()
    with app.app_context():
        assert lease.acquire("purge", "dead", ttl_s=10, now=now)
        later = now + timedelta(seconds=11)
        assert lease.acquire("purge", "b", ttl_s=10, now=later)
        assert not lease.renew("purge", "dead", ttl_s=10, now=later)
        assert not lease.release("purge", "dead", now=later)
        assert lease.current_holder("purge", now=later).holder == "b"


def test_release_frees_it_at_once(app):
    now = utcnow()
    with app.app_context():
        assert lease.acquire("purge", "a", ttl_s=600, now=now)
        assert lease.release("purge", "a", now=now)
        assert lease.current_holder("purge", now=now) is None
        assert lease.acquire("purge", "b", ttl_s=600, now=now)


def test_leases_are_independent_by_name(app):
    now = utcnow()
    with app.app_context():
        assert lease.acquire("purge", "a", ttl_s=60, now=now)
        assert lease.acquire("other", "b", ttl_s=60, now=now)


def test_held_lease_handles_are_unique_per_acquisition(app):
    with app.app_context():
        first = HeldLease.try_take("purge", ttl_s=60)
        assert first is not None
        # Same process, same thread: still a different holder, so refused.
        assert HeldLease.try_take("purge", ttl_s=60) is None
        assert first.renew()
        first.release()
        second = HeldLease.try_take("purge", ttl_s=60)
        assert second is not None and second.holder != first.holder


def test_racing_threads_exactly_one_wins(app):
    """Eight threads, each with its own connection, try at the same instant."""
    now = utcnow()
    start = threading.Barrier(8)
    wins: list[str] = []
    errors: list[BaseException] = []

    def contender(name):
        try:
            with app.app_context():
                start.wait()
                if lease.acquire("purge", name, ttl_s=60, now=now):
                    wins.append(name)
                db.session.remove()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=contender, args=(f"t{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert len(wins) == 1
    with app.app_context():
        assert lease.current_holder("purge", now=now).holder == wins[0]
