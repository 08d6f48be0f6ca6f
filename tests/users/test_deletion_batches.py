"""A permanent user deletion trashes the library in bounded, committed batches and stops
at its deadline; the next run picks up where it stopped (issue 19 item 4, scale F6)."""

from __future__ import annotations

import itertools

from sqlalchemy import func, select

from app.audit.service import SYSTEM
from app.core.db import utcnow
from app.core.extensions import db
from app.images.models import Image, with_trashed
from app.storage import get_storage
from app.users.deletion import PRE_TRASH_BATCH, finish_user_deletion, start_user_deletion
from app.users.repository import get_users
from tests.helpers import insert_images

LIBRARY = 1200


def _count(owner_id: str, *, trashed: bool | None = None) -> int:
    statement = select(func.count()).select_from(Image).where(Image.owner_id == owner_id)
    if trashed is not None:
        statement = statement.where(Image.is_deleted.is_(trashed))
    value = db.session.execute(with_trashed(statement)).scalar_one()
    db.session.rollback()
    return value


def test_the_pre_trash_stops_at_the_deadline_and_the_next_run_finishes(app, make_user):
    carol = make_user("carol")
    with app.app_context():
        insert_images(carol.id, LIBRARY)
        users = get_users()
        lease = start_user_deletion(users, users.get(carol.id), ctx=SYSTEM, now=utcnow())
        ticks = itertools.count(1)  # past the deadline at the first look
        first = finish_user_deletion(users, get_storage(), carol.id, lease, ctx=SYSTEM,
                                     now=utcnow(), batch_size=100, deadline=0.5,
                                     clock=lambda: next(ticks))
        assert not first.finished and first.deleted == 100
        # one committed batch of the pre-trash, then one batch of deletions: the deadline
        assert _count(carol.id, trashed=False) == LIBRARY - PRE_TRASH_BATCH
        assert _count(carol.id) == LIBRARY - 100
        assert users.get_doc(carol.id)["status"] == "deleting"

        second = finish_user_deletion(users, get_storage(), carol.id, lease, ctx=SYSTEM,
                                      now=utcnow(), batch_size=500, resumed=True)
        assert second.finished and second.deleted == LIBRARY - 100
        assert _count(carol.id) == 0 and users.get_doc(carol.id) is None
