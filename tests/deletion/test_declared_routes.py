"""Routes that hand-rolled their delete policy until issue 16 (N16): bulk restore (API
and trash page), revoking a bearer token, and the account page's sign-outs.

Each now goes through ``@delete_endpoint``: it is registered, strict about options,
answers a dry run without acting, audits refusals, and commits its event with its change.
The generic rules run over them in ``test_decorator.py``; these are the cases each route
got wrong before.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.auth.models import UserSession
from app.core.extensions import db
from app.deletion import delete_endpoints
from tests.conftest import USER_PASSWORD, login_api
from tests.helpers import (
    Browser,
    audit_count,
    audit_refused,
    audit_since,
    image_row,
    last_audit,
)

YES = {"X-Confirm-Delete": "yes"}
DECLARED = {
    ("trash_api.restore", "/api/v1/trash/restore", "POST"),
    ("trash_pages.restore_selected", "/trash/restore", "POST"),
    ("auth_api.delete_token", "/api/v1/auth/token", "DELETE"),
    ("account_pages.end_session", "/account/sessions/<session_id>/sign-out", "POST"),
    ("account_pages.end_other_sessions", "/account/sessions/sign-out-others", "POST"),
    ("account_pages.end_all_sessions", "/account/sessions/sign-out-all", "POST"),
}


@pytest.fixture
def sqlite_only(app, request):
    if "postgresql" in request.node.name:
        pytest.skip("the engine does not matter here")
    return app


def trashed(api, n=1) -> list[str]:
    ids = []
    for _ in range(n):
        image_id = api.upload().get_json()["id"]
        assert api.delete(f"/api/v1/images/{image_id}", headers=YES).status_code == 200
        ids.append(image_id)
    return ids


def session_ids(app, user_id) -> list[str]:
    with app.app_context():
        return [str(i) for i in db.session.execute(
            select(UserSession.id).where(UserSession.user_id == user_id)
            .order_by(UserSession.created_at)).scalars()]


def signed_in(browser) -> bool:
    return browser.request("GET", "/account", htmx=False).status_code == 200


def test_they_are_registered_and_listed(sqlite_only, client):
    registered = {(e.endpoint, e.rule, m) for e in delete_endpoints(sqlite_only)
                  for m in e.methods}
    assert DECLARED <= registered
    document = client.get("/api/v1/openapi.json").get_json()
    for path, method in (("/trash/restore", "post"), ("/auth/token", "delete")):
        operation = document["paths"][path][method]
        assert operation["x-delete-endpoint"]["confirm"] == "none"
        assert "dry_run" in {p["name"] for p in operation["parameters"]}
    page = Browser(client, "founder", "founder-password").request(
        "GET", "/admin/endpoints", htmx=False)
    for _, rule, _ in DECLARED:
        assert rule.replace("<", "&lt;").replace(">", "&gt;") in page.text


# -- bulk restore ------------------------------------------------------------------------

def test_a_bulk_restore_dry_run_restores_nothing_and_counts(app, alice_api):
    ids = trashed(alice_api, 2)
    before = audit_count(app)
    response = alice_api.post("/api/v1/trash/restore?dry_run=true", json={"ids": ids})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["dry_run"], body["action"], body["consequences"]["images"]) == (
        True, "restore", 2)
    assert all(image_row(app, i).is_deleted for i in ids)
    assert audit_since(app, before) == [("restore", "dry_run")]
    # The etag it showed is what If-Match wants for exactly that selection.
    real = alice_api.post("/api/v1/trash/restore", json={"ids": ids},
                          headers={"If-Match": body["etag"]})
    assert real.get_json() == {"restored": 2, "skipped": [], "remaining": 0}
    stale = alice_api.post("/api/v1/trash/restore", json={"all": True},
                           headers={"If-Match": body["etag"]})
    assert stale.status_code == 412


def test_a_bulk_restore_refusal_is_audited(app, alice_api):
    trashed(alice_api)
    before = audit_count(app)
    bad_body = alice_api.post("/api/v1/trash/restore", json={"ids": "x"})
    misspelt = alice_api.post("/api/v1/trash/restore?dryrun=true", json={"all": True})
    assert (bad_body.status_code, misspelt.status_code) == (400, 400)
    assert misspelt.get_json()["code"] == "invalid_option"
    assert audit_since(app, before) == [("restore", "bad_request")] * 2
    assert last_audit(app).details["code"] == "invalid_option"


def test_the_trash_pages_restore_without_csrf_is_refused_and_audited(app, alice, alice_api,
                                                                     client):
    (image_id,) = trashed(alice_api)
    browser = Browser(client, alice.username, USER_PASSWORD)
    before = audit_count(app)
    response = browser.request("POST", "/trash/restore", data={"ids": [image_id]},
                               csrf=False)
    assert response.status_code == 400
    assert image_row(app, image_id).is_deleted
    assert audit_since(app, before) == [("restore", "bad_request")]
    assert last_audit(app).details["code"] == "csrf_failed"


# -- DELETE /api/v1/auth/token -----------------------------------------------------------

def test_a_token_revocation_dry_run_keeps_the_token(app, client, alice):
    token = login_api(client, alice.username, USER_PASSWORD)
    auth = {"Authorization": f"Bearer {token}"}
    dry = client.delete("/api/v1/auth/token?dry_run=true", headers=auth)
    assert dry.status_code == 200 and dry.get_json()["consequences"]["tokens"] == 1
    assert client.get("/api/v1/images", headers=auth).status_code == 200
    assert last_audit(app).outcome == "dry_run"
    revoked = client.delete("/api/v1/auth/token", headers=auth)
    assert revoked.status_code == 200 and revoked.get_json() == {
        "message": "The token was revoked."}
    event = last_audit(app)
    assert (event.action, event.outcome, event.target_type) == ("token_revoked", "ok", "token")
    assert client.get("/api/v1/images", headers=auth).status_code == 401


def test_a_token_is_not_revoked_without_its_event(app, client, alice):
    token = login_api(client, alice.username, USER_PASSWORD)
    auth = {"Authorization": f"Bearer {token}"}
    with audit_refused(app):
        response = client.delete("/api/v1/auth/token", headers=auth)
    assert response.status_code == 503
    assert response.get_json()["code"] == "audit_unavailable"
    assert client.get("/api/v1/images", headers=auth).status_code == 200


def test_revoking_with_a_cookie_session_is_refused_and_audited(app, alice, client):
    browser = Browser(client, alice.username, USER_PASSWORD)
    before = audit_count(app)
    response = browser.request("DELETE", "/api/v1/auth/token",
                               headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_request"
    assert audit_since(app, before) == [("token_revoked", "bad_request")]


# -- the account page's sign-outs --------------------------------------------------------

def test_ending_someone_elses_session_is_404_and_audited(app, alice, make_user):
    Browser(app.test_client(), alice.username, USER_PASSWORD)
    (alices,) = session_ids(app, alice.id)
    make_user("mallory")
    mallory = Browser(app.test_client(), "mallory", USER_PASSWORD)
    before = audit_count(app)
    response = mallory.request("POST", f"/account/sessions/{alices}/sign-out")
    assert response.status_code == 404
    assert audit_since(app, before) == [("session_ended", "not_found")]
    assert last_audit(app).target_id == alices
    assert session_ids(app, alice.id) == [alices]


def test_signing_out_the_others_is_one_event_committed_with_the_change(app, alice):
    laptop = Browser(app.test_client(), alice.username, USER_PASSWORD)
    phone = Browser(app.test_client(), alice.username, USER_PASSWORD)
    with audit_refused(app):
        refused = laptop.request("POST", "/account/sessions/sign-out-others")
    assert refused.status_code == 503
    assert signed_in(phone)  # no sign-out without its event
    before = audit_count(app)
    ended = laptop.request("POST", "/account/sessions/sign-out-others")
    assert ended.status_code == 200 and "Signed out 1 other session" in ended.text
    assert audit_since(app, before) == [("sessions_ended", "ok")]
    event = last_audit(app)
    assert (event.target_type, event.target_id, event.details["ended"]) == (
        "sessions", alice.id, 1)
    assert not signed_in(phone) and signed_in(laptop)


def test_signing_out_everywhere_dry_run_ends_nothing(app, alice):
    laptop = Browser(app.test_client(), alice.username, USER_PASSWORD)
    Browser(app.test_client(), alice.username, USER_PASSWORD)
    response = laptop.request("POST", "/account/sessions/sign-out-all?dry_run=true")
    assert response.status_code == 200 and "sessions: 2" in response.text
    assert len(session_ids(app, alice.id)) == 2 and signed_in(laptop)
    everywhere = laptop.request("POST", "/account/sessions/sign-out-all")
    assert everywhere.headers["HX-Redirect"] == "/login"
    assert session_ids(app, alice.id) == []
    assert last_audit(app).details["ended"] == 2
