"""The sign-in page in the product's voice: a lockout keeps the form and says how long to
wait; signing out, and a session that ended, are told on the page (issue 11, defect 8)."""

from __future__ import annotations

import re

from tests.conftest import USER_PASSWORD
from tests.helpers import Browser

WRONG = {"username": "alice", "password": "wrong-password"}


def csrf_of(page) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)


def test_a_lockout_keeps_the_form_and_says_how_long(app, alice):
    app.config["LOGIN_RATE_LIMIT"] = "1 per minute"
    client = app.test_client()
    token = csrf_of(client.get("/login"))
    assert client.post("/login", data={"csrf_token": token, **WRONG}).status_code == 401
    refused = client.post("/login", data={"csrf_token": token, "username": "alice",
                                          "password": USER_PASSWORD})
    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    assert f"Try again in {wait} seconds" in refused.text
    # Not a dead end: the form is still there, and the way forward is named.
    assert 'name="username"' in refused.text and 'name="password"' in refused.text
    assert "Ask an administrator" in refused.text
    assert "Back to the gallery" not in refused.text


def test_signing_out_says_so_on_the_login_page(app, alice):
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    out = browser.client.post("/logout", data={"csrf_token": browser.csrf})
    assert out.status_code == 303
    page = browser.client.get(out.headers["Location"])
    assert "You have been signed out." in page.text
    # Said once, not on every later visit.
    assert "signed out" not in browser.client.get("/login").text


def test_a_session_that_ended_says_so(app, alice):
    laptop = Browser(app.test_client(), "alice", USER_PASSWORD)
    phone = Browser(app.test_client(), "alice", USER_PASSWORD)
    laptop.request("POST", "/account/sessions/sign-out-others")
    bounced = phone.request("GET", "/account", htmx=False)
    assert bounced.status_code == 302
    page = phone.client.get("/login")
    assert "Your session has ended" in page.text
    # A visitor who never signed in sees no such message.
    assert "session has ended" not in app.test_client().get("/login").text
