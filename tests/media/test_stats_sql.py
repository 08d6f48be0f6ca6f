"""The media stats in SQL (issue 19, scale review F1): the same answer as summing and
ranking every ``media_stats`` row in Python, unflushed counts included."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import event, func, insert, select

from app.core.extensions import db
from app.images import counters
from app.images.models import Image, with_trashed
from app.media import metrics
from app.media import stats as stats_module
from app.media.metrics import STAT_FIELDS
from app.media.models import MediaStat
from tests.conftest import ENGINES, NO_POSTGRES, build_app
from tests.helpers import insert_images
from tests.media.conftest import close_app, store_overrides

MB = 1024 * 1024


@pytest.fixture(params=ENGINES)
def app(request, tmp_path, postgres_database):
    """One cache is enough here: the stats never read it. SQLite, then PostgreSQL."""
    if request.param == "postgresql" and postgres_database is None:
        pytest.skip(NO_POSTGRES)
    app = build_app(tmp_path, fresh_schema=True, **store_overrides(
        request.param, redis=False, postgres_database=postgres_database))
    yield app
    close_app(app)


def _reference(unflushed):
    """What the stats were before: every row loaded, summed and ranked in Python."""
    per_image = {row.image_id: {n: getattr(row, n) for n in STAT_FIELDS}
                 for row in db.session.execute(select(MediaStat)).scalars()}
    for image_id, values in unflushed.items():
        counts = per_image.setdefault(image_id, dict.fromkeys(STAT_FIELDS, 0))
        for name, value in zip(STAT_FIELDS, values, strict=True):
            counts[name] += value
    totals = {n: sum(c[n] for c in per_image.values()) for n in STAT_FIELDS}
    ranked = sorted((i for i in per_image if per_image[i]["proxy_requests"] > 0),
                    key=lambda i: (-per_image[i]["proxy_requests"], str(i)))[:30]
    live = {i.id for i in db.session.execute(with_trashed(
        select(Image).where(Image.id.in_(ranked), Image.purge_state.is_(None)))).scalars()}
    top = [(str(i), per_image[i]["proxy_requests"], per_image[i]["views"])
           for i in ranked if i in live][:10]
    large = db.session.execute(
        select(Image).where(Image.size_bytes >= MB, Image.purge_state.is_(None))
        .order_by(Image.size_bytes.desc(), Image.id).limit(200)).scalars()
    heavy = [str(i.id) for i in large if per_image.get(i.id, {}).get("views", 0) <= 2][:10]
    db.session.rollback()
    return totals, top, heavy


def test_stats_in_sql_match_the_python_sums(app, monkeypatch):
    with app.test_request_context():
        ids = [uuid.UUID(i) for i in insert_images("owner-a", 60)]
        trashed = [uuid.UUID(i) for i in insert_images("owner-b", 10, trashed=True)]
        everyone = ids + trashed
        # Sizes: half heavy, in an order that is not the insertion order.
        for n, image_id in enumerate(everyone):
            db.session.execute(with_trashed(
                Image.__table__.update().where(Image.id == image_id)
                .values(size_bytes=(n * 7919 % 70) * MB // 2 + n)))
        # One row in flight: neither a top image nor a heavy one.
        db.session.execute(Image.__table__.update().where(Image.id == ids[0])
                           .values(purge_state="purging", claim_id="x", is_deleted=True))
        db.session.execute(insert(MediaStat), [
            {"image_id": image_id, "views": n % 5, "downloads": n % 3,
             "proxy_requests": (n * 37) % 50, "bytes_served": n * 1000,
             "cache_hits": n % 4, "not_modified": n % 2, "bytes_from_cache": n * 10}
            for n, image_id in enumerate(everyone) if n % 4])
        db.session.commit()
        # Unflushed counts: one image overtakes the leaders, one heavy image gets viewed,
        # one image with no flushed row at all.
        fresh = uuid.UUID(insert_images("owner-c", 1)[0])
        unflushed = {ids[5]: (0, 0, 500, 10, 1, 0, 5), ids[30]: (9, 0, 1, 0, 0, 0, 0),
                     fresh: (1, 1, 45, 99, 0, 1, 0)}
        monkeypatch.setattr(stats_module, "pending", lambda: (unflushed, {}))
        counters.reset()  # rows written straight into SQL, as the app would have counted
        drift = metrics.repair_totals()  # the media totals row too: the flush never saw them
        assert drift is not None and drift.summed["proxy_requests"] > 0
        assert metrics.totals_drift() is None
        storage = db.session.execute(with_trashed(
            select(Image.owner_id, func.count(), func.sum(Image.total_bytes))
            .where(Image.purge_state.is_(None)).group_by(Image.owner_id))).all()
        trash_bytes = db.session.execute(with_trashed(
            select(func.sum(Image.total_bytes))
            .where(Image.is_deleted.is_(True), Image.purge_state.is_(None)))).scalar_one()

        totals, top, heavy = _reference(unflushed)
        answer = stats_module.media_stats()
        assert {"requests": answer["requests"], "views": answer["views"],
                "downloads": answer["downloads"], "bytes_served": answer["bytes_served"],
                "cache_hits": answer["cache_hits"], "bytes_saved": answer["bytes_saved"]} == {
            "requests": totals["proxy_requests"], "views": totals["views"],
            "downloads": totals["downloads"], "bytes_served": totals["bytes_served"],
            "cache_hits": totals["cache_hits"], "bytes_saved": totals["bytes_from_cache"]}
        assert answer["storage_reads_saved"] == totals["cache_hits"] + totals["not_modified"]
        assert [(i["id"], i["requests"], i["views"]) for i in answer["top_images"]] == top
        assert answer["top_images"][0]["id"] == str(ids[5])
        assert [i["id"] for i in answer["heavy_images"]] == heavy and len(heavy) == 10
        assert str(ids[0]) not in [i["id"] for i in answer["top_images"] + answer["heavy_images"]]
        # Storage per user and the trash from the counters: what the rows add up to.
        assert sorted((u["images"], u["bytes"]) for u in answer["storage_per_user"]) == \
            sorted((int(n), int(b)) for _, n, b in storage)
        assert {u["username"] for u in answer["storage_per_user"]} == {"(deleted user)"}
        assert answer["trash_bytes"] == trash_bytes > 0


def test_the_stats_read_no_image_row_beyond_what_they_show(app):
    """Storage per user and the trash's bytes come from the per-owner counters: every
    statement on ``images`` is bounded (a LIMIT or primary keys), none sums the table."""
    seen = []

    def note(_conn, _cursor, statement, _parameters, _context, _many):
        if "FROM images" in statement:
            seen.append(" ".join(statement.split()))

    with app.test_request_context():
        insert_images("owner-a", 30)
        insert_images("owner-b", 5, trashed=True)
        counters.reset()
        event.listen(db.engine, "before_cursor_execute", note)
        try:
            answer = stats_module.media_stats()
        finally:
            event.remove(db.engine, "before_cursor_execute", note)
        assert sorted(u["images"] for u in answer["storage_per_user"]) == [5, 30]
        assert answer["trash_bytes"] == 5 * 1010
        assert seen
        for statement in seen:
            assert "GROUP BY" not in statement and "sum(" not in statement, statement
            assert " LIMIT " in statement or "images.id IN" in statement, statement
