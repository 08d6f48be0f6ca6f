"""Server-side sessions: sign-out ends them, lifetimes, the account page's list (SPEC 3, 5)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import event, select, update

from app.auth.models import UserSession
from app.core.config import ConfigError, load_settings
from app.core.db import utcnow
from app.core.extensions import db
from tests.conftest import USER_PASSWORD
from tests.helpers import Browser, count_calls


def copy_of(app, browser) -> Browser:
    """Another client holding a copy of ``browser``'s cookie (a stolen cookie)."""
    thief = object.__new__(Browser)
    thief.client, thief.csrf = app.test_client(), browser.csrf
    thief.client.set_cookie("session", browser.client.get_cookie("session").value)
    return thief


def session_rows(app, user_id=None) -> list[UserSession]:
    with app.app_context():
        query = select(UserSession).order_by(UserSession.created_at)
        if user_id is not None:
            query = query.where(UserSession.user_id == user_id)
        return list(db.session.execute(query).scalars())


def signed_in(browser) -> bool:
    return browser.request("GET", "/account", htmx=False).status_code == 200


def test_a_copied_cookie_is_dead_after_sign_out(app, alice):
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    thief = copy_of(app, browser)
    assert signed_in(thief)  # the copy works while the session lives
    assert browser.client.post("/logout", data={"csrf_token": browser.csrf}).status_code == 303
    assert session_rows(app, alice.id) == []
    assert thief.request("GET", "/account", htmx=False).status_code == 302
    assert thief.request("GET", "/api/v1/images", htmx=False).status_code == 401
    write = thief.request("POST", "/account/retention", data={"days": "default"})
    assert write.status_code == 401 and write.headers["HX-Redirect"] == "/login"


def test_the_cookie_carries_a_random_id_not_a_reusable_identity(app, alice):
    """Two sign-ins of one user give two sessions; ending one leaves the other."""
    first = Browser(app.test_client(), "alice", USER_PASSWORD)
    second = Browser(app.test_client(), "alice", USER_PASSWORD)
    assert len(session_rows(app, alice.id)) == 2
    first.client.post("/logout", data={"csrf_token": first.csrf})
    assert not signed_in(first) and signed_in(second)


def test_head_logout_changes_nothing(app, alice):
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    response = browser.client.head("/logout")
    assert response.status_code == 200
    assert "session=;" not in response.headers.get("Set-Cookie", "")
    assert signed_in(browser) and len(session_rows(app, alice.id)) == 1
    # Nor does a GET: it only asks.
    assert "Sign out?" in browser.client.get("/logout").text
    assert signed_in(browser)


def test_logout_without_csrf_is_refused_and_signs_nobody_out(app, alice):
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    assert browser.client.post("/logout").status_code == 400
    assert signed_in(browser)


@pytest.mark.parametrize("column,minutes", [("last_seen_at", 61), ("created_at", 24 * 60 + 1)])
def test_idle_and_absolute_lifetimes_end_a_session(app, alice, column, minutes):
    app.config.update(SESSION_IDLE_MINUTES=60, SESSION_ABSOLUTE_MINUTES=24 * 60)
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    with app.app_context():
        past = utcnow() - timedelta(minutes=minutes - 2)
        db.session.execute(update(UserSession).values(**{column: past}))
        db.session.commit()
    assert signed_in(browser)  # two minutes short of either end: still alive
    with app.app_context():
        db.session.execute(update(UserSession).values(
            **{column: utcnow() - timedelta(minutes=minutes)}))
        db.session.commit()
    assert not signed_in(browser)
    assert browser.request("GET", "/api/v1/images", htmx=False).status_code == 401


def test_activity_keeps_a_session_alive_written_at_most_once_a_minute(app, alice):
    app.config.update(SESSION_IDLE_MINUTES=60)
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    writes = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("UPDATE USER_SESSIONS") \
                and "WHERE" in statement.upper():
            writes.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(5):
            assert signed_in(browser)
        assert writes == []  # reads stay reads
        with app.app_context():
            stale = utcnow() - timedelta(minutes=50)
            db.session.execute(update(UserSession).values(last_seen_at=stale))
            db.session.commit()
        assert signed_in(browser) and signed_in(browser)
        assert len(writes) == 1
    finally:
        event.remove(engine, "before_cursor_execute", count)
    (row,) = session_rows(app, alice.id)
    assert utcnow() - row.last_seen_at < timedelta(minutes=1)
    assert row.expires_at > utcnow() + timedelta(minutes=59)


def test_deactivation_and_password_change_still_end_sessions(app, alice):
    from app.users.repository import get_users

    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    with app.app_context():
        get_users().update(alice.id, {}, {"status": "inactive"}, bump_epoch=True)
    assert not signed_in(browser)
    with app.app_context():
        get_users().update(alice.id, {}, {"status": "active"})
    assert not signed_in(browser)  # the row remembers the old epoch


