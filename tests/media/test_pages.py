"""Pages use the stable /media URLs; the viewer's "Share" makes a share link."""

from __future__ import annotations

import re
from html import unescape

from tests.conftest import USER_PASSWORD
from tests.helpers import Browser
from tests.media.conftest import picture

CONFIRM = {"X-Confirm-Delete": "yes"}


def image_urls(html: str) -> list[str]:
    return re.findall(r'<img[^>]* src="([^"]+)"', html) + re.findall(
        r'<a class="thumb[^"]*" href="([^"]+)"', html)


def media_urls(html: str) -> list[str]:
    return re.findall(r'"(/media/[^"]+)"', unescape(html))


def test_a_gallery_rendered_twice_has_identical_image_urls(app, alice, alice_api):
    ids = [alice_api.upload(picture(color=(i, 0, 0))).get_json()["id"] for i in range(2)]
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    first = image_urls(browser.client.get("/").text)
    second = image_urls(browser.client.get("/").text)
    assert first == second
    # Thumbnails, and links to the viewer, whose photo is a /media variant.
    expected = [f"/media/{i}/thumb" for i in ids] + [f"/images/{i}" for i in ids]
    assert sorted(first) == sorted(expected)
    for url in first:
        assert browser.client.get(url).status_code == 200
    viewer = browser.client.get(f"/images/{ids[0]}").text
    # Every /media URL of the viewer, twice the same (the page's CSRF token, signed with
    # the second it was made, may differ).
    again = browser.client.get(f"/images/{ids[0]}").text
    assert media_urls(viewer) == media_urls(again) != []
    assert f'src="/media/{ids[0]}?w=1280"' in viewer
    assert browser.client.get(f"/media/{ids[0]}?w=1280").status_code == 200


def test_the_trash_page_shows_thumbnails_through_media(app, alice, alice_api):
    image = alice_api.upload(picture()).get_json()
    alice_api.delete(f"/api/v1/images/{image['id']}", headers=CONFIRM)
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    page = browser.client.get("/trash").text
    assert f'src="/media/{image["id"]}/thumb"' in page
    assert "/objects/" not in page
    assert browser.client.get(f"/media/{image['id']}/thumb").status_code == 200


def test_copy_link_answers_a_share_link_field_and_a_toast(app, client, alice, alice_api):
    image = alice_api.upload(picture()).get_json()
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    viewer = browser.client.get(f"/images/{image['id']}").text
    assert f'hx-post="/images/{image["id"]}/share"' in viewer
    response = browser.request("POST", f"/images/{image['id']}/share")
    assert response.status_code == 200
    url = unescape(re.search(r'class="share-url" readonly value="([^"]+)"', response.text)[1])
    assert url.startswith(f"http://localhost/media/{image['id']}?exp=")
    assert "Link ready. Anyone who has it can see this photo" in response.text
    # The link works for someone who is not signed in.
    assert client.get(url.removeprefix("http://localhost")).status_code == 200
    # Without the CSRF token the cookie session may not make one.
    assert browser.request("POST", f"/images/{image['id']}/share", csrf=False).status_code == 400


def test_copy_link_on_someone_elses_image_is_404(app, make_user, alice_api):
    image = alice_api.upload(picture()).get_json()
    make_user("bob")
    bob = Browser(app.test_client(), "bob", USER_PASSWORD)
    assert bob.request("POST", f"/images/{image['id']}/share").status_code == 404
