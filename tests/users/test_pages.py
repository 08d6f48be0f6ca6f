"""The admin users page and the account page, through the test client (htmx partials)."""

from __future__ import annotations

import io
import re

import pytest

from app.users.repository import get_users
from tests.conftest import USER_PASSWORD, login_api, png_bytes
from tests.helpers import Browser

YES = {"X-Confirm-Delete": "yes"}


@pytest.fixture
def app(sqlite_app):
    return sqlite_app


def doc(app, username):
    with app.app_context():
        user = get_users().by_username(username)
        return get_users().get_doc(user.id) if user else None


def row(html, user_id) -> str:
    match = re.search(rf'<tr id="user-{user_id}".*?</tr>', html, re.S)
    return match.group(0) if match else ""


def actions(html, user_id) -> set[str]:
    return set(re.findall(r'data-action="(\w+)"', row(html, user_id)))


def test_the_page_offers_only_what_the_rules_allow(app, founder_browser, make_user):
    admin2, plain = make_user("admin2", role="admin"), make_user("plain")
    page = founder_browser.request("GET", "/admin/users", htmx=False)
    assert page.status_code == 200 and "<html" in page.text
    founder_id = doc(app, "founder")["_id"]
    assert actions(page.text, founder_id) == set()
    assert actions(page.text, admin2.id) == {"deactivate", "delete"}
    assert actions(page.text, plain.id) == {"deactivate", "delete"}
    assert 'hx-trigger="input changed delay:300ms, search"' in page.text
    assert 'name="csrf_token"' in page.text and 'id="create-user"' in page.text
    assert 'class="table users-table"' in page.text
    assert 'href="/admin/users"' in page.text and 'href="/account"' in page.text
    # Another admin sees no button on the founder or on admins.
    other = Browser(app.test_client(), "admin2", USER_PASSWORD)
    page = other.request("GET", "/admin/users", htmx=False)
    assert actions(page.text, founder_id) == set()
    assert actions(page.text, admin2.id) == set()
    assert actions(page.text, plain.id) == {"deactivate", "delete"}


def test_search_and_filter_answer_the_list_block(app, founder_browser, make_user):
    for name in ("nina", "nora", "otto"):
        make_user(name)
    response = founder_browser.request("GET", "/admin/users?q=no&status=all")
    assert response.status_code == 200 and "<html" not in response.text
    assert response.text.lstrip().startswith('<div id="user-list">')
    assert "nora" in response.text and "nina" not in response.text
    assert "HX-Request" in response.headers["Vary"]
    inactive = founder_browser.request("GET", "/admin/users?status=inactive")
    assert "No user matches" in inactive.text
    history = founder_browser.request("GET", "/admin/users?q=no",
                                      headers={"HX-History-Restore-Request": "true"})
    assert "<html" in history.text
    bad = founder_browser.request("GET", "/admin/users?status=weird")
    assert bad.status_code == 400 and bad.headers["HX-Retarget"] == "#toasts"


def test_the_page_is_for_admins(app, make_user):
    make_user("pat")
    plain = Browser(app.test_client(), "pat", USER_PASSWORD)
    assert plain.request("GET", "/admin/users", htmx=False).status_code == 403
    assert 'href="/admin/users"' not in plain.request("GET", "/", htmx=False).text
    anonymous = app.test_client().get("/admin/users")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_create_user_form(app, founder_browser):
    form = {"username": "newbie", "email": "newbie@example.com", "password": "long-enough",
            "role": "user", "csrf_token": founder_browser.csrf}
    created = founder_browser.request("POST", "/admin/users", data=form)
    assert created.status_code == 200, created.text
    assert created.headers["HX-Trigger"] == "users-changed"
    assert "Created user newbie" in created.text and 'id="create-user"' in created.text
    assert doc(app, "newbie")["role"] == "user"
    duplicate = founder_browser.request("POST", "/admin/users",
                                        data={**form, "email": "other@example.com"})
    assert duplicate.status_code == 409 and "already taken" in duplicate.text
    invalid = founder_browser.request("POST", "/admin/users",
                                      data={**form, "username": "No Way", "password": "x"})
    assert invalid.status_code == 400
    # The bad username, the short password and the e-mail newbie already has: all at once.
    assert invalid.text.count('class="field-error"') == 3 and 'aria-invalid="true"' in invalid.text
    no_csrf = founder_browser.request("POST", "/admin/users", csrf=False,
                                      data={k: v for k, v in form.items() if k != "csrf_token"})
    assert no_csrf.status_code == 400 and doc(app, "newbie") is not None


