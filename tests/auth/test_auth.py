"""Tokens, sessions, the auth epoch, CSRF and the failed-login limit."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.core.db import utcnow
from tests.conftest import USER_PASSWORD, login_api, png_bytes
from tests.helpers import Browser, audit_count, last_audit


def test_token_round_trip_and_revocation(client, alice):
    response = client.post("/api/v1/auth/token",
                           json={"username": "alice", "password": USER_PASSWORD})
    assert response.status_code == 201
    body = response.get_json()
    assert body["token"].startswith("pap_") and body["expires_at"].endswith("Z")
    auth = {"Authorization": f"Bearer {body['token']}"}
    assert client.get("/api/v1/images", headers=auth).status_code == 200
    assert client.delete("/api/v1/auth/token", headers=auth).status_code == 200
    assert client.get("/api/v1/images", headers=auth).status_code == 401


def test_tokens_are_stored_as_sha256(app, alice_api):
    import hashlib

    from sqlalchemy import select

    from app.auth.models import ApiToken
    from app.core.extensions import db

    with app.app_context():
        digests = db.session.execute(select(ApiToken.digest)).scalars().all()
    assert hashlib.sha256(alice_api.token.encode()).hexdigest() in digests
    assert alice_api.token not in digests


def test_expired_token_is_refused(app, alice_api):
    from sqlalchemy import update

    from app.auth.models import ApiToken
    from app.core.extensions import db

    with app.app_context():
        db.session.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert alice_api.get("/api/v1/images").status_code == 401


@pytest.mark.parametrize("payload", [None, {}, {"username": "alice"}, {"username": 1,
                                                                        "password": "x"}])
def test_token_request_needs_both_fields(client, alice, payload):
    response = client.post("/api/v1/auth/token", json=payload)
    assert response.status_code == 400


def test_failed_logins_write_the_same_record_for_known_and_unknown_names(app, client, alice):
    """SPEC 3: `login_failed` by `system`, identical whether or not the name exists."""
    before = audit_count(app)
    records = []
    for name in ("alice", "ghost"):
        response = client.post("/api/v1/auth/token", json={"username": name, "password": "nope"})
        assert response.status_code == 401
        assert response.get_json()["code"] == "invalid_credentials"
        event = last_audit(app)
        records.append({k: getattr(event, k) for k in (
            "actor_id", "actor_role", "action", "outcome", "target_type", "ip", "user_agent",
            "details")} | {"target_length": len(event.target_id)})
        # Neither the typed name nor the account id is kept in clear.
        assert name not in event.target_id and alice.id != event.target_id
        assert name not in str(event.details)
    assert audit_count(app) == before + 2
    assert records[0] == records[1]
    assert records[0]["actor_id"] == "system" and records[0]["action"] == "login_failed"
    assert records[0]["outcome"] == "denied" and records[0]["target_type"] == "login_name"


def test_the_same_typed_name_gets_the_same_digest(app, client, alice):
    """An admin can still see that one name is being guessed at, whatever the case."""
    targets = []
    for name in ("alice", "ALICE ", "bob"):
        client.post("/api/v1/auth/token", json={"username": name, "password": "nope"})
        targets.append(last_audit(app).target_id)
    assert targets[0] == targets[1] != targets[2]


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Bearer pap_forged", "Basic abc",
                                    "pap_token"])
def test_bad_credentials_are_401(client, header):
    response = client.get("/api/v1/images", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.get_json()["code"] == "unauthenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_epoch_change_kills_tokens_and_sessions_for_good(app, client, alice):
    from app.users.repository import get_users

    api_token = login_api(client, "alice", USER_PASSWORD)
    browser_client = app.test_client()
    browser = Browser(browser_client, "alice", USER_PASSWORD)
    with app.app_context():
        users = get_users()
        users.update(alice.id, {}, {"status": "inactive"}, bump_epoch=True)
    assert client.get("/api/v1/images",
                      headers={"Authorization": f"Bearer {api_token}"}).status_code == 401
    assert browser.request("GET", "/api/v1/images", htmx=False).status_code == 401
    # Reactivated: the old token and session stay dead.
    with app.app_context():
        get_users().update(alice.id, {}, {"status": "active"})
    assert client.get("/api/v1/images",
                      headers={"Authorization": f"Bearer {api_token}"}).status_code == 401
    assert browser.request("GET", "/api/v1/images", htmx=False).status_code == 401
    assert client.post("/api/v1/auth/token", json={"username": "alice",
                                                   "password": USER_PASSWORD}).status_code == 201


def test_deactivated_user_is_told_so(app, client, alice):
    from app.users.repository import get_users

    with app.app_context():
        get_users().update(alice.id, {}, {"status": "inactive"}, bump_epoch=True)
    response = client.post("/api/v1/auth/token",
                           json={"username": "alice", "password": USER_PASSWORD})
    assert response.status_code == 401
    assert response.get_json()["code"] == "account_inactive"
    assert "deactivated" in response.get_json()["error"]
    page = client.get("/login")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    response = client.post("/login", data={"csrf_token": token, "username": "alice",
                                           "password": USER_PASSWORD})
    assert response.status_code == 401
    assert "deactivated" in response.text


def test_failed_logins_are_rate_limited_per_ip_successes_are_free(app, client, alice):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    for _ in range(5):  # successes never count
        assert client.post("/api/v1/auth/token", json={"username": "alice",
                                                       "password": USER_PASSWORD}
                           ).status_code == 201
    for _ in range(3):
        assert client.post("/api/v1/auth/token",
                           json={"username": "alice", "password": "bad"}).status_code == 401
    blocked = client.post("/api/v1/auth/token", json={"username": "alice",
                                                      "password": USER_PASSWORD})
    assert blocked.status_code == 429
    assert blocked.get_json()["code"] == "rate_limited"
    assert int(blocked.headers["Retry-After"]) > 0
    # The login page shares the same counter.
    page = client.get("/login")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    assert client.post("/login", data={"csrf_token": token, "username": "alice",
                                       "password": USER_PASSWORD}).status_code == 429
    # Another client IP is not affected.
    other = client.post("/api/v1/auth/token", json={"username": "alice", "password": "bad"},
                        environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other.status_code == 401


def test_cookie_session_needs_csrf_on_api_writes_bearer_does_not(app, alice, alice_api):
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    import io

    from tests.conftest import png_bytes

    def upload(csrf):
        return browser.request("POST", "/api/v1/images", csrf=csrf, htmx=False,
                               data={"file": (io.BytesIO(png_bytes()), "a.png")},
                               content_type="multipart/form-data")

    refused = upload(csrf=False)
    assert refused.status_code == 400
    assert refused.get_json()["code"] == "csrf_failed"
    assert upload(csrf=True).status_code == 201
    assert alice_api.upload().status_code == 201


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_a_write_from_another_site_is_refused_even_with_a_valid_token(app, alice, site):
    """Fetch Metadata as defence in depth: a token leaked to another site is not enough."""
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    image = browser.upload(png_bytes())
    assert image.status_code in (200, 201)
    image_id = re.search(r'id="image-([0-9a-f-]{36})"', image.text).group(1)
    foreign = {"Sec-Fetch-Site": site, "X-Confirm-Delete": "yes"}
    refused = browser.request("DELETE", f"/images/{image_id}", headers=foreign)
    assert refused.status_code == 400
    assert "another site" in refused.get_data(as_text=True)
    logout = browser.request("POST", "/logout", headers=foreign, htmx=False)
    assert logout.status_code == 400
    assert browser.client.get("/").status_code == 200  # still signed in, image still there
    assert f"image-{image_id}" in browser.client.get("/").text
    same = browser.request("DELETE", f"/images/{image_id}",
                           headers={"Sec-Fetch-Site": "same-origin", "X-Confirm-Delete": "yes"})
    assert same.status_code == 200


def test_unauthenticated_write_is_401_before_csrf(client):
    response = client.post("/api/v1/images")
    assert response.status_code == 401


def test_login_page_flow_and_open_redirect_guard(app, alice):
    client = app.test_client()
    assert client.get("/").status_code == 302
    page = client.get("/login?next=//evil.example/x")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    response = client.post("/login?next=//evil.example/x",
                           data={"csrf_token": token, "username": "alice",
                                 "password": USER_PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == "/"
    gallery = client.get("/")
    assert gallery.status_code == 200
    fresh = re.search(r'name="csrf_token" value="([^"]+)"', gallery.text).group(1)
    assert fresh != token  # a new session, a new token
    assert client.post("/logout", data={"csrf_token": fresh}).status_code == 303
    assert client.get("/").status_code == 302


def test_login_form_without_csrf_is_refused(client, alice):
    response = client.post("/login", data={"username": "alice", "password": USER_PASSWORD})
    assert response.status_code == 400


def test_htmx_request_without_session_gets_hx_redirect(client):
    response = client.get("/trash", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login"


def test_session_cookie_flags(app, alice):
    client = app.test_client()
    page = client.get("/login")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    response = client.post("/login", data={"csrf_token": token, "username": "alice",
                                           "password": USER_PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_logout_by_get_asks_first(app, alice):
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    page = browser.request("GET", "/logout", htmx=False)
    assert page.status_code == 200 and "Sign out?" in page.text
    assert browser.request("GET", "/", htmx=False).status_code == 200  # still signed in
    assert browser.request("POST", "/logout", htmx=False, csrf=False).status_code == 400
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    done = browser.client.post("/logout", data={"csrf_token": token})
    assert done.status_code == 303
    assert browser.request("GET", "/", htmx=False).status_code == 302


def test_failed_login_counter_is_shared_by_workers_through_redis(tmp_path):
    """Two app instances (two workers) on one Redis share one failed-login counter."""
    import socket
    import uuid

    from tests.conftest import build_app

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        pytest.skip("Redis is not answering on 127.0.0.1:6379")
    # A key prefix of our own, so parallel runs and old counters never meet.
    settings = {"REDIS_URL": "redis://127.0.0.1:6379/15", "RATELIMIT_STORAGE_URI": None,
                "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
                "LOGIN_RATE_LIMIT": "2 per minute"}
    first = build_app(tmp_path / "one", **settings)
    second = build_app(tmp_path / "two", **settings)
    assert first.config["RATELIMIT_STORAGE_URI"].endswith("redis://127.0.0.1:6379/15")
    bad = {"username": "founder", "password": "wrong"}
    assert first.test_client().post("/api/v1/auth/token", json=bad).status_code == 401
    assert second.test_client().post("/api/v1/auth/token", json=bad).status_code == 401
    assert first.test_client().post("/api/v1/auth/token", json=bad).status_code == 429
    assert second.test_client().post("/api/v1/auth/token", json=bad).status_code == 429
