"""The purge's totals without an ``OR`` or a full count (issue 19 item 5, scale review F2):
the same numbers and fingerprint as the one aggregate they replace, whatever mix of due,
not yet due and claimed rows the trash holds."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

from sqlalchemy import and_, event, func, or_, select, update

from app.core.db import utcnow
from app.core.extensions import db
from app.images import counters
from app.images.erasure import claim
from app.images.models import Image, with_trashed
from app.purge import service
from tests.purge.conftest import ACTIVE, EXPIRED, TRASHED, add_images


def _one_query(now, older_than_days=None):
    """The totals as the single ``OR`` aggregate computed them before."""
    due = Image.purge_after <= now
    if older_than_days is not None:
        due = and_(due, Image.deleted_at <= now - timedelta(days=older_than_days))
    count, size, versions, newest = db.session.execute(with_trashed(
        select(func.count(Image.id), func.coalesce(func.sum(Image.total_bytes), 0),
               func.coalesce(func.sum(Image.version), 0), func.max(Image.deleted_at))
        .where(Image.is_deleted.is_(True), or_(due, Image.purge_state == "purging")))).one()
    db.session.rollback()
    digest = hashlib.sha256(f"{count}:{size}:{versions}:{newest}".encode()).hexdigest()[:16]
    return int(count), int(size), digest


def _items_one_query(now, limit):
    items = db.session.execute(with_trashed(
        select(Image.id).where(Image.is_deleted.is_(True),
                               or_(Image.purge_after <= now, Image.purge_state == "purging"))
        .order_by(Image.purge_after, Image.id).limit(limit))).scalars().all()
    db.session.rollback()
    return [str(i) for i in items]


def test_pending_totals_match_the_one_aggregate(app, make_user):
    owner = make_user().id
    add_images(app, owner, 3, ACTIVE)
    add_images(app, owner, 4, TRASHED, size=333)
    expired = add_images(app, owner, 6, EXPIRED, deleted_days_ago=40, size=777)
    add_images(app, owner, 2, EXPIRED, deleted_days_ago=5, size=55)
    with app.app_context():
        now = utcnow()
        # Rows in flight: two due ones (a purge run's), one not yet due (an empty trash's).
        claim(Image.id.in_([uuid.UUID(i) for i in expired[:2]]), claim_id="purge:dead:1",
              now=now, limit=10)
        claim(Image.purge_after > now, claim_id="empty:x", now=now, limit=1)
        # A version moved on one due row: the fingerprint follows it.
        db.session.execute(with_trashed(update(Image).where(Image.id == uuid.UUID(expired[3]))
                                        .values(version=7)))
        db.session.commit()
        for days in (None, 30, 50):
            totals = service.pending_totals(now, days)
            assert (totals.count, totals.bytes, totals.fingerprint) == _one_query(now, days)
        assert service.pending_totals(now).count == 6 + 2 + 1
        assert service.pending_stats(now, 30) == (6 + 1, 6 * 787 + 343)
        assert service.trash_total() == 4 + 6 + 2
        for limit in (1, 3, 20):
            assert [str(i.id) for i in service.pending_items(now, limit)] == \
                _items_one_query(now, limit)


def test_a_normal_owner_sweep_counts_no_rows(app, make_user, monkeypatch):
    """The total only weighs unknown owners' images: with none, it is never counted."""
    owner = make_user().id
    add_images(app, owner, 3, ACTIVE)
    add_images(app, "gone-owner", 2, ACTIVE)

    with app.app_context():
        counted = []
        real = service._image_count
        monkeypatch.setattr(service, "_image_count", lambda: counted.append(1) or real())
        db.session.execute(with_trashed(update(Image).where(Image.owner_id == "gone-owner")
                                        .values(owner_id=owner)))
        db.session.commit()
        counters.reset()  # rows moved straight in SQL
        orphans = service.find_orphans()
        assert orphans.owners == 1 and not orphans.unknown
        assert orphans.too_many(0.5) is None and counted == []
        add_images(app, "gone-owner", 2, ACTIVE)
        orphans = service.find_orphans()
        assert orphans.unknown == {"gone-owner": 2}
        assert "2 image(s) of 1 owner(s)" in orphans.too_many(0.1)
        assert orphans.images == 7 and counted == [1]


def test_the_trash_total_reads_no_image_row(app, make_user):
    """The overview's ``total_in_trash`` is the per-owner counters' sum, not a count."""
    owner = make_user().id
    add_images(app, owner, 3, TRASHED)
    add_images(app, owner, 2, EXPIRED)
    add_images(app, "someone-else", 4, TRASHED)
    add_images(app, owner, 5, ACTIVE)
    seen = []

    def note(_conn, _cursor, statement, _parameters, _context, _many):
        seen.append(statement)

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", note)
        try:
            total = service.trash_total()
        finally:
            event.remove(db.engine, "before_cursor_execute", note)
    assert total == 9
    assert seen and not [s for s in seen if "FROM images" in s]
