"""Error pages in the product's voice (issue 11, defect 10): a heading in words, no
Werkzeug default sentence, and a way forward."""

from __future__ import annotations

from tests.conftest import USER_PASSWORD
from tests.helpers import Browser

WERKZEUG = ("If you entered the URL manually", "The requested URL was not found",
            "The method is not allowed")


def test_a_missing_page_says_so_and_leads_back(app, alice):
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    page = browser.request("GET", "/no-such-page", htmx=False)
    assert page.status_code == 404
    assert "Nothing here" in page.text and "There is nothing at this address" in page.text
    assert not any(sentence in page.text for sentence in WERKZEUG)
    assert 'href="/"' in page.text and "Go to your photos" in page.text


def test_a_signed_out_visitor_is_offered_the_sign_in(client):
    page = client.get("/no-such-page")
    assert page.status_code == 404 and 'href="/login"' in page.text


def test_a_wrong_method_and_the_api_use_plain_sentences(app, client):
    wrong = client.put("/login")
    assert wrong.status_code == 405
    assert "does not take that kind of request" in wrong.text
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.get_json()["code"] == "not_found"
    assert not any(sentence in api.get_json()["error"] for sentence in WERKZEUG)


def test_a_forbidden_admin_page_is_worded_for_people(app, alice):
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    page = browser.request("GET", "/admin/users", htmx=False)
    assert page.status_code == 403
    assert "This page is not for you" in page.text and "403" in page.text


def test_a_locked_database_is_busy_not_unreachable(app):
    """N12: SQLite's "database is locked" is a busy server, not a lost one: 503 ``busy``."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    def locked():
        raise OperationalError("UPDATE images", {}, sqlite3.OperationalError(
            "database is locked"))

    def gone():
        raise OperationalError("SELECT 1", {}, sqlite3.OperationalError("unable to open"))

    app.add_url_rule("/api/v1/test-locked", "test_locked", locked)
    app.add_url_rule("/api/v1/test-gone", "test_gone", gone)
    client = app.test_client()
    busy = client.get("/api/v1/test-locked")
    assert busy.status_code == 503 and busy.headers["Retry-After"]
    assert busy.get_json() == {"error": "The database is busy right now. Try again in a "
                                        "moment.", "code": "busy"}
    down = client.get("/api/v1/test-gone")
    assert down.status_code == 503 and down.get_json()["code"] == "unavailable"
