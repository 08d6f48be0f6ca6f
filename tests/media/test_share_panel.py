"""The viewer's Share panel: pick the expiry, see the live links, revoke one."""

from __future__ import annotations

import re
import time
from html import unescape
from urllib.parse import urlsplit

import pytest

from tests.conftest import USER_PASSWORD
from tests.helpers import Browser, last_audit
from tests.media.conftest import picture


@pytest.fixture
def image(alice_api):
    return alice_api.upload(picture()).get_json()


@pytest.fixture
def browser(app, alice):
    return Browser(app.test_client(), "alice", USER_PASSWORD)


def share_ids(html: str) -> list[str]:
    return re.findall(r'data-share-id="([^"]+)"', html)


def test_the_share_button_offers_the_four_expiries_and_loads_the_list(browser, image):
    response = browser.request("POST", f"/images/{image['id']}/share")
    assert response.status_code == 200
    html = response.text
    values = re.findall(r'<input type="radio" name="ttl_s" value="(\d+)"( checked)?', html)
    assert values == [("3600", ""), ("86400", " checked"), ("604800", ""), ("2592000", "")]
    for label in ("1 hour", "1 day", "7 days", "30 days"):
        assert f"> {label}</label>" in html
    assert f'hx-post="/images/{image["id"]}/shares"' in html
    assert f'hx-get="/images/{image["id"]}/shares"' in html
    listed = browser.request("GET", f"/images/{image['id']}/shares")
    assert listed.status_code == 200
    made = re.search(r'class="share-url" readonly value="([^"]+)"', html)[1]
    assert share_ids(listed.text) == [re.search(r"sid=([^&]+)", unescape(made))[1]]


def test_choosing_an_expiry_makes_that_link_and_lists_it(app, client, browser, alice_api,
                                                         image):
    response = browser.request("POST", f"/images/{image['id']}/shares",
                               data={"ttl_s": "604800"})
    assert response.status_code == 200
    html = response.text
    assert re.search(r'value="604800" checked', html)
    url = unescape(re.search(r'class="share-url" readonly value="([^"]+)"', html)[1])
    assert "Link ready" in html and 'hx-swap-oob' in html
    items = alice_api.get(f"/api/v1/images/{image['id']}/shares").get_json()["items"]
    assert [i["url"] for i in items] == [url]
    days = (int(re.search(r"exp=(\d+)", url)[1]) - time.time()) / 86400
    assert 7 <= days <= 7.1
    assert share_ids(html) == [items[0]["id"]]
    parts = urlsplit(url)
    assert client.get(f"{parts.path}?{parts.query}").status_code == 200
    # The same choice again within the window: the same link, not a second one.
    again = browser.request("POST", f"/images/{image['id']}/shares", data={"ttl_s": "604800"})
    assert share_ids(again.text) == [items[0]["id"]]


@pytest.mark.parametrize("ttl", ["", "60", "3601", "abc", "-3600"])
def test_an_expiry_outside_the_choices_is_400(browser, image, ttl):
    response = browser.request("POST", f"/images/{image['id']}/shares", data={"ttl_s": ttl})
    assert response.status_code == 400
    assert "1 hour, 1 day, 7 days or 30 days" in response.text


def test_revoking_from_the_panel_ends_the_link_and_updates_the_list(app, client, browser,
                                                                    alice_api, image):
    made = alice_api.post(f"/api/v1/images/{image['id']}/share",
                          json={"ttl_s": 3600}).get_json()
    kept = alice_api.post(f"/api/v1/images/{image['id']}/share",
                          json={"ttl_s": 86400}).get_json()
    listed = browser.request("GET", f"/images/{image['id']}/shares").text
    assert share_ids(listed) == [made["id"], kept["id"]]
    revoke = unescape(re.search(
        rf'hx-delete="([^"]+/shares/{re.escape(made["id"])})"', listed)[1])
    assert "X-Confirm-Delete" in listed
    refused = browser.request("DELETE", revoke)
    assert refused.status_code == 400  # no confirmation header
    response = browser.request("DELETE", revoke, headers={"X-Confirm-Delete": "yes"})
    assert response.status_code == 200
    assert share_ids(response.text) == [kept["id"]]
    assert "The share link was revoked." in response.text
    assert last_audit(app).action == "share_revoked"
    parts = urlsplit(made["url"])
    assert client.get(f"{parts.path}?{parts.query}").status_code == 403


def test_someone_elses_panel_is_404(app, make_user, image):
    make_user("bob")
    bob = Browser(app.test_client(), "bob", USER_PASSWORD)
    assert bob.request("GET", f"/images/{image['id']}/shares").status_code == 404
    assert bob.request("POST", f"/images/{image['id']}/shares",
                       data={"ttl_s": "3600"}).status_code == 404
