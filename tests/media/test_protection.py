"""Media protection through HTTP (SPEC section 8): limits, lists, auto-block, hotlinks.

Every test runs on SQLite and PostgreSQL, each with in-process counters and with Redis
(limits, auto-block counters and the block list's version all in Redis).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

import app.media.guard as guard
from app.core.db import utcnow
from tests.conftest import ADMIN_PASSWORD, ENGINES, USER_PASSWORD, build_app
from tests.helpers import Browser, count_calls, last_audit, sql_statements
from tests.media.conftest import picture, protection_app
from tests.media.helpers import set_media_config

CONFIRM = {"X-Confirm-Delete": "yes"}
ATTACKER = "198.51.100.7"
OTHER = "198.51.100.8"


@pytest.fixture(params=[(engine, store) for store in ("memory", "redis") for engine in ENGINES],
                ids=lambda p: f"{p[0]}-{p[1]}")
def app(request, tmp_path, postgres_database):
    yield from protection_app(*request.param, tmp_path, postgres_database,
                              MEDIA_WEBHOOK_BACKOFF_S=0.01)


@pytest.fixture
def image(alice_api):
    return alice_api.upload(picture((64, 48))).get_json()


@pytest.fixture
def link(alice_api, image):
    """A share link's path: what anonymous visitors (and abusers) fetch."""
    url = alice_api.post(f"/api/v1/images/{image['id']}/share", json={"ttl_s": 3600}) \
        .get_json()["url"]
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def fetch(client, path, ip=ATTACKER, **headers):
    return client.get(path, headers=headers, environ_base={"REMOTE_ADDR": ip})


# -- per-IP limits ---------------------------------------------------------------------

def test_per_ip_limit_answers_429_with_retry_after_and_ratelimit_headers(app, client, link):
    set_media_config(app, rate_limits={"per_minute": 3})
    for _ in range(3):
        ok = fetch(client, link)
        assert ok.status_code == 200
        assert "RateLimit-Limit" not in ok.headers  # cacheable: none (issue 18 item 3)
    refused = fetch(client, link)
    assert refused.status_code == 429
    assert refused.get_json()["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit-Limit"] == "3"
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert 0 < int(refused.headers["RateLimit-Reset"]) <= 60
    assert refused.headers["RateLimit-Policy"].startswith("3;w=60")
    # The thumbnail shares the budget; another address has its own.
    assert fetch(client, link.replace("?", "/thumb?")).status_code == 429
    assert fetch(client, link, ip=OTHER).status_code == 200


def test_limits_are_read_from_the_config_on_every_request(app, client, link):
    set_media_config(app, rate_limits={"per_minute": 1})
    assert fetch(client, link).status_code == 200
    assert fetch(client, link).status_code == 429
    set_media_config(app, rate_limits={"per_minute": 600})
    assert fetch(client, link).status_code == 200  # raised: served again at once
    set_media_config(app, rate_limits={"per_minute": 600, "per_hour": 2, "per_day": 5})
    assert [fetch(client, link, ip=OTHER).status_code for _ in range(3)] == [200, 200, 429]
    set_media_config(app, rate_limits={"per_minute": 600, "per_hour": 600, "per_day": 2})
    # An IPv6 client's budget is its /64: other addresses in it share it.
    assert [fetch(client, link, ip=f"2001:db8::{n}").status_code for n in range(3)] == \
        [200, 200, 429]
    assert fetch(client, link, ip="2001:db8:0:1::1").status_code == 200


def test_an_owner_or_admin_on_their_own_images_is_not_limited(app, client, alice_api,
                                                              admin_api, api_for, make_user,
                                                              image, link):
    set_media_config(app, rate_limits={"per_minute": 2})
    for _ in range(5):
        assert alice_api.get(image["url"]).status_code == 200
        assert admin_api.get(image["thumbnail_url"]).status_code == 200
    # Someone else signed in, through a share link: held to the limits like anyone.
    bob = api_for(make_user("bob"))
    assert [bob.get(link).status_code for _ in range(3)] == [200, 200, 429]


