"""The "Go to date" month list: exact counts per month, read from the index in two
statements, on both engines."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, update

from app.core.extensions import db
from app.images.models import Image
from app.images.views import months_of
from tests.helpers import insert_images


def test_months_are_counted_exactly_newest_first(app):
    with app.app_context():
        ids = [uuid.UUID(i) for i in insert_images("owner-m", 40, apart=timedelta(days=9))]
        insert_images("someone-else", 5, apart=timedelta(days=40))
        insert_images("owner-m", 3, trashed=True)  # the trash is not in the gallery
        # Two photos on a month's edge: midnight of the 1st belongs to that month, a
        # microsecond earlier to the month before.
        edge = datetime(2025, 3, 1, tzinfo=UTC)
        db.session.execute(update(Image).where(Image.id == ids[-1]).values(created_at=edge))
        db.session.execute(update(Image).where(Image.id == ids[-2]).values(
            created_at=edge - timedelta(microseconds=1)))
        db.session.commit()
        stamps = [db.session.get(Image, i).created_at for i in ids]
        expected = Counter(f"{s.astimezone(UTC):%Y-%m}" for s in stamps)
        with app.test_request_context("/"):
            months = months_of("owner-m")
    assert [m["value"] for m in months] == sorted(expected, reverse=True)
    assert {m["value"]: m["count"] for m in months} == dict(expected)
    assert sum(m["count"] for m in months) == 40
    assert months[-1]["value"] == "2025-02" and months[-2]["value"] == "2025-03"
    assert all(m["label"] for m in months)


def test_no_photo_row_is_read_and_two_statements_list_every_month(app):
    """Both statements are aggregates (max/min, then a count per month) over the owner's
    index range; none selects the photos themselves, and there are two however many
    months the library spans (a month with no photo in the span is left out)."""
    with app.app_context():
        insert_images("owner-n", 120, apart=timedelta(days=2))  # ~8 months
        old = [uuid.UUID(i) for i in insert_images("owner-n", 3)]
        db.session.execute(update(Image).where(Image.id.in_(old)).values(
            created_at=datetime(2019, 6, 3, tzinfo=UTC)))
        db.session.commit()
        statements = []

        def seen(_conn, _cursor, statement, *_args):
            statements.append(statement)

        engine = db.engine
        event.listen(engine, "before_cursor_execute", seen)
        try:
            with app.test_request_context("/"):
                months = months_of("owner-n")
        finally:
            event.remove(engine, "before_cursor_execute", seen)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2
    assert "max(" in selects[0].lower() and "min(" in selects[0].lower()
    assert selects[1].lower().count("count(") > 60  # every month from 2019 to now
    assert "images.id" not in " ".join(selects).lower()
    assert sum(m["count"] for m in months) == 123
    assert months[-1] == {"value": "2019-06", "count": 3, "label": months[-1]["label"]}
    assert len(months) < 20  # the empty months between are not listed


def test_an_empty_library_has_no_months(app):
    with app.app_context(), app.test_request_context("/"):
        assert months_of("nobody") == []
