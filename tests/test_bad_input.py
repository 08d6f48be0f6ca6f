"""Bad input answers a clear 4xx, never a 500 (SPEC section 5), on SQLite and PostgreSQL.

Each case was a 500 once: deeply nested JSON in bodies and cursors (RecursionError),
user ids longer than the audit column on PostgreSQL, CR/LF and friends in ``next=``.
"""

from __future__ import annotations

import base64
import re
import uuid

import pytest
from sqlalchemy import select

from app import ROOT
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


THOUSAND_DEEP = {"array": "[" * 1000 + "]" * 1000,
                 "object": '{"a":' * 1000 + "1" + "}" * 1000}
SAMPLE_VALUES = {"UUIDConverter": lambda: str(uuid.uuid4()), "IntegerConverter": lambda: "1"}
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


def json_routes(app):
    """Every (method, path) of the API that takes a body, its variables filled in; signing
    out (``DELETE /auth/token``) last, since it ends the token the others use."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = rule.rule
        for name, converter in rule._converters.items():
            value = SAMPLE_VALUES.get(type(converter).__name__, lambda: "x")()
            path = re.sub(rf"<[^>]*\b{name}>", value, path)
        routes += [(method, path, rule.endpoint) for method in sorted(rule.methods & set(UNSAFE))]
    return sorted(routes, key=lambda route: route[2] == "auth_api.delete_token")


@pytest.mark.parametrize("shape", list(THOUSAND_DEEP))
def test_a_thousand_deep_body_is_400_on_every_json_route(app, admin_api, monkeypatch, shape):
    """Walk the url_map: no route answers 5xx, and every route that reads its body (the one
    parser, ``app.api.json_body``) answers 400 ``invalid_json``."""
    read = []
    original = app.request_class.get_json

    def get_json(self, *args, **kwargs):
        read.append(self.endpoint)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(app.request_class, "get_json", get_json)
    reading = set()
    for method, path, endpoint in json_routes(app):
        read.clear()
        response = admin_api.client.open(path, method=method, data=THOUSAND_DEEP[shape],
                                         content_type="application/json",
                                         headers=admin_api.headers())
        assert response.status_code < 500, (method, path, response.status_code)
        if read:
            reading.add(endpoint)
            assert response.status_code == 400, (method, path)
            assert response.get_json()["code"] == "invalid_json", (method, path)
    # The routes the review found answering 500, and the older ones, all read through it.
    assert {"media_api.share", "media_admin_api.patch_config", "auth_api.create_token",
            "users_api.create", "trash_api.restore"} <= reading, reading


def test_one_parser_reads_every_json_body():
    """Only ``app.api.json_body`` calls ``get_json`` (or reads ``request.json``)."""
    readers = []
    for path in sorted(ROOT.glob("app/**/*.py")):
        text = path.read_text()
        if re.search(r"get_json\(|request\.json\b|request\.get_data\(", text):
            readers.append(str(path.relative_to(ROOT)))
    assert readers == ["app/api/__init__.py"]


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
