"""A deactivated user's next click says why they are signed out (ux review, minor 12)."""

from __future__ import annotations

from tests.conftest import USER_PASSWORD
from tests.helpers import Browser


def deactivate(app, user_id):
    from app.users.repository import get_users

    with app.app_context():
        get_users().update(user_id, {}, {"status": "inactive"}, bump_epoch=True)


def test_next_click_after_deactivation_says_deactivated(app, alice):
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    deactivate(app, alice.id)
    bounced = browser.request("GET", "/account", htmx=False)
    assert bounced.status_code == 302
    page = browser.client.get("/login")
    assert "This account has been deactivated" in page.text
    assert "Your session has ended" not in page.text
    assert 'class="alert alert-error" role="alert"' in page.text
    # Said once.
    assert "deactivated" not in browser.client.get("/login").text


def test_next_htmx_click_after_deactivation_in_spanish(app, alice):
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    deactivate(app, alice.id)
    bounced = browser.request("GET", "/", headers={"Accept-Language": "es"})
    assert bounced.status_code == 401 and bounced.headers.get("HX-Redirect")
    page = browser.client.get("/login", headers={"Accept-Language": "es"})
    assert "Esta cuenta está desactivada" in page.text
    assert "Tu sesión ha terminado" not in page.text


def test_reactivated_user_with_an_old_session_is_told_it_ended(app, alice):
    from app.users.repository import get_users

    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    deactivate(app, alice.id)
    with app.app_context():
        get_users().update(alice.id, {}, {"status": "active"})
    assert browser.request("GET", "/account", htmx=False).status_code == 302
    page = browser.client.get("/login")
    assert "Your session has ended" in page.text
    assert "deactivated" not in page.text
