"""Bulk restore is set-based and bounded (issue 19 item 4, scale review F5): the number
of statements does not grow with the ids, and ``{"all": true}`` brings back at most
1,000 items per call, answering what remains."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import event, select, update

from app.core.extensions import db
from app.images.models import Image, with_trashed
from tests.helpers import insert_images


def _trashed_rows(app, owner_id: str, count: int) -> list[str]:
    with app.app_context():
        return insert_images(owner_id, count, trashed=True)


def _states(app, ids) -> dict[str, bool]:
    with app.app_context():
        rows = db.session.execute(with_trashed(
            select(Image.id, Image.is_deleted).where(Image.id.in_([uuid.UUID(i) for i in ids]))
        )).all()
        db.session.rollback()
    return {str(row.id): row.is_deleted for row in rows}


def _statements(app):
    seen = []

    def note(_conn, _cursor, statement, _parameters, _context, _many):
        word = statement.lstrip().split(None, 1)[0].upper()
        if word in {"SELECT", "UPDATE"} and " images" in statement:
            seen.append(word)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    return seen, lambda: event.remove(engine, "before_cursor_execute", note)


@pytest.mark.parametrize("count", [3, 1000])
def test_the_statements_do_not_grow_with_the_ids(app, alice_api, count):
    ids = _trashed_rows(app, alice_api.user.id, count)
    seen, stop = _statements(app)
    try:
        response = alice_api.post("/api/v1/trash/restore", json={"ids": ids})
    finally:
        stop()
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["restored"] == count and body["skipped"] == [] and body["remaining"] == 0
    assert not any(_states(app, ids).values())
    updates = seen.count("UPDATE")
    assert updates == -(-count // 500), seen  # one per batch of 500, not one per id
    assert seen.count("SELECT") <= 12, seen


def test_each_reason_is_given_in_the_order_asked(app, alice_api, make_user):
    mine = _trashed_rows(app, alice_api.user.id, 3)
    bob = make_user("bob")
    theirs = _trashed_rows(app, bob.id, 1)
    with app.app_context():
        db.session.execute(update(Image).where(Image.id == uuid.UUID(mine[1]))
                           .values(purge_state="purging", claim_id="purge:x"))
        db.session.commit()
    asked = [mine[0], "not-a-uuid", mine[1], theirs[0], mine[0], mine[2]]
    response = alice_api.post("/api/v1/trash/restore", json={"ids": asked})
    assert response.status_code == 200
    body = response.get_json()
    assert body["restored"] == 2
    assert body["skipped"] == [{"id": "not-a-uuid", "code": "not_found"},
                               {"id": mine[1], "code": "purging"},
                               {"id": theirs[0], "code": "not_found"},
                               {"id": mine[0], "code": "not_in_trash"}]
    assert _states(app, mine) == {mine[0]: False, mine[1]: True, mine[2]: False}
    assert _states(app, theirs) == {theirs[0]: True}


def test_restore_all_is_bounded_and_says_what_remains(app, alice_api):
    ids = _trashed_rows(app, alice_api.user.id, 1005)
    first = alice_api.post("/api/v1/trash/restore", json={"all": True})
    assert first.status_code == 200
    assert first.get_json()["restored"] == 1000 and first.get_json()["remaining"] == 5
    # the most recently deleted come back first
    assert sum(not trashed for trashed in _states(app, ids[:1000]).values()) == 1000
    second = alice_api.post("/api/v1/trash/restore", json={"all": True})
    assert second.get_json()["restored"] == 5 and second.get_json()["remaining"] == 0
    third = alice_api.post("/api/v1/trash/restore", json={"all": True})
    assert third.status_code == 200 and third.get_json() == {
        "restored": 0, "skipped": [], "remaining": 0}
