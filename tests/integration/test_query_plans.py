"""The keyset queries seek; they never scan (issue 19 item 3, scale review F4).

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
    seen = []

    def note(_conn, _cursor, statement, parameters, _context, _many):
        if statement.lstrip().startswith("SELECT") and "FROM images" in statement \
                and "ORDER BY" in statement:
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        call()
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    db.session.rollback()
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
