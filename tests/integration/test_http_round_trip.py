"""Real HTTP against the app started by `make run` (migrations, then `flask run`).

What the in-process test client cannot show: the Makefile target works, migrations build
the schema the app needs, the server answers over a socket with the headers the spec asks
for, and the audit chain written by that server verifies with the CLI (and stops
verifying once a row is altered behind its back).
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from contextlib import closing
from urllib.parse import urljoin

import pytest
import requests

from tests.conftest import png_bytes
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, AppServer

API = "/api/v1"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from AppServer.serve(tmp_path_factory, "round-trip")


class Client:
    """requests with the server's base URL, a bearer token once signed in, and cleanup."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.token: str | None = None

    def request(self, method: str, path: str, *, headers=None, **kw) -> requests.Response:
        merged = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        merged.update(headers or {})
        response = self.http.request(method, urljoin(self.base, path), headers=merged,
                                     timeout=15, allow_redirects=False, **kw)
        response.close()  # the body is read already (no stream=True): free the socket
        return response

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def sign_in(self, username=ADMIN_USERNAME, password=ADMIN_PASSWORD) -> dict:
        response = self.post(f"{API}/auth/token",
                             json={"username": username, "password": password})
        assert response.status_code == 201, response.text
        body = response.json()
        self.token = body["token"]
        return body

    def upload(self, data: bytes, name: str = "photo.png") -> requests.Response:
        return self.post(f"{API}/images", files={"file": (name, data, "image/png")})

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def client(server):
    c = Client(server.url)
    yield c
    c.close()


