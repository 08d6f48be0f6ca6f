"""A browser opening a share link gets a page; everything else the bytes (SPEC 8)."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from urllib.parse import urlsplit

import pytest

import app.core.db as app_db
import app.media.share_views as share_views
import app.media.shares as media_shares
import app.media.views as media_views
from tests.conftest import USER_PASSWORD
from tests.helpers import Browser
from tests.media.conftest import picture

YES = {"X-Confirm-Delete": "yes"}
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


@pytest.fixture
def image(alice_api):
    return alice_api.upload(picture(size=(1600, 1200)), name="Beach day.png").get_json()


@pytest.fixture
def link(alice_api, image) -> str:
    url = alice_api.post(f"/api/v1/images/{image['id']}/share",
                         json={"ttl_s": 3600}).get_json()["url"]
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def page(client, path, language="en", accept=BROWSER):
    return client.get(path, headers={"Accept": accept, "Accept-Language": language})


def meta(html: str, name: str) -> str:
    found = re.search(rf'<meta (?:property|name)="{re.escape(name)}" content="([^"]*)"', html)
    assert found, name
    return unescape(found[1])


def test_a_browser_gets_a_page_with_the_photo_a_download_and_previews(client, image, link):
    response = page(client, link)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert {"Accept", "Accept-Language"} <= set(response.vary)
    assert "Cookie" not in response.vary  # the link alone decides
    assert "Set-Cookie" not in response.headers
    html = response.text
    query = link.split("?", 1)[1]
    # The photo at a screen-sized variant (never the original), its name, a Download.
    assert f'src="/media/{image["id"]}?w=1280&amp;{query.replace("&", "&amp;")}"' in html
    assert "<h1 class=\"shared-name\">Beach day.png</h1>" in html
    download = unescape(re.search(r'<a class="btn btn-primary" href="([^"]+)" download', html)[1])
    assert download == f"/media/{image['id']}?download=1&{query}"
    # No account details: no user name, no navigation, no sign-out, no CSRF token.
    for private in ("alice", "csrf", "Sign out", "/account", "hx-"):
        assert private not in html, private
    # Chat-app previews: an absolute image URL that works for anyone, and the title.
    assert meta(html, "og:title") == "Beach day.png"
    og_image = meta(html, "og:image")
    assert og_image.startswith("http://localhost/media/") and "w=1280" in og_image
    assert meta(html, "twitter:card") == "summary_large_image"
    fetched = client.get(og_image.removeprefix("http://localhost"))
    assert fetched.status_code == 200 and fetched.mimetype == "image/webp"
    # The page's own pieces work for an anonymous visitor.
    assert client.get(download).headers["Content-Disposition"].startswith("attachment")


@pytest.mark.parametrize("accept", [None, "*/*", "image/*", "image/avif,image/webp,*/*;q=0.8",
                                    "text/html;q=0"])
def test_anything_but_an_html_accept_gets_the_bytes(client, image, link, accept):
    headers = {} if accept is None else {"Accept": accept}
    response = client.get(link, headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert "Accept" in response.headers["Vary"]


def test_variants_and_downloads_stay_bytes_for_a_browser(client, link):
    for form in ("&w=320", "&download=1"):
        response = page(client, link + form)
        assert response.status_code == 200 and response.mimetype != "text/html", form


def test_the_owner_and_other_requests_are_untouched(client, alice_api, image):
    response = alice_api.get(image["url"], headers={"Accept": BROWSER})
    assert response.mimetype == "image/png"
    assert "Accept" not in response.headers.get("Vary", "")


def test_a_signed_in_browser_opening_a_link_is_treated_as_anyone(app, alice, image, link):
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    response = page(browser.client, link)
    assert response.status_code == 200 and "Beach day.png" in response.text
    assert "Set-Cookie" not in response.headers
    assert "alice" not in response.text


@pytest.mark.parametrize("language, words", [
    ("en", {404: "This photo is no longer here", 403: "This link no longer works"}),
    ("es", {404: "Esta foto ya no está aquí", 403: "Este enlace ya no funciona"}),
])
def test_dead_links_get_a_readable_page_in_the_visitors_language(
        app, client, alice_api, image, link, monkeypatch, language, words):
    def dead(path, status):
        response = page(client, path, language=language)
        assert response.status_code == status, path
        assert response.mimetype == "text/html"
        assert words[status] in response.text
        assert f'<html lang="{language}">' in response.text
        assert response.headers["Cache-Control"] == "no-store"
        assert "Accept" in response.headers["Vary"]
        assert "Set-Cookie" not in response.headers
        return response

    base, query = link.split("?", 1)
    # Tampered: 403.
    dead(f"{base}?{query[:-3]}abc", 403)
    # Trashed: 404; restored, the page is back.
    assert alice_api.delete(f"/api/v1/images/{image['id']}", headers=YES).status_code == 200
    dead(link, 404)
    assert alice_api.post(f"/api/v1/images/{image['id']}/restore").status_code == 200
    assert page(client, link, language=language).status_code == 200
    # Expired: 403.
    later = app_db.utcnow() + timedelta(days=1)
    for module in (app_db, media_views, media_shares, share_views):
        monkeypatch.setattr(module, "utcnow", lambda: later)
    dead(link, 403)
    monkeypatch.undo()
    # Revoked: 403, with the owner's reason.
    share_id = re.search(r"sid=([^&]+)", link)[1]
    assert alice_api.delete(f"/api/v1/images/{image['id']}/shares/{share_id}",
                            headers=YES).status_code == 200
    revoked = dead(link, 403)
    assert ("turned off" if language == "en" else "desactivado") in revoked.text
    # Purged: 404.
    assert alice_api.delete(f"/api/v1/images/{image['id']}?permanent=true",
                            headers=YES).status_code == 200
    dead(link, 404)


def test_json_callers_still_get_todays_codes(client, alice_api, image, link):
    alice_api.delete(f"/api/v1/images/{image['id']}", headers=YES)
    response = client.get(link)
    assert response.status_code == 404 and response.get_json()["code"] == "not_found"
