"""The keyset queries seek; they never scan (issue 19 item 3, scale review F4); nor do the
purge's fixed-cost statements and the media page's heavy images (item 5, F1/F2).

A library of 100,000 rows on each engine; the statements are captured exactly as the app
sends them (bound parameters, the ORM's trash filter added), then explained. A keyset
written with ``OR`` reads every row before the cursor (PostgreSQL filters them, SQLite
walks the owner's whole index range); as a row value it is an index bound on both.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import event, insert, select

from app.core.db import distinct_values, utcnow
from app.core.extensions import db
from app.core.pagination import encode_cursor
from app.images.models import Image, with_trashed
from app.images.service import list_images, neighbours
from app.trash.service import list_trash
from tests.conftest import ENGINES, NO_POSTGRES, build_app

ROWS = 100_000
OWNERS = 10  # owner "u0" holds a tenth of the library, a tenth of it in the trash


def _rows(now):
    for n in range(ROWS):
        trashed = (n // OWNERS) % 10 == 3
        yield {
            "id": uuid.UUID(int=n + 1), "owner_id": f"u{n % OWNERS}",
            "file_name": f"p{n}.jpg", "storage_key": f"originals/{n}",
            "thumbnail_key": f"thumbnails/{n}", "content_type": "image/jpeg",
            "size_bytes": 1000 + n, "thumbnail_bytes": 100, "variant_bytes": 0,
            "width": 4000, "height": 3000, "sha256": f"{n:064x}",
            "created_at": now - timedelta(minutes=n), "is_deleted": trashed,
            "deleted_at": now - timedelta(seconds=n) if trashed else None,
            "purge_after": now + timedelta(days=30) if trashed else None, "version": 1,
        }


@pytest.fixture(scope="module", params=ENGINES)
def library(request, tmp_path_factory, postgres_database):
    overrides = {}
    if request.param == "postgresql":
        if postgres_database is None:
            pytest.skip(NO_POSTGRES)
        overrides["SQLALCHEMY_DATABASE_URI"] = postgres_database
    app = build_app(tmp_path_factory.mktemp("plans"), fresh_schema=True, **overrides)
    with app.app_context():
        rows = list(_rows(utcnow()))
        for start in range(0, ROWS, 20_000):
            db.session.execute(insert(Image), rows[start:start + 20_000])
        db.session.commit()
        with db.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _captured(app, call):
    """The listing SELECTs on images that ``call`` sends (not a reload by primary key),
    with their parameters."""
    seen = [(statement, parameters) for statement, parameters in _statements(app, call)
            if statement.lstrip().startswith("SELECT") and "ORDER BY" in statement]
    assert seen
    return seen


def _plan(statement, parameters) -> str:
    with db.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            return "\n".join(row[-1] for row in rows)
        rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters)
        return "\n".join(row[0] for row in rows)


def assert_seeks(plan: str, column: str) -> None:
    """No scan of images, and the keyset is part of the index bound."""
    assert "Seq Scan on images" not in plan, plan
    assert not re.search(r"^SCAN images\b", plan, re.M), plan
    sqlite_bound = rf"\({column},id\)[<>]\("
    postgres_bound = rf"Index Cond: .*ROW\({column}, id\) [<>]"
    assert re.search(sqlite_bound, plan) or re.search(postgres_bound, plan), plan


def _middle(app, *, trashed: bool) -> Image:
    column = Image.deleted_at if trashed else Image.created_at
    statement = select(Image).where(Image.owner_id == "u0",
                                    Image.is_deleted.is_(trashed))
    image = db.session.execute(with_trashed(
        statement.order_by(column.desc(), Image.id.desc()).offset(
            ROWS // OWNERS // (20 if trashed else 2)).limit(1))).scalar_one()
    db.session.rollback()
    return image


def test_a_gallery_page_deep_in_a_big_library_seeks(library):
    with library.app_context():
        middle = _middle(library, trashed=False)
        cursor = encode_cursor(middle.created_at, middle.id)
        captured = _captured(library, lambda: list_images("u0", limit=48, cursor=cursor))
        page = list_images("u0", limit=48, cursor=cursor)
        assert page.items and all((i.created_at, i.id) < (middle.created_at, middle.id)
                                  for i in page.items)
        for statement, parameters in captured:
            assert_seeks(_plan(statement, parameters), "created_at")


def test_a_trash_page_deep_in_a_big_trash_seeks(library):
    with library.app_context():
        middle = _middle(library, trashed=True)
        cursor = encode_cursor(middle.deleted_at, middle.id)
        captured = _captured(library, lambda: list_trash("u0", limit=100, cursor=cursor))
        page = list_trash("u0", limit=100, cursor=cursor)
        assert page.items and all(i.deleted_at <= middle.deleted_at for i in page.items)
        for statement, parameters in captured:
            assert_seeks(_plan(statement, parameters), "deleted_at")


def test_the_viewers_neighbours_seek_both_ways(library):
    with library.app_context():
        middle = _middle(library, trashed=False)
        captured = _captured(library, lambda: neighbours(middle))
        newer, older = neighbours(middle)
        assert newer.created_at >= middle.created_at >= older.created_at
        assert len(captured) == 2
        for statement, parameters in captured:
            assert_seeks(_plan(statement, parameters), "created_at")


def test_distinct_values_walk_the_index_and_agree_with_distinct(library):
    with library.app_context():
        column = Image.__table__.c.owner_id
        expected = db.session.execute(select(column).distinct().order_by(column)
                                      .execution_options(include_trashed=True)).scalars().all()
        assert distinct_values(column) == expected == [f"u{n}" for n in range(OWNERS)]
        assert distinct_values(column, after="u3", limit=2) == ["u4", "u5"]
        assert distinct_values(column, after="u9") == []
        db.session.rollback()


# -- the purge's fixed cost and the media page (issue 19 item 5, scale review F1/F2) ---

def _statements(app, call, table: str = "images"):
    """Every statement on ``table`` that ``call`` sends (SELECT, UPDATE, CTE), with its
    parameters; BEGIN/COMMIT and other tables left out."""
    seen = []

    def note(_conn, _cursor, statement, parameters, _context, _many):
        if re.search(rf"\b(FROM|UPDATE) {table}\b", statement):
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        call()
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    db.session.rollback()
    assert seen
    return seen


def assert_no_scan(plan: str) -> None:
    assert "Seq Scan on images" not in plan, plan
    assert not re.search(r"\bSCAN images\b(?! USING (COVERING )?INDEX ix_images_)", plan), plan


def test_the_pending_totals_are_index_ranges(library):
    """Due rows by the ``(is_deleted, purge_after)`` range, rows in flight by the partial
    index: no statement reads the trash as a whole (the ``OR`` form did)."""
    from app.purge.service import pending_totals

    with library.app_context():
        captured = _statements(library, lambda: pending_totals(utcnow()))
        for statement, parameters in captured:
            plan = _plan(statement, parameters)
            assert_no_scan(plan)
            assert ("ix_images_purging" in plan or "purge_after<" in plan
                    or re.search(r"Index Cond: .*purge_after <=", plan)), plan
            if db.engine.dialect.name == "sqlite":  # the sums from the index alone (0016)
                assert "USING COVERING INDEX" in plan, plan
        assert pending_totals(utcnow()).count == 0  # nothing due, nothing in flight


def test_reclaiming_with_nothing_claimed_reads_the_partial_index(library):
    from app.images.erasure import reclaim
    from app.purge.service import _abandoned_condition

    with library.app_context():
        def call():
            assert reclaim(_abandoned_condition("me", utcnow()), claim_id="purge:me:1",
                           now=utcnow(), limit=500) == 0

        for statement, parameters in _statements(library, call):
            plan = _plan(statement, parameters)
            assert_no_scan(plan)
            assert "ix_images_purging" in plan, plan


def test_the_owner_sweep_walks_the_index_one_owner_at_a_time(library):
    from app.purge.service import _owner_ids_in_images

    with library.app_context():
        captured = _statements(library, _owner_ids_in_images)
        for statement, parameters in captured:
            plan = _plan(statement, parameters)
            assert_no_scan(plan)
            assert "HashAggregate" not in plan and "Unique" not in plan, plan
        assert _owner_ids_in_images() == [f"u{n}" for n in range(OWNERS)]
        db.session.rollback()


def test_heavy_images_come_from_the_partial_index(library):
    from app.media.stats import _heavy_images

    with library.test_request_context():
        captured = _statements(library, lambda: _heavy_images({}))
        heavy = [s for s in captured if "size_bytes >=" in s[0]]
        assert heavy
        for statement, parameters in heavy:
            plan = _plan(statement, parameters)
            assert_no_scan(plan)
            assert "ix_images_heavy" in plan, plan
            assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan


def test_top_images_come_from_the_requests_index(library):
    from app.media.models import MediaStat
    from app.media.stats import _top_images

    with library.test_request_context():
        db.session.execute(insert(MediaStat), [
            {"image_id": uuid.UUID(int=n + 1), "views": n % 7, "downloads": 0,
             "proxy_requests": n % 5000, "bytes_served": n, "cache_hits": 0,
             "not_modified": 0, "bytes_from_cache": 0} for n in range(0, ROWS, 5)])
        db.session.commit()
        with db.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
        captured = _statements(library, lambda: _top_images({}), table="media_stats")
        ranked = [s for s in captured if "ORDER BY" in s[0]]
        assert ranked
        for statement, parameters in ranked:
            plan = _plan(statement, parameters)
            assert "ix_media_stats_requests" in plan, plan
            assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
        top = _top_images({})
        assert [i["requests"] for i in top] == [4995] * 10
        db.session.rollback()


def test_the_actor_and_action_filter_seeks_both(library):
    """``?actor=&action=`` bounds ``ix_audit_actor_action`` by both columns and reads
    the newest first from it (scale review F10): no filtering of an actor's events."""
    from app.audit.models import AuditEvent
    from app.audit.query import search_events

    actions = ["upload", "trash", "restore", "login", "purge_run"]
    with library.app_context():
        db.session.execute(insert(AuditEvent), [
            {"id": n + 1, "at": utcnow(), "actor_id": f"u{n % 50}",
             "action": "rare" if n % 5000 == 7 else actions[n % 5], "outcome": "ok",
             "details": {}, "prev_hash": f"p{n:063x}", "hash": f"h{n:063x}"}
            for n in range(50_000)])
        db.session.commit()
        with db.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
        captured = _statements(library, lambda: search_events(
            actor="u7", action="rare", limit=50, cursor=None), table="audit_events")
        for statement, parameters in captured:
            plan = _plan(statement, parameters)
            assert "ix_audit_actor_action" in plan, plan
            assert "Filter" not in plan and "TEMP B-TREE" not in plan, plan
        page = search_events(actor="u7", action="rare", limit=50, cursor=None)
        assert [e.id for e in page.items] == [n + 1 for n in range(50_000 - 1, -1, -1)
                                               if n % 5000 == 7 and n % 50 == 7]
        db.session.rollback()