def test_deactivate_modal_then_deactivate_and_reactivate(app, founder_browser, alice):
    modal = founder_browser.request("GET", f"/admin/users/{alice.id}/confirm/deactivate")
    assert modal.status_code == 200
    assert 'class="modal modal-warn"' in modal.text and "Can be reactivated later" in modal.text
    assert f'hx-patch="/admin/users/{alice.id}/deactivate"' in modal.text
    assert "X-Confirm-Delete" in modal.text
    refused = founder_browser.request("PATCH", f"/admin/users/{alice.id}/deactivate")
    assert refused.status_code == 400 and refused.headers["HX-Retarget"] == "#toasts"
    done = founder_browser.request("PATCH", f"/admin/users/{alice.id}/deactivate", headers=YES)
    assert done.status_code == 200
    assert 'hx-swap-oob="beforeend:#toasts"' in done.text and "deactivated" in done.text
    assert '<div id="modal" hx-swap-oob="innerHTML"></div>' in done.text
    assert actions(done.text, alice.id) == {"activate", "delete"}
    assert doc(app, "alice")["status"] == "inactive"
    back = founder_browser.request("PATCH", f"/admin/users/{alice.id}/activate")
    assert back.status_code == 200 and actions(back.text, alice.id) == {"deactivate", "delete"}
    assert "reactivated" in back.text and doc(app, "alice")["status"] == "active"
    assert "no longer matches the filter" not in back.text


def test_a_row_changed_under_a_status_filter_says_it_no_longer_matches(app, founder_browser,
                                                                       alice):
    """UX review minor 11: reactivated under the "Inactive" filter, the row said "active"
    with nothing to explain why it was still listed."""
    founder_browser.request("PATCH", f"/admin/users/{alice.id}/deactivate", headers=YES)
    inactive = {"HX-Current-URL": "http://localhost/admin/users?status=inactive"}
    back = founder_browser.request("PATCH", f"/admin/users/{alice.id}/activate",
                                   headers=inactive)
    assert back.status_code == 200 and "no longer matches the filter" in back.text
    spanish = founder_browser.request(
        "PATCH", f"/admin/users/{alice.id}/deactivate",
        headers={**YES, "HX-Current-URL": "http://localhost/admin/users?status=active",
                 "Accept-Language": "es"})
    assert "ya no coincide con el filtro" in spanish.text


def test_delete_modal_loads_the_dry_run_and_asks_for_the_username(app, founder_browser, alice,
                                                                  alice_api):
    alice_api.upload()
    modal = founder_browser.request("GET", f"/admin/users/{alice.id}/confirm/delete")
    assert modal.status_code == 200 and 'class="modal modal-danger"' in modal.text
    assert "cannot be undone" in modal.text
    assert 'data-confirm-text="alice"' in modal.text
    button = re.search(r'<button[^>]*id="confirm-delete-[^"]+"[^>]*>', modal.text, re.S).group(0)
    assert "disabled" in button and "data-confirm-header-from" in button
    dry_url = re.search(r'hx-delete="([^"]*dry_run=true[^"]*)"', modal.text).group(1)
    dry = founder_browser.request("DELETE", dry_url.replace("&amp;", "&"))
    assert dry.status_code == 200
    assert "1 photo" in dry.text and "2 stored files" in dry.text
    assert doc(app, "alice") is not None
    url = f"/admin/users/{alice.id}?force=true"
    wrong = founder_browser.request("DELETE", url, headers=YES)
    assert wrong.status_code == 400 and doc(app, "alice") is not None
    without_force = founder_browser.request("DELETE", f"/admin/users/{alice.id}",
                                            headers={"X-Confirm-Delete": "alice"})
    assert without_force.status_code == 409 and "force" in without_force.text
    done = founder_browser.request("DELETE", url, headers={"X-Confirm-Delete": "alice"})
    assert done.status_code == 200 and "deleted permanently" in done.text
    assert '<div id="modal" hx-swap-oob="innerHTML"></div>' in done.text
    assert doc(app, "alice") is None


def test_the_backend_refuses_what_the_page_does_not_offer(app, founder_browser, make_user):
    make_user("admin2", role="admin")
    founder_id = doc(app, "founder")["_id"]
    other = Browser(app.test_client(), "admin2", USER_PASSWORD)
    for method, path, headers in (
            ("GET", f"/admin/users/{founder_id}/confirm/delete", {}),
            ("PATCH", f"/admin/users/{founder_id}/deactivate", YES),
            ("DELETE", f"/admin/users/{founder_id}?force=true", {"X-Confirm-Delete": "founder"})):
        response = other.request(method, path, headers=headers)
        assert response.status_code == 403, path
        assert response.headers["HX-Retarget"] == "#toasts" and "toast-error" in response.text
    self_action = founder_browser.request("GET", f"/admin/users/{founder_id}/confirm/deactivate")
    assert self_action.status_code == 403 and "your own account" in self_action.text
    assert doc(app, "founder")["status"] == "active"