def test_password_change_keeps_only_this_session(app, alice):
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    other = Browser(app.test_client(), "alice", USER_PASSWORD)
    before = browser.client.get_cookie("session").value
    done = browser.request("POST", "/account/password", data={
        "current_password": USER_PASSWORD, "new_password": "a-new-password",
        "repeat_password": "a-new-password"})
    assert done.status_code == 200
    assert not signed_in(other)
    assert len(session_rows(app, alice.id)) == 1
    # The old cookie of this browser is dead (a new session id), the browser continues
    # with its CSRF token intact.
    stale = copy_of(app, browser)
    stale.client.set_cookie("session", before)
    assert not signed_in(stale)
    assert browser.request("POST", "/account/retention", data={"days": "7"}).status_code == 200


# -- the account page's list -----------------------------------------------------------------

def test_account_lists_sessions_with_this_device(app, alice):
    laptop = Browser(app.test_client(), "alice", USER_PASSWORD)
    phone_client = app.test_client()
    phone_client.environ_base.update(REMOTE_ADDR="10.1.2.3", HTTP_USER_AGENT="PhoneBrowser/1.0")
    Browser(phone_client, "alice", USER_PASSWORD)
    page = laptop.request("GET", "/account", htmx=False)
    assert page.status_code == 200
    rows = re.findall(r'<tr id="session-([0-9a-f-]+)">(.*?)</tr>', page.text, re.S)
    assert len(rows) == 2
    phone = [body for _, body in rows if "PhoneBrowser/1.0" in body]
    assert phone and "10.1.2.3" in phone[0] and "This device" not in phone[0]
    this = [body for _, body in rows if "This device" in body]
    assert len(this) == 1 and "127.0.0.1" in this[0]
    assert "Sign out everywhere else" in page.text and "Sign out everywhere" in page.text
    assert 'name="csrf_token"' in page.text


def test_sign_out_one_other_session(app, alice, make_user):
    laptop = Browser(app.test_client(), "alice", USER_PASSWORD)
    phone = Browser(app.test_client(), "alice", USER_PASSWORD)
    laptop_row, phone_row = session_rows(app, alice.id)
    url = f"/account/sessions/{phone_row.id}/sign-out"
    assert laptop.request("POST", url, csrf=False).status_code == 400
    assert signed_in(phone)
    # Someone else cannot end it either.
    make_user("mallory")
    mallory = Browser(app.test_client(), "mallory", USER_PASSWORD)
    assert mallory.request("POST", url).status_code == 404
    assert mallory.request("POST", "/account/sessions/not-a-uuid/sign-out").status_code == 404
    assert signed_in(phone)
    ended = laptop.request("POST", url)
    assert ended.status_code == 200
    assert 'id="sessions-panel"' in ended.text and str(phone_row.id) not in ended.text
    assert not signed_in(phone) and signed_in(laptop) and signed_in(mallory)


def test_sign_out_everywhere_else_and_everywhere(app, alice):
    laptop = Browser(app.test_client(), "alice", USER_PASSWORD)
    phones = [Browser(app.test_client(), "alice", USER_PASSWORD) for _ in range(2)]
    others = laptop.request("POST", "/account/sessions/sign-out-others")
    assert others.status_code == 200 and "Signed out 2 other sessions" in others.text
    assert not any(signed_in(p) for p in phones) and signed_in(laptop)
    tablet = Browser(app.test_client(), "alice", USER_PASSWORD)
    everywhere = laptop.request("POST", "/account/sessions/sign-out-all")
    assert everywhere.status_code == 200 and everywhere.headers["HX-Redirect"] == "/login"
    assert not signed_in(laptop) and not signed_in(tablet)
    assert session_rows(app, alice.id) == []


def test_signing_out_this_device_from_the_list(app, alice):
    laptop = Browser(app.test_client(), "alice", USER_PASSWORD)
    (row,) = session_rows(app, alice.id)
    response = laptop.request("POST", f"/account/sessions/{row.id}/sign-out", htmx=False)
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert not signed_in(laptop)


def test_sessions_of_a_deleted_user_are_removed(app, alice, admin_api):
    Browser(app.test_client(), "alice", USER_PASSWORD)
    response = admin_api.delete(f"/api/v1/users/{alice.id}?permanent=true&force=true",
                                headers={"X-Confirm-Delete": "alice"})
    assert response.status_code == 200, response.get_json()
    assert session_rows(app, alice.id) == []


# -- settings --------------------------------------------------------------------------------

@pytest.mark.parametrize("env,name", [
    ({"SESSION_IDLE_MINUTES": "0"}, "SESSION_IDLE_MINUTES"),
    ({"SESSION_IDLE_MINUTES": "week"}, "SESSION_IDLE_MINUTES"),
    ({"SESSION_ABSOLUTE_MINUTES": "-5"}, "SESSION_ABSOLUTE_MINUTES"),
    ({"SESSION_IDLE_MINUTES": "120", "SESSION_ABSOLUTE_MINUTES": "60"}, "SESSION_IDLE_MINUTES"),
    ({"LOGIN_RATE_LIMIT": "lots"}, "LOGIN_RATE_LIMIT"),
    ({"LOGIN_USER_RATE_LIMIT": "10 per fortnight"}, "LOGIN_USER_RATE_LIMIT"),
])
def test_bad_session_and_limit_settings_stop_the_app(tmp_path, env, name):
    with pytest.raises(ConfigError, match=name):
        load_settings({"PAPELERA_INSTANCE": str(tmp_path), **env})


