"""The trash page in pages: every item reachable, the totals counted once (scale F3)."""

from __future__ import annotations

import re

from sqlalchemy import event

from app.core.extensions import db
from tests.conftest import USER_PASSWORD
from tests.helpers import Browser
from tests.trash.test_bulk_restore import _trashed_rows


def test_every_item_is_reached_and_later_pages_do_not_recount(app, client, alice):
    ids = _trashed_rows(app, alice.id, 250)
    browser = Browser(client, alice.username, USER_PASSWORD)
    first = browser.request("GET", "/trash", htmx=False)
    assert first.status_code == 200 and "250 items" in first.text
    seen = re.findall(r'id="trash-([0-9a-f-]{36})"', first.text)
    assert len(seen) == 50  # a page as the API's (SPEC section 5), then more on scrolling
    aggregates = []

    def note(_conn, _cursor, statement, _parameters, _context, _many):
        if re.search(r"\b(count|sum)\(", statement, re.I):
            aggregates.append(statement)

    with app.app_context():
        engine = db.engine
    cursor = re.search(r'hx-get="/trash\?cursor=([^"]+)"', first.text)
    event.listen(engine, "before_cursor_execute", note)
    try:
        while cursor:
            more = browser.request("GET", f"/trash?cursor={cursor.group(1)}")
            assert more.status_code == 200
            seen += re.findall(r'id="trash-([0-9a-f-]{36})"', more.text)
            cursor = re.search(r'hx-get="/trash\?cursor=([^"]+)"', more.text)
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert sorted(seen) == sorted(ids)  # each once, none skipped
    # a later page is rows only: nothing above the list is counted again
    assert aggregates == []


def test_with_delete_at_once_the_trash_says_next_purge_not_zero_days(app, alice, alice_api):
    """UX review minor 14: 'deleted for good 0 days after' and '0 days left' read wrong."""
    image_id = alice_api.upload().get_json()["id"]
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    assert browser.request("POST", "/account/retention", data={"days": "0"}).status_code == 200
    alice_api.delete(f"/api/v1/images/{image_id}", headers={"X-Confirm-Delete": "yes"})
    page = browser.request("GET", "/trash", htmx=False).text
    assert "deleted for good at the next purge" in page and "at the next purge</span>" in page
    assert "0 days" not in page
    spanish = browser.request("GET", "/trash", htmx=False, headers={"Accept-Language": "es"})
    assert "en la próxima purga" in spanish.text and "0 días" not in spanish.text
