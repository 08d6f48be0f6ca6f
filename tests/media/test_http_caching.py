"""What /media tells caches (issue 18 items 1–3): refusals are never stored, a share
link's answer is public but bounded for shared caches, decided by the link alone (no
cookie read or set, no ``Vary: Cookie``), a 304 repeats its 200's headers, and no
cacheable answer carries ``RateLimit-*``."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

import app.core.db as app_db
import app.media.shares as media_shares
import app.media.views as media_views
from tests.conftest import USER_PASSWORD
from tests.helpers import Browser
from tests.media.conftest import picture
from tests.media.helpers import set_media_config

CONFIRM = {"X-Confirm-Delete": "yes"}
# What a 304 must repeat from its 200 (RFC 9111 section 4.3.4: a cache updates the stored
# answer's headers from it).
SAME_ON_304 = ("ETag", "Cache-Control", "Content-Security-Policy", "X-Content-Type-Options",
               "Content-Disposition", "Accept-Ranges", "Vary")


@pytest.fixture
def image(alice_api):
    return alice_api.upload(picture()).get_json()


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def share(api, image_id, ttl_s=3600) -> str:
    response = api.post(f"/api/v1/images/{image_id}/share", json={"ttl_s": ttl_s})
    assert response.status_code == 201, response.get_json()
    return path_of(response.get_json()["url"])


def thumb_of(link: str) -> str:
    path, _, query = link.partition("?")
    return f"{path}/thumb?{query}"


def freeze(monkeypatch, now):
    for module in (app_db, media_views, media_shares):
        monkeypatch.setattr(module, "utcnow", lambda: now)


# -- item 2: refusals ------------------------------------------------------------------

def test_every_media_refusal_is_no_store(app, client, make_user, api_for, alice_api, image):
    link = share(alice_api, image["id"])
    bob = api_for(make_user("bob"))
    size = len(alice_api.get(image["url"]).data)
    tampered = link.replace("sig=", "sig=x")
    refusals = {
        401: client.get(image["url"]),
        403: client.get(tampered),
        404: bob.get(image["url"]),
        400: alice_api.get(image["url"] + "?w=333"),
        416: alice_api.get(image["url"], headers={"Range": f"bytes={size}-"}),
    }
    set_media_config(app, block_ips=["198.51.100.7"])
    refusals["403 blocked"] = client.get(link, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    set_media_config(app, block_ips=[], rate_limits={"per_minute": 1})
    ip = {"REMOTE_ADDR": "198.51.100.8"}
    client.get(link, environ_base=ip)
    refusals[429] = client.get(link, environ_base=ip)
    for name, response in refusals.items():
        assert response.status_code == (int(str(name)[:3])), (name, response.status_code)
        assert response.headers["Cache-Control"] == "no-store", name


def test_a_404_for_another_user_is_never_what_the_owner_gets(make_user, api_for, alice_api,
                                                             image):
    bob = api_for(make_user("bob"))
    refused = bob.get(image["thumbnail_url"])
    assert refused.status_code == 404 and refused.headers["Cache-Control"] == "no-store"
    served = alice_api.get(image["thumbnail_url"])
    assert served.status_code == 200
    assert served.headers["Cache-Control"] == "private, max-age=86400"


# -- item 1: what a shared cache may keep ---------------------------------------------

def test_a_share_link_answer_bounds_what_a_shared_cache_keeps(app, client, alice_api, image,
                                                             monkeypatch):
    now = app_db.utcnow()
    freeze(monkeypatch, now)
    link = share(alice_api, image["id"], ttl_s=7200)
    left = int(parse_qs(urlsplit(link).query)["exp"][0]) - int(now.timestamp())
    for form in (link, thumb_of(link), link + "&w=320"):
        response = client.get(form)
        assert response.status_code == 200, form
        assert response.headers["Cache-Control"] == f"public, max-age={left}, s-maxage=60"
    set_media_config(app, browser_max_age_s=30, share_shared_max_age_s=300)
    assert client.get(link).headers["Cache-Control"] == "public, max-age=30, s-maxage=300"
    set_media_config(app, share_shared_max_age_s=0)
    zero = client.get(link)
    assert zero.headers["Cache-Control"] == "public, no-cache"
    # Every reuse revalidates: the ETag answers 304, with the same caching headers.
    again = client.get(link, headers={"If-None-Match": zero.headers["ETag"]})
    assert again.status_code == 304 and again.headers["Cache-Control"] == "public, no-cache"
    # The owner's own answers stay private.
    assert alice_api.get(image["url"]).headers["Cache-Control"] == "private, max-age=30"


def test_a_shared_cache_never_outlives_the_link(app, client, alice_api, image, monkeypatch):
    now = app_db.utcnow()
    freeze(monkeypatch, now)
    link = share(alice_api, image["id"], ttl_s=60)
    exp = int(parse_qs(urlsplit(link).query)["exp"][0])
    freeze(monkeypatch, app_db.datetime.fromtimestamp(exp - 20, app_db.UTC))
    assert client.get(link).headers["Cache-Control"] == "public, max-age=20, s-maxage=20"


# -- item 3: decided by the link alone ------------------------------------------------

def test_a_share_link_reads_and_sets_no_cookie(app, client, alice, alice_api, image):
    link = share(alice_api, image["id"])
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    own = browser.client.get(image["url"])  # without a link the cookie decides
    assert own.status_code == 200 and "Cookie" in own.vary
    anonymous = client.get(link)
    for form in (link, thumb_of(link), link + "&w=320", link + "&download=1"):
        signed_in = browser.client.get(form)
        assert signed_in.status_code == 200, form
        assert "Cookie" not in signed_in.vary, form
        assert "Set-Cookie" not in signed_in.headers, form
        assert signed_in.headers["Cache-Control"].startswith("public, ")
    assert browser.client.get(link).data == anonymous.data
    # The same answer for the owner's bearer token: the link decides, not the token.
    with_token = alice_api.get(link)
    assert with_token.headers["Cache-Control"].startswith("public, ")
    assert with_token.data == anonymous.data
    assert "Cookie" not in with_token.vary
    # A trashed image is 404 through its link, even for its owner holding the link.
    alice_api.delete(f"/api/v1/images/{image['id']}", headers=CONFIRM)
    assert browser.client.get(link).status_code == 404
    assert alice_api.get(link).status_code == 404
    assert browser.client.get(image["url"]).status_code == 200  # the cookie still works


@pytest.mark.parametrize("form", ["", "/thumb", "?w=320"])
def test_a_304_carries_the_headers_of_its_200(app, client, alice_api, image, form):
    link = share(alice_api, image["id"])
    base, _, query = link.partition("?")
    for url, who in ((image["url"] + form, alice_api), (
            (base + form + ("&" if "?" in form else "?") + query), client)):
        full = who.get(url)
        assert full.status_code == 200, url
        again = who.get(url, headers={"If-None-Match": full.headers["ETag"]})
        assert again.status_code == 304
        for name in SAME_ON_304:
            if name == "Cache-Control":  # a link's max-age is its time left: a second may pass
                assert 0 <= _ages_apart(again.headers[name], full.headers[name]) <= 1, url
                continue
            assert again.headers.getlist(name) == full.headers.getlist(name), (url, name)
        assert "sandbox" in again.headers["Content-Security-Policy"]


def _ages_apart(later: str, earlier: str) -> int:
    """How many seconds apart two Cache-Control values' ``max-age`` are; any other
    difference between them fails."""
    first, second = re.search(r"max-age=(\d+)", earlier), re.search(r"max-age=(\d+)", later)
    assert re.sub(r"max-age=\d+", "", later) == re.sub(r"max-age=\d+", "", earlier), (later,
                                                                                     earlier)
    return int(first.group(1)) - int(second.group(1)) if first and second else 0


def test_no_ratelimit_headers_on_a_cacheable_answer(app, client, alice_api, image):
    set_media_config(app, rate_limits={"per_minute": 2})
    link = share(alice_api, image["id"])
    ip = {"REMOTE_ADDR": "198.51.100.9"}
    answers = [client.get(link, environ_base=ip) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    for served in answers[:2]:
        assert not [name for name in served.headers.keys() if name.startswith("RateLimit")]
    refused = answers[2]
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["Cache-Control"] == "no-store"