def test_session_defaults(tmp_path):
    settings = load_settings({"PAPELERA_INSTANCE": str(tmp_path)})
    assert settings["SESSION_IDLE_MINUTES"] == 7 * 24 * 60
    assert settings["SESSION_ABSOLUTE_MINUTES"] == 30 * 24 * 60
    assert settings["PERMANENT_SESSION_LIFETIME"] == timedelta(days=30)
    assert settings["LOGIN_USER_RATE_LIMIT"] == "20 per 10 minutes"


def test_signing_in_again_ends_the_previous_session(app, alice, make_user):
    make_user("bob")
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    again = browser.client.post("/login", data={  # the same browser, another account
        "csrf_token": browser.csrf, "username": "bob", "password": USER_PASSWORD})
    assert again.status_code == 303
    assert session_rows(app, alice.id) == []
    assert len(session_rows(app)) == 1


def test_a_sign_in_that_ends_no_session_keeps_every_cached_media_decision(app, make_user):
    """N8: signing in used to move the media access generation twice (two DELETEs that
    matched nothing), dropping every process's cached decisions. Only a session that
    really ended is an event; signing out is one."""
    from sqlalchemy import text

    from app.core.extensions import db as sql

    def generation():
        with app.app_context():
            value = sql.session.execute(text(
                "SELECT value FROM media_access_generation WHERE id = 1")).scalar()
            sql.session.rollback()
            return value

    make_user("olga")
    before = generation()
    browser = Browser(app.test_client(), "olga", USER_PASSWORD)
    assert generation() == before
    browser.request("POST", "/logout", htmx=False)
    assert generation() != before


def test_the_session_signer_is_built_once_per_set_of_keys(app, alice, monkeypatch):
    """Flask builds a signer per request; ours keeps it while the keys stay the same, and
    a changed ``SECRET_KEY`` takes effect at once (old cookies stop unless the old key is
    among ``SECRET_KEY_FALLBACKS``)."""
    from flask.sessions import SecureCookieSessionInterface

    built = count_calls(monkeypatch, SecureCookieSessionInterface, "get_signing_serializer")
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    built.clear()
    assert all(signed_in(browser) for _ in range(3))
    assert built == []  # the keys did not change since sign-in: the same signer

    old_key = app.config["SECRET_KEY"]
    app.secret_key = "another-secret-key-of-enough-length-0123456789"
    assert not signed_in(browser)
    assert built == [1]
    app.config["SECRET_KEY_FALLBACKS"] = [old_key]
    assert signed_in(browser)


def test_an_empty_session_is_saved_without_reading_the_cookie_settings(app, alice, alice_api,
                                                                        monkeypatch):
    """A session that is empty and was not emptied sets and deletes no cookie: its answer
    only says ``Vary: Cookie`` when the session was read. Sign-in still sets the cookie,
    and a session emptied still deletes it."""
    from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

    settings = count_calls(monkeypatch, SecureCookieSessionInterface, "get_cookie_domain")
    token_answer = alice_api.get("/api/v1/images")  # Flask-Login reads the empty session
    assert token_answer.status_code == 200 and "Set-Cookie" not in token_answer.headers
    assert "Cookie" in token_answer.headers.get("Vary", "")
    anonymous = app.test_client().get("/healthz")
    assert anonymous.status_code == 200 and "Set-Cookie" not in anonymous.headers
    assert settings == []

    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    assert settings and signed_in(browser)
    out = browser.client.post("/logout", data={"csrf_token": browser.csrf})
    assert out.status_code == 303 and "session=" in out.headers["Set-Cookie"]  # its flash
    settings.clear()
    emptied = SecureCookieSession({"_user_id": "x"})
    emptied.pop("_user_id")
    response = app.response_class()
    with app.test_request_context():
        app.session_interface.save_session(app, emptied, response)
    assert settings == [1]
    assert re.search(r"session=;.*Expires=Thu, 01 Jan 1970", response.headers["Set-Cookie"])
    assert "Cookie" in response.headers["Vary"]


def test_session_protection_hashes_only_a_session_it_can_compare_with(app, alice, alice_api,
                                                                       monkeypatch):
    """Flask-Login's session protection (``basic``) still marks a cookie used from another
    browser as not fresh; a request with an empty session (a bearer token, an anonymous
    visit) has nothing to compare and is not hashed."""
    from flask import session

    from app.core.extensions import login_manager

    hashed = count_calls(monkeypatch, login_manager, "_session_identifier_generator")
    assert alice_api.get("/api/v1/images").status_code == 200
    assert app.test_client().get("/healthz").status_code == 200
    assert hashed == []

    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    hashed.clear()
    assert signed_in(browser)
    assert hashed == [1]
    thief = copy_of(app, browser)
    thief.client.environ_base["HTTP_USER_AGENT"] = "another browser"
    with thief.client:
        assert signed_in(thief)  # basic protection: still signed in, but not fresh
        assert session["_fresh"] is False
