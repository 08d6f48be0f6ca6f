"""Denied attempts on admin routes outside ``@delete_endpoint`` are audited, with the actor;
requests without valid credentials stay out of the chain."""

from __future__ import annotations

import pytest

from tests.conftest import USER_PASSWORD
from tests.helpers import Browser, audit_count, audit_since, last_audit

API_ROUTES = [
    ("GET", "/api/v1/users", None, "users_api.index"),
    ("POST", "/api/v1/users", {"username": "mallory2", "email": "m@example.com",
                               "password": "long-enough-1", "role": "admin"},
     "users_api.create"),
    ("GET", "/api/v1/audit", None, "audit_api.index"),
    ("GET", "/api/v1/admin/purge", None, "purge_api.status"),
]
PAGES = ["/admin/users", "/admin/purge", "/admin/audit", "/admin/endpoints"]


@pytest.mark.parametrize(("method", "path", "body", "endpoint"), API_ROUTES,
                         ids=[f"{m} {p}" for m, p, _, _ in API_ROUTES])
def test_a_plain_users_attempt_on_the_admin_api_is_audited(app, alice_api, method, path,
                                                           body, endpoint):
    before = audit_count(app)
    response = alice_api.client.open(path, method=method, json=body,
                                     headers=alice_api.headers({"X-Request-ID": "probe-1"}))
    assert response.status_code == 403
    assert audit_since(app, before) == [("admin_access", "denied")]
    event = last_audit(app)
    assert (event.actor_id, event.actor_role) == (alice_api.user.id, "user")
    assert (event.target_type, event.target_id) == ("endpoint", endpoint)
    assert event.request_id == "probe-1"
    assert event.details["method"] == method and event.details["path"] == path
    assert "password" not in str(event.details)


@pytest.mark.parametrize("path", PAGES)
def test_a_plain_users_visit_to_an_admin_page_is_audited(app, alice, client, path):
    browser = Browser(client, alice.username, USER_PASSWORD)
    before = audit_count(app)
    assert browser.request("GET", path, htmx=False).status_code == 403
    assert audit_since(app, before) == [("admin_access", "denied")]
    assert last_audit(app).actor_id == alice.id


def test_exporting_someone_else_is_a_404_and_audited_as_denied(app, alice_api, make_user):
    bob = make_user()
    before = audit_count(app)
    response = alice_api.get(f"/api/v1/users/{bob.id}/export")
    assert response.status_code == 404
    assert audit_since(app, before) == [("export", "denied")]
    event = last_audit(app)
    assert (event.actor_id, event.target_id) == (alice_api.user.id, bob.id)


def test_a_path_sized_id_is_not_a_user_and_never_reaches_the_chain(app, alice_api):
    """An id that cannot be a user id does not match the route (the ``user_id``
    converter): 404 before any check, so nothing is written (and nothing can fail)."""
    before = audit_count(app)
    response = alice_api.get(f"/api/v1/users/{'x' * 300}/export")
    assert response.status_code == 404
    assert audit_since(app, before) == []


def test_requests_without_credentials_stay_out_of_the_chain(app, client):
    before = audit_count(app)
    for method, path, body, _ in API_ROUTES:
        assert client.open(path, method=method, json=body).status_code == 401
    for path in PAGES:
        assert client.get(path).status_code == 302
    assert audit_count(app) == before


def test_admins_pass_without_a_denied_event(app, admin_api):
    before = audit_count(app)
    assert admin_api.get("/api/v1/users").status_code == 200
    assert admin_api.get("/api/v1/audit").status_code == 200
    assert audit_count(app) == before