def _cursor(values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ok"
    assert {"database", "users", "storage"} <= set(body["checks"])
    assert all(check["status"] == "ok" for check in body["checks"].values())


def test_image_lifecycle_over_http(client):
    token = client.sign_in()
    assert token["token"] and token["expires_at"].endswith("Z")

    # Upload (multipart), then it is listed.
    data = png_bytes(size=(40, 30))
    uploaded = client.upload(data, "round-trip.png")
    assert uploaded.status_code == 201, uploaded.text
    image = uploaded.json()
    image_id = image["id"]
    assert image["file_name"] == "round-trip.png"
    assert (image["content_type"], image["size_bytes"]) == ("image/png", len(data))
    assert (image["width"], image["height"]) == (40, 30)
    assert "is_deleted" not in image

    listing = client.get(f"{API}/images")
    assert listing.status_code == 200
    assert [item["id"] for item in listing.json()["items"]] == [image_id]
    assert listing.json()["next_cursor"] is None

    # /media serves the original byte for byte to its owner; the thumbnail is an image too.
    assert image["url"] == f"/media/{image_id}"
    original = client.get(image["url"])
    assert original.status_code == 200
    assert original.content == data
    assert original.headers["Content-Type"] == "image/png"
    assert client.get(image["url"], headers={"Authorization": ""}).status_code == 401
    thumb = client.get(image["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.headers["Content-Type"] == "image/webp"
    again = client.get(image["thumbnail_url"], headers={"If-None-Match": thumb.headers["ETag"]})
    assert again.status_code == 304 and again.headers["ETag"] == thumb.headers["ETag"]
    part = client.get(image["url"], headers={"Range": "bytes=0-7"})
    assert part.status_code == 206 and part.content == data[:8]
    # A share link opens it for anyone, until the image goes to the trash.
    link = client.post(f"{API}/images/{image_id}/share", json={"ttl_s": 600})
    assert link.status_code == 201, link.text
    shared = client.get(link.json()["url"], headers={"Authorization": ""})
    assert shared.status_code == 200 and shared.content == data
    assert shared.headers["Cache-Control"].startswith("public, max-age=")

    # Delete needs the confirmation header.
    refused = client.delete(f"{API}/images/{image_id}")
    assert refused.status_code == 400
    assert refused.json()["code"] == "confirmation_required"
    assert refused.json()["error"]
    assert client.get(f"{API}/images").json()["items"], "a refused delete changed nothing"

    soft = client.delete(f"{API}/images/{image_id}", headers={"X-Confirm-Delete": "yes"})
    assert soft.status_code == 200, soft.text
    deletion = soft.json()["deletion"]
    assert deletion["id"] == image_id and deletion["type"] == "soft"
    assert deletion["deleted_at"] and deletion["recoverable_until"]

    # Gone from the gallery, in the trash with the full retention ahead of it.
    assert client.get(f"{API}/images").json()["items"] == []
    trash = client.get(f"{API}/trash")
    assert trash.status_code == 200
    [item] = trash.json()["items"]
    assert item["id"] == image_id and item["is_deleted"] is True
    assert item["days_left"] == 30 and item["expires_soon"] is False
    assert item["purge_at"] == deletion["recoverable_until"]
    assert item["deleted_at"] == deletion["deleted_at"]
    # The owner still sees it in the trash; the share link stops working.
    assert client.get(image["url"]).status_code == 200
    assert client.get(link.json()["url"], headers={"Authorization": ""}).status_code == 404

    # Restore through the PATCH alias.
    restored = client.patch(f"{API}/images/restore/{image_id}")
    assert restored.status_code == 200, restored.text
    assert restored.json()["id"] == image_id and "is_deleted" not in restored.json()
    assert client.get(f"{API}/trash").json()["items"] == []
    assert [i["id"] for i in client.get(f"{API}/images").json()["items"]] == [image_id]
    again = client.patch(f"{API}/images/restore/{image_id}")
    assert again.status_code == 409 and again.json()["code"] == "not_in_trash"

    # Permanent delete: the row and the files go.
    gone = client.delete(f"{API}/images/{image_id}", params={"permanent": "true"},
                         headers={"X-Confirm-Delete": "yes"})
    assert gone.status_code == 200, gone.text
    assert gone.json()["deletion"]["type"] == "permanent"
    assert client.get(f"{API}/images/{image_id}").status_code == 404
    assert client.get(f"{API}/trash").json()["items"] == []
    fresh = client.get(f"{API}/images").json()["items"]
    assert fresh == []

    # Revoking the token ends it.
    assert client.delete(f"{API}/auth/token").status_code in (200, 204)
    after = client.get(f"{API}/images")
    assert after.status_code == 401 and after.json()["code"] == "unauthenticated"


def test_openapi_document_is_public(client):
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.")
    assert "delete" in doc["paths"]["/images/{image_id}"]
    assert "patch" in doc["paths"]["/images/restore/{image_id}"]


@pytest.mark.parametrize("cursor", [
    "garbage",
    "!!!",
    _cursor(["not-a-time", "x"]),
    _cursor(["2024-01-01T00:00:00+00:00"]),
    _cursor(["2024-01-01T00:00:00+00:00", 5]),
    _cursor(["2024-01-01T00:00:00+00:00", {"id": 1}]),
    _cursor([None, None]),
])
@pytest.mark.parametrize("path", ["/images", "/trash"])
def test_bad_cursor_is_400_never_500(client, path, cursor):
    client.sign_in()
    response = client.get(f"{API}{path}", params={"cursor": cursor})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_cursor"


def test_unauthenticated_api_answers_401_json(client):
    response = client.get(f"{API}/images")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_request_id_is_echoed_or_generated(client):
    echoed = client.get("/healthz", headers={"X-Request-ID": "round-trip-42"})
    assert echoed.headers["X-Request-ID"] == "round-trip-42"
    generated = client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["X-Request-ID"])
    # An id that could forge log lines is replaced, not echoed.
    unsafe = client.get("/healthz", headers={"X-Request-ID": "a b\"c"})
    assert unsafe.headers["X-Request-ID"] != "a b\"c"


def test_pages_send_security_headers_and_safe_cookies(client):
    login = client.get("/login")
    assert login.status_code == 200
    assert login.headers["Content-Type"].startswith("text/html")
    csp = login.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert login.headers["X-Content-Type-Options"] == "nosniff"
    assert login.headers["Referrer-Policy"]
    assert "HX-Request" in login.headers.get("Vary", "")
    cookie = login.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie

    # A page behind the login redirects a browser there.
    gallery = client.get("/")
    assert gallery.status_code == 302
    assert gallery.headers["Location"].startswith("/login")


def test_audit_chain_verifies_then_detects_tampering(server, client):
    """Events written by the running server verify; an altered row makes verify exit 1."""
    client.sign_in()
    image_id = client.upload(png_bytes(color=(1, 2, 3))).json()["id"]
    assert client.delete(f"{API}/images/{image_id}").status_code == 400  # refused, audited
    ok = client.delete(f"{API}/images/{image_id}", headers={"X-Confirm-Delete": "yes"})
    assert ok.status_code == 200

    verified = server.flask("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "audit chain OK" in verified.stdout

    # Rewrite history: a refused delete now claims it went through.
    with closing(sqlite3.connect(server.instance / "papelera.db")) as conn, conn:
        (event_id,) = conn.execute(
            "SELECT id FROM audit_events WHERE outcome = 'confirmation_required' "
            "ORDER BY id LIMIT 1").fetchone()
        changed = conn.execute("UPDATE audit_events SET outcome = 'ok' WHERE id = ?",
                               (event_id,)).rowcount
    assert changed == 1

    broken = server.flask("audit", "verify")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert f"event {event_id}: contents do not match its hash" in broken.stderr