def test_flask_limiter_is_asked_only_for_requests_it_would_hold(app, client, alice_api, image,
                                                               link, monkeypatch):
    """``media_limits`` answers the requests Flask-Limiter's own filter would skip (an
    owner, an allowed address, one the gate's Redis call let through) without calling
    into Flask-Limiter; the others still reach it, and its 429."""
    from app.core.extensions import limiter

    asked = count_calls(monkeypatch, limiter, "_check_request_limit")
    set_media_config(app, rate_limits={"per_minute": 2})
    assert [alice_api.get(image["thumbnail_url"]).status_code for _ in range(3)] == [200] * 3
    assert asked == []  # the owner: exempt, never asked
    codes = [fetch(client, link).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    # In memory every request is checked by Flask-Limiter; with Redis the gate's one call
    # let the first two through every window, and only the refused one is checked.
    assert len(asked) == (1 if app.config["REDIS_URL"] else 3)


def test_an_owner_signed_in_by_browser_is_not_limited_nor_is_a_forged_credential_an_owner(
        app, image, link, alice):
    """Only the session cookie or an Authorization header can sign a request in (the
    guard skips loading the user without them); with them, only a live one exempts."""
    set_media_config(app, rate_limits={"per_minute": 2})
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    assert [browser.client.get(image["thumbnail_url"]).status_code for _ in range(4)] == \
        [200] * 4
    forged_cookie = app.test_client()
    forged_cookie.set_cookie(app.config["SESSION_COOKIE_NAME"], "not-a-session")
    assert [fetch(forged_cookie, link, ip="203.0.113.30").status_code
            for _ in range(3)] == [200, 200, 429]
    forged_token = app.test_client()
    assert [fetch(forged_token, link, ip="203.0.113.31", Authorization="Bearer nonsense")
            .status_code for _ in range(3)] == [200, 200, 429]


# -- allow and block lists -------------------------------------------------------------

@pytest.mark.parametrize("ip, entry", [(ATTACKER, "198.51.100.0/24"),
                                       ("2001:db8::42", "2001:db8::/32"),
                                       ("::ffff:198.51.100.7", ATTACKER)])
def test_a_blocked_address_gets_403_on_media(app, client, link, ip, entry):
    set_media_config(app, block_ips=[entry])
    refused = fetch(client, link, ip=ip)
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "ip_blocked"
    assert fetch(client, link, ip="203.0.113.1").status_code == 200
    assert fetch(client, "/login", ip=ip).status_code == 200  # block_scope "media"


def test_block_scope_site_refuses_pages_but_never_sign_in_or_the_admin_api(app, client, link):
    set_media_config(app, block_ips=["198.51.100.0/24"], block_scope="site")
    assert fetch(client, "/", ip=ATTACKER).status_code == 403
    assert fetch(client, "/api/v1/images", ip=ATTACKER).status_code == 403
    assert fetch(client, "/login", ip=ATTACKER).status_code == 200
    assert fetch(client, "/api/v1/admin/media/blocks", ip=ATTACKER).status_code == 401
    # An admin behind a blocked address can still get a token and lift the block.
    token = client.post("/api/v1/auth/token", json={"username": "founder",
                                                    "password": ADMIN_PASSWORD},
                        environ_base={"REMOTE_ADDR": ATTACKER})
    assert token.status_code == 201
    bearer = {"Authorization": f"Bearer {token.get_json()['token']}"}
    assert fetch(client, "/api/v1/admin/media/blocks", ip=ATTACKER, **bearer).status_code == 200
    assert fetch(client, "/api/v1/images", ip=ATTACKER, **bearer).status_code == 403
    assert fetch(client, "/", ip="203.0.113.1").status_code in (200, 302)


def test_an_allowed_address_skips_limits_and_auto_block(app, client, link):
    set_media_config(app, allow_ips=["198.51.100.0/28", "2001:db8::/48"],
                     rate_limits={"per_minute": 2},
                     auto_block={"threshold_per_image_per_hour": 2})
    for ip in (ATTACKER, "2001:db8::1"):
        assert {fetch(client, link, ip=ip).status_code for _ in range(5)} == {200}
    assert [fetch(client, link, ip="198.51.100.99").status_code for _ in range(3)] == \
        [200, 200, 403]  # outside the /28: auto-blocked at the third request


def test_a_blocked_request_runs_no_sql(app, client, link):
    """Lists and auto-blocks are decided from per-process caches, not per-request queries."""
    set_media_config(app, block_ips=["203.0.113.0/24"],
                     auto_block={"threshold_per_image_per_hour": 1, "block_for_s": 0})
    assert [fetch(client, link).status_code for _ in range(2)] == [200, 403]
    assert fetch(client, link).status_code == 403  # the board is loaded again once
    with sql_statements(app) as statements:
        assert fetch(client, link).status_code == 403  # auto-blocked
        assert fetch(client, link, ip="203.0.113.5").status_code == 403  # listed
        assert statements == []
        with app.app_context():
            from app.core.access_cache import changed

            changed()  # the next served request reads the image row again
        assert fetch(client, link, ip=OTHER).status_code == 200
        assert statements, "a served request does query: the listener listens"


def test_the_block_list_wins_over_the_allow_list(app, client, link):
    set_media_config(app, allow_ips=["198.51.100.0/24"], block_ips=[ATTACKER])
    assert fetch(client, link).status_code == 403
    assert fetch(client, link, ip=OTHER).status_code == 200


# -- auto-block ------------------------------------------------------------------------

def test_auto_block_blocks_audits_lists_and_lifts(app, client, link, image, admin_api):
    set_media_config(app, auto_block={"threshold_per_image_per_hour": 3, "block_for_s": 0})
    assert [fetch(client, link).status_code for _ in range(4)] == [200, 200, 200, 403]
    event = last_audit(app)
    assert (event.action, event.outcome, event.actor_id) == ("ip_blocked", "ok", "system")
    assert event.target_id == ATTACKER
    assert event.details["image_id"] == image["id"] and event.details["count"] == 4

    # Blocked for every image and form now; other addresses are not.
    assert fetch(client, link.replace("?", "/thumb?")).get_json()["code"] == "ip_blocked"
    assert fetch(client, f"/media/{uuid.uuid4()}").status_code == 403
    assert fetch(client, link, ip=OTHER).status_code == 200

    items = admin_api.get("/api/v1/admin/media/blocks").get_json()["items"]
    assert [(b["ip"], b["reason"], b["image_id"], b["count"], b["expires_at"])
            for b in items] == [(ATTACKER, "auto_block", image["id"], 4, None)]

    assert admin_api.delete(f"/api/v1/admin/media/blocks/{ATTACKER}").status_code == 400
    lifted = admin_api.delete(f"/api/v1/admin/media/blocks/{ATTACKER}", headers=CONFIRM)
    assert lifted.status_code == 200, lifted.text
    assert (last_audit(app).action, last_audit(app).target_id) == ("ip_unblocked", ATTACKER)
    assert admin_api.get("/api/v1/admin/media/blocks").get_json()["items"] == []
    # Lifted means served again, not re-blocked by the old count.
    assert fetch(client, link).status_code == 200
    assert admin_api.delete(f"/api/v1/admin/media/blocks/{ATTACKER}",
                            headers=CONFIRM).status_code == 404


def test_an_ipv6_block_is_listed_and_lifted_by_its_address(app, client, link, admin_api):
    set_media_config(app, auto_block={"threshold_per_image_per_hour": 1, "block_for_s": 60})
    ip = "2001:db8:0:0::beef"
    assert [fetch(client, link, ip=ip).status_code for _ in range(2)] == [200, 403]
    [item] = admin_api.get("/api/v1/admin/media/blocks").get_json()["items"]
    assert item["ip"] == "2001:db8::/64"  # the /64, as the limits count it (issue 18)
    assert admin_api.delete("/api/v1/admin/media/blocks/2001:db8::beef",
                            headers=CONFIRM).status_code == 200
    assert fetch(client, link, ip=ip).status_code == 200


def test_a_timed_block_ends_by_itself(app, client, link, admin_api, monkeypatch):
    set_media_config(app, auto_block={"threshold_per_image_per_hour": 1, "block_for_s": 60})
    assert [fetch(client, link).status_code for _ in range(2)] == [200, 403]
    [item] = admin_api.get("/api/v1/admin/media/blocks").get_json()["items"]
    assert item["expires_at"] is not None
    later = utcnow() + timedelta(seconds=61)
    monkeypatch.setattr(guard, "utcnow", lambda: later)
    assert fetch(client, f"/media/{uuid.uuid4()}").status_code == 401  # served, no image


def test_bad_ips_and_non_admins_on_the_blocks_api(app, client, alice_api, admin_api):
    assert admin_api.delete("/api/v1/admin/media/blocks/not-an-ip",
                            headers=CONFIRM).status_code == 404
    assert admin_api.delete("/api/v1/admin/media/blocks/203.0.113.5",
                            headers=CONFIRM).status_code == 404
    assert alice_api.get("/api/v1/admin/media/blocks").status_code == 403
    assert alice_api.delete("/api/v1/admin/media/blocks/203.0.113.5",
                            headers=CONFIRM).status_code == 403
    assert client.get("/api/v1/admin/media/blocks").status_code == 401


# -- hotlink protection ----------------------------------------------------------------

def test_hotlink_protection(app, client, link):
    set_media_config(app, allowed_referrers=["example.com"])
    foreign = fetch(client, link, Referer="https://evil.test/page")
    assert foreign.status_code == 403 and foreign.get_json()["code"] == "hotlink_refused"
    assert fetch(client, link, Referer="https://example.com.evil.test/").status_code == 403
    assert fetch(client, link, Referer="https://img.example.com/a").status_code == 200
    assert fetch(client, link, Referer="http://localhost/trash").status_code == 200  # ours
    assert fetch(client, link).status_code == 200  # no Referer: allowed by default
    set_media_config(app, allow_empty_referrer=False)
    assert fetch(client, link).status_code == 403
    assert fetch(client, link, Referer="http://localhost/").status_code == 200
    set_media_config(app, allowed_referrers=[])
    assert fetch(client, link, Referer="https://evil.test/page").status_code == 200


# -- the client address ----------------------------------------------------------------

@pytest.mark.parametrize("engine", ["sqlite"])
def test_a_forged_x_forwarded_for_changes_nothing_without_trusted_proxies(tmp_path, engine):
    app = build_app(tmp_path, MEDIA_CONFIG={"rate_limits": {"per_minute": 2},
                                            "block_ips": ["203.0.113.9"]})
    client = app.test_client()
    path = f"/media/{uuid.uuid4()}"
    codes = [fetch(client, path, ip=ATTACKER, **{"X-Forwarded-For": f"192.0.2.{n}"}).status_code
             for n in range(3)]
    assert codes == [401, 401, 429]  # one budget: the socket's address
    forged = fetch(client, path, ip=OTHER, **{"X-Forwarded-For": "203.0.113.9"})
    assert forged.status_code == 401  # not taken for the blocked address


def test_one_trusted_proxy_makes_its_forwarded_address_the_client(tmp_path):
    app = build_app(tmp_path, TRUSTED_PROXIES=1,
                    MEDIA_CONFIG={"rate_limits": {"per_minute": 2}, "block_ips": ["203.0.113.9"]})
    client = app.test_client()
    path = f"/media/{uuid.uuid4()}"
    proxy = "10.0.0.1"
    blocked = fetch(client, path, ip=proxy, **{"X-Forwarded-For": "1.2.3.4, 203.0.113.9"})
    assert blocked.status_code == 403  # the hop the proxy added, not the forged first one
    spoofed = fetch(client, path, ip=proxy, **{"X-Forwarded-For": "203.0.113.9, 192.0.2.1"})
    assert spoofed.status_code == 401
    codes = [fetch(client, path, ip=proxy, **{"X-Forwarded-For": f"192.0.2.{n}"}).status_code
             for n in range(3)]
    assert codes == [401, 401, 401]  # a budget per forwarded client


def test_an_unreachable_counter_store_keeps_images_served(tmp_path):
    import socket

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    app = build_app(tmp_path, RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{port}/0",
                    MEDIA_CONFIG={"block_ips": [ATTACKER]})
    client = app.test_client()
    path = f"/media/{uuid.uuid4()}"
    assert fetch(client, path, ip=OTHER).status_code == 401  # on to the access check
    assert fetch(client, path, ip=ATTACKER).status_code == 403  # the list needs no store


# -- the panel -------------------------------------------------------------------------

def test_the_panel_edits_lists_previews_cidrs_and_lifts(app, client, link):
    from tests.helpers import Browser

    browser = Browser(app.test_client(), "founder", ADMIN_PASSWORD)
    page = browser.request("GET", "/admin/media/protection", htmx=False)
    assert page.status_code == 200 and "No address is blocked automatically." in page.text

    added = browser.request("POST", "/admin/media/protection/lists/block_ips",
                            data={"entry": "198.51.100.0/24"})
    assert added.status_code == 200 and "198.51.100.0/24" in added.text
    assert fetch(client, link).status_code == 403
    assert last_audit(app).action == "media_config_changed"
    bad = browser.request("POST", "/admin/media/protection/lists/block_ips",
                          data={"entry": "198.51.100.1/24"})
    assert bad.status_code == 400
    removed = browser.request("POST", "/admin/media/protection/lists/block_ips/remove",
                              data={"entry": "198.51.100.0/24"})
    assert removed.status_code == 200 and "198.51.100.0/24" not in removed.text
    assert fetch(client, link).status_code == 200

    preview = browser.request("GET", "/admin/media/protection/cidr?cidr=10.0.0.0/30")
    assert all(s in preview.text for s in ("10.0.0.0/30", "10.0.0.0", "10.0.0.3", ">4<"))
    v6 = browser.request("GET", "/admin/media/protection/cidr?cidr=2001:db8::/127")
    assert "2001:db8::1" in v6.text

    saved = browser.request("POST", "/admin/media/protection/settings", data={
        "per_minute": "5", "per_hour": "100", "per_day": "1000", "threshold": "2",
        "block_for_s": "0", "block_scope": "media", "allow_empty_referrer": "on"})
    assert saved.status_code == 200
    negative = browser.request("POST", "/admin/media/protection/settings", data={
        "per_minute": "-1", "per_hour": "100", "per_day": "1000", "threshold": "2",
        "block_for_s": "0"})
    assert negative.status_code == 400
    assert [fetch(client, link, ip=OTHER).status_code for _ in range(3)] == [200, 200, 403]

    page = browser.request("GET", "/admin/media/protection", htmx=False)
    assert OTHER in page.text and "until lifted" in page.text
    modal = browser.request("GET", f"/admin/media/protection/blocks/{OTHER}/confirm")
    assert "modal-warn" in modal.text and "X-Confirm-Delete" in modal.text
    assert browser.request("DELETE", f"/admin/media/protection/blocks/{OTHER}") \
        .status_code == 400
    lifted = browser.request("DELETE", f"/admin/media/protection/blocks/{OTHER}",
                             headers=CONFIRM)
    assert lifted.status_code == 200 and 'hx-swap-oob' in lifted.text
    assert fetch(client, link, ip=OTHER).status_code == 200