# -- the account page ------------------------------------------------------------------------

def test_account_page_shows_password_retention_and_export(app, alice):
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    page = browser.request("GET", "/account", htmx=False)
    assert page.status_code == 200
    assert 'id="password-panel"' in page.text and 'id="retention-panel"' in page.text
    assert f"/api/v1/users/{alice.id}/export?include=files" in page.text
    assert "Server default (30 days)" in page.text
    export = browser.request("GET", f"/api/v1/users/{alice.id}/export", htmx=False)
    assert export.status_code == 200 and export.get_json()["user"]["username"] == "alice"


def test_changing_the_password_keeps_this_session_and_ends_the_others(app, alice):
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    other = Browser(app.test_client(), "alice", USER_PASSWORD)
    token_client = app.test_client()
    token = login_api(token_client, "alice", USER_PASSWORD)
    form = {"current_password": "wrong-password", "new_password": "brand-new-pass",
            "repeat_password": "brand-new-pass"}
    wrong = browser.request("POST", "/account/password", data=form)
    assert wrong.status_code == 400 and "not your current password" in wrong.text
    mismatch = browser.request("POST", "/account/password",
                               data={**form, "current_password": USER_PASSWORD,
                                     "repeat_password": "something-else"})
    assert mismatch.status_code == 400 and "differ" in mismatch.text
    done = browser.request("POST", "/account/password",
                           data={**form, "current_password": USER_PASSWORD})
    assert done.status_code == 200 and "password was changed" in done.text
    assert browser.request("GET", "/account", htmx=False).status_code == 200
    assert other.request("GET", "/account", htmx=False).status_code == 302
    assert token_client.get("/api/v1/images",
                            headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert login_api(app.test_client(), "alice", "brand-new-pass")


def test_trash_retention_choice(app, alice):
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    saved = browser.request("POST", "/account/retention", data={"days": "7"})
    assert saved.status_code == 200 and "for 7 days" in saved.text
    assert doc(app, "alice")["trash_retention_days"] == 7
    assert re.search(r'<input type="radio" name="days" value="7" checked>', saved.text)
    token = login_api(app.test_client(), "alice", USER_PASSWORD)
    api_headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    image = client.post("/api/v1/images", headers=api_headers,
                        content_type="multipart/form-data",
                        data={"file": (io.BytesIO(png_bytes()), "p.png")}).get_json()
    trashed = client.delete(f"/api/v1/images/{image['id']}", headers={**api_headers, **YES})
    assert client.get(f"/api/v1/images/{image['id']}",
                      headers=api_headers).get_json()["days_left"] == 7, trashed.get_json()
    default = browser.request("POST", "/account/retention", data={"days": "default"})
    assert default.status_code == 200 and doc(app, "alice")["trash_retention_days"] is None
    for bad in ("91", "-1", "soon"):
        assert browser.request("POST", "/account/retention",
                               data={"days": bad}).status_code == 400


def test_retention_is_a_few_choices_a_custom_number_and_a_warned_delete_at_once(app, alice):
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    page = browser.request("GET", "/account", htmx=False).text
    assert page.count('name="days"') <= 7  # not one option per day up to the maximum
    assert "skips the waiting time" in page  # the warning sits next to "Delete at once"
    custom = browser.request("POST", "/account/retention", data={"days": "custom",
                                                                 "custom_days": "12"})
    assert custom.status_code == 200 and "for 12 days" in custom.text
    assert doc(app, "alice")["trash_retention_days"] == 12
    assert 'value="custom" checked' in custom.text and 'value="12"' in custom.text
    for bad in ("", "0", "91", "two"):
        refused = browser.request("POST", "/account/retention",
                                  data={"days": "custom", "custom_days": bad})
        assert refused.status_code == 400 and "from 1 to 90" in refused.text, bad
    at_once = browser.request("POST", "/account/retention", data={"days": "0"})
    toast = re.search(r'class="toast-message">([^<]*)<', at_once.text).group(1)
    assert at_once.status_code == 200 and "cannot be restored" in toast
    assert "day(s)" not in toast and "0 day" not in toast
    assert doc(app, "alice")["trash_retention_days"] == 0


def test_password_rules_are_shown_before_typing(app, alice):
    page = Browser(app.test_client(), "alice", USER_PASSWORD).request(
        "GET", "/account", htmx=False).text
    assert "At least 8 characters" in page and 'aria-describedby="password-rules"' in page
