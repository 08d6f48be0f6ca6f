"""Bad input answers a clear 4xx, never a 500 (SPEC section 5), on SQLite and PostgreSQL.

Each case was a 500 once: deeply nested JSON in bodies and cursors (RecursionError),
user ids longer than the audit column on PostgreSQL, CR/LF and friends in ``next=``.
"""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.extensions import db
from tests.conftest import ADMIN_PASSWORD, ENGINES, NO_POSTGRES, build_app
from tests.helpers import Browser, audit_count, last_audit

DEEP = 3000  # far past Python's recursion limit
NESTED_BODIES = {"array": "[" * DEEP + "]" * DEEP,
                 "object": '{"a":' * DEEP + "1" + "}" * DEEP,
                 "inside": '{"username": ' + "[" * DEEP + "]" * DEEP + "}"}


def nested_cursor(body: str) -> str:
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


@pytest.mark.parametrize("shape", list(NESTED_BODIES))
def test_deeply_nested_json_bodies_are_400(app, client, alice_api, admin_api, shape):
    body = NESTED_BODIES[shape]
    calls = {
        "token (no credentials)": lambda: client.post("/api/v1/auth/token", data=body,
                                                      content_type="application/json"),
        "bulk restore": lambda: alice_api.post("/api/v1/trash/restore", data=body,
                                               content_type="application/json"),
        "create user": lambda: admin_api.post("/api/v1/users", data=body,
                                              content_type="application/json"),
    }
    for name, call in calls.items():
        response = call()
        assert response.status_code == 400, name
        assert response.get_json()["code"] == "invalid_json", name


API_LISTS = ["/api/v1/images", "/api/v1/trash", "/api/v1/users", "/api/v1/audit",
             "/api/v1/admin/purge/runs"]
PAGE_LISTS = ["/", "/trash", "/admin/users", "/admin/audit"]


@pytest.mark.parametrize("shape", ["array", "object"])
def test_deeply_nested_cursors_are_400(app, admin_api, shape):
    cursor = nested_cursor(NESTED_BODIES[shape])
    for path in API_LISTS:
        response = admin_api.get(path, query_string={"cursor": cursor})
        assert response.status_code == 400, path
        assert response.get_json()["code"] == "invalid_cursor", path
    browser = Browser(app.test_client(), "founder", ADMIN_PASSWORD)
    for path in PAGE_LISTS:
        for htmx in (False, True):
            response = browser.request("GET", path, htmx=htmx, query_string={"cursor": cursor})
            assert response.status_code == 400, (path, htmx)


LONG_IDS = ["x" * 65, "a" * 200, "0" * 33, "0" * 31, "Z" * 32, "../" + "0" * 29]


def test_malformed_user_ids_are_404_for_admins_and_users(app, admin_api, alice_api):
    """Over-long ids once failed the audit insert on PostgreSQL (VARCHAR(64)): a 500 and no
    event. An id that cannot exist is a 404 now, before any lookup or audit write."""
    before = audit_count(app)
    yes = {"X-Confirm-Delete": "yes"}
    for api in (admin_api, alice_api):
        for bad in LONG_IDS:
            for response in (api.delete(f"/api/v1/users/{bad}", headers=yes),
                             api.delete(f"/api/v1/users/{bad}?permanent=true&force=true",
                                        headers={"X-Confirm-Delete": bad}),
                             api.patch(f"/api/v1/users/{bad}/deactivate", headers=yes),
                             api.patch(f"/api/v1/users/{bad}/activate"),
                             api.get(f"/api/v1/users/{bad}/export")):
                assert response.status_code == 404, (api.user.username, bad)
                assert response.get_json()["code"] == "not_found"
    assert audit_count(app) == before


def test_malformed_user_ids_on_the_admin_pages_are_404(app):
    browser = Browser(app.test_client(), "founder", ADMIN_PASSWORD)
    for bad in LONG_IDS:
        for method, path in (("DELETE", f"/admin/users/{bad}"),
                             ("PATCH", f"/admin/users/{bad}/deactivate"),
                             ("PATCH", f"/admin/users/{bad}/activate"),
                             ("GET", f"/admin/users/{bad}/confirm/delete")):
            response = browser.request(method, path, headers={"X-Confirm-Delete": bad})
            assert response.status_code == 404, (method, path)


@pytest.fixture(params=ENGINES)
def proxied_app(request, tmp_path, postgres_database):
    """The app behind one trusted proxy, so X-Forwarded-For becomes the client address."""
    overrides = {"TRUSTED_PROXIES": 1}
    if request.param == "postgresql":
        if postgres_database is None:
            pytest.skip(NO_POSTGRES)
        overrides["SQLALCHEMY_DATABASE_URI"] = postgres_database
    app = build_app(tmp_path, fresh_schema=True, **overrides)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_the_audit_writer_shortens_over_long_fields(proxied_app):
    """A client address longer than its column is recorded, cut to fit, not a failed insert."""
    client = proxied_app.test_client()
    forwarded = "f" * 300
    response = client.post("/api/v1/auth/token", headers={"X-Forwarded-For": forwarded},
                           json={"username": "founder", "password": ADMIN_PASSWORD})
    token = response.get_json()["token"]
    response = client.delete("/api/v1/trash", headers={
        "Authorization": f"Bearer {token}", "X-Confirm-Delete": "yes",
        "X-Forwarded-For": forwarded})
    assert response.status_code == 200
    event = last_audit(proxied_app)
    assert event.action == "empty_trash" and event.outcome == "ok"
    assert len(event.ip) == 64 and event.ip == "f" * 63 + "…"
    with proxied_app.app_context():
        from app.audit.service import verify_chain

        assert verify_chain().ok
        assert db.session.execute(select(AuditEvent.ip).where(
            AuditEvent.id == event.id)).scalar_one() == event.ip


UNSAFE_NEXT = [
    "/\\evil.example", "/\\\\evil.example", "/\t/evil.example", "/\n/evil.example",
    "/\r\nX-Injected: 1", "/ok\x00", "/ok\x7f", "\\/evil.example",
    "//evil.example", "https://evil.example/", "/\x0b/evil.example",
]


def test_unsafe_next_falls_back_to_the_gallery_when_signed_in(app):
    browser = Browser(app.test_client(), "founder", ADMIN_PASSWORD)
    for target in UNSAFE_NEXT:
        response = browser.client.get("/login", query_string={"next": target})
        assert response.status_code == 302, repr(target)
        assert response.headers["Location"] == "/", repr(target)
    for raw in ("/login?next=/%5Cevil.example", "/login?next=/%09/evil.example",
                "/login?next=/%0D%0AX-Injected:%201"):
        response = browser.client.get(raw)
        assert (response.status_code, response.headers["Location"]) == (302, "/"), raw
    # Percent-encoded, the same characters are a harmless path and are kept as they are.
    for kept in ("/trash?cursor=abc", "/%5Cevil.example", "/%0D%0AX-Injected:%201"):
        response = browser.client.get("/login", query_string={"next": kept})
        assert response.headers["Location"] == kept


def test_unsafe_next_falls_back_to_the_gallery_after_signing_in(app):
    import re

    for target in UNSAFE_NEXT:
        client = app.test_client()
        page = client.get("/login", query_string={"next": target})
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
        response = client.post("/login", query_string={"next": target}, data={
            "csrf_token": token, "username": "founder", "password": ADMIN_PASSWORD})
        assert response.status_code == 303, repr(target)
        assert response.headers["Location"] == "/", repr(target)
