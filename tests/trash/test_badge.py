"""The header's trash badge over HTTP: the number of the reader's own trashed items beside
"Trash", hidden at 0, with a spoken label, and sent out of band by every page action
that changes the trash (delete, Undo, restore, delete forever, empty, a purge run)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ADMIN_PASSWORD, USER_PASSWORD, png_bytes
from tests.helpers import Browser

YES = {"X-Confirm-Delete": "yes"}


def badges(html: str) -> list[dict]:
    """Every trash badge in ``html``: its shown number, spoken label, oob and hidden."""
    found = []
    for match in re.finditer(r'<span id="trash-badge"[^>]*>', html):
        tag = match.group(0)
        rest = html[match.end():]
        inner = re.match(r'(?:<span aria-hidden="true">(\d+)</span>'
                         r'<span class="visually-hidden">([^<]+)</span>)?</span>', rest)
        assert inner, rest[:200]
        found.append({"number": int(inner.group(1)) if inner.group(1) else 0,
                      "label": inner.group(2), "oob": 'hx-swap-oob="true"' in tag,
                      "hidden": " hidden" in tag})
    return found


def the_badge(html: str, oob: bool) -> dict:
    found = badges(html)
    assert len(found) == 1, found
    assert found[0]["oob"] is oob
    assert found[0]["hidden"] is (found[0]["number"] == 0)
    return found[0]


@pytest.fixture
def browser(app, alice):
    return Browser(app.test_client(), "alice", USER_PASSWORD)


def upload(browser, n: int) -> list[str]:
    ids = []
    for i in range(n):
        answer = browser.upload(png_bytes(color=(i * 40 % 256, 90, 30)), name=f"p{i}.png")
        assert answer.status_code == 201, answer.text
        ids.append(re.search(r'id="image-([0-9a-f-]+)"', answer.text).group(1))
    return ids


def test_the_page_shows_the_count_beside_trash_and_hides_it_at_zero(app, browser, make_user,
                                                                     api_for):
    page = browser.request("GET", "/", htmx=False)
    empty = the_badge(page.text, oob=False)
    assert empty == {"number": 0, "label": None, "oob": False, "hidden": True}
    # It sits inside the header's Trash link.
    assert re.search(r'<a href="/trash"[^>]*>Trash <span id="trash-badge"', page.text)

    ids = upload(browser, 3)
    for image_id in ids[:2]:
        assert browser.request("DELETE", f"/images/{image_id}", headers=YES).status_code == 200
    # Someone else's trash is not counted.
    bob = api_for(make_user("bob"))
    theirs = bob.upload().get_json()["id"]
    assert bob.delete(f"/api/v1/images/{theirs}", headers=YES).status_code == 200
    for path in ("/", "/trash", "/account", f"/images/{ids[2]}"):
        shown = the_badge(browser.request("GET", path, htmx=False).text, oob=False)
        assert shown["number"] == 2 and shown["label"] == "2 photos in the trash", path

    one = browser.request("POST", f"/images/{ids[0]}/restore")
    assert the_badge(one.text, oob=True)["label"] == "1 photo in the trash"
    # In Spanish, with the plural of the catalogue.
    spanish = browser.request("GET", "/", htmx=False, headers={"Accept-Language": "es"})
    assert the_badge(spanish.text, oob=False)["label"] == "1 foto en la papelera"


def test_gallery_delete_bulk_delete_and_their_undo_send_the_badge(browser):
    ids = upload(browser, 4)
    gone = browser.request("DELETE", f"/images/{ids[0]}", headers=YES)
    assert gone.status_code == 200
    assert the_badge(gone.text, oob=True)["number"] == 1
    query = "&".join(f"ids={i}" for i in ids[1:])
    bulk = browser.request("DELETE", f"/images/selected?{query}", headers=YES)
    assert bulk.status_code == 200
    assert the_badge(bulk.text, oob=True)["label"] == "4 photos in the trash"
    undo_url = re.search(r'hx-post="([^"]+)"', bulk.text).group(1).replace("&amp;", "&")
    back = browser.request("POST", undo_url)
    assert back.status_code == 200
    assert the_badge(back.text, oob=True)["number"] == 1
    single = browser.request("POST", f"/images/{ids[0]}/restore")
    assert the_badge(single.text, oob=True) == {"number": 0, "label": None, "oob": True,
                                                "hidden": True}
    # A refused delete (no confirmation) changes nothing and sends no badge.
    refused = browser.request("DELETE", f"/images/{ids[0]}")
    assert refused.status_code == 400 and badges(refused.text) == []


def test_trash_page_actions_send_the_badge(browser):
    ids = upload(browser, 5)
    for image_id in ids:
        assert browser.request("DELETE", f"/images/{image_id}", headers=YES).status_code == 200

    restored = browser.request("POST", f"/trash/items/{ids[0]}/restore")
    assert the_badge(restored.text, oob=True)["number"] == 4
    forever = browser.request("DELETE", f"/trash/items/{ids[1]}", headers=YES)
    assert the_badge(forever.text, oob=True)["number"] == 3
    selected = browser.request("DELETE", f"/trash/selected?ids={ids[2]}", headers=YES)
    assert selected.status_code == 200, selected.text
    assert the_badge(selected.text, oob=True)["number"] == 2
    some = browser.request("POST", "/trash/restore", data={"ids": [ids[3]]})
    assert the_badge(some.text, oob=True)["number"] == 1
    nothing = browser.request("POST", "/trash/restore", data={})
    assert the_badge(nothing.text, oob=True)["number"] == 1
    emptied = browser.request("DELETE", "/trash", headers=YES)
    assert emptied.status_code == 200, emptied.text
    assert the_badge(emptied.text, oob=True)["hidden"] is True


def test_a_purge_run_updates_the_admins_own_badge(app):
    admin = Browser(app.test_client(), "founder", ADMIN_PASSWORD)
    ids = upload(admin, 1)
    assert admin.request("DELETE", f"/images/{ids[0]}", headers=YES).status_code == 200
    assert the_badge(admin.request("GET", "/admin/purge", htmx=False).text,
                     oob=False)["number"] == 1
    run = admin.request("DELETE", "/admin/purge", headers=YES)
    assert run.status_code == 200, run.text
    # Nothing was due (30 days of retention): the count is unchanged, and sent.
    assert the_badge(run.text, oob=True)["number"] == 1
