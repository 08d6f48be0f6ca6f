"""``Cache-Control: no-store`` on private answers; routes that choose their own keep it."""

from __future__ import annotations

import io
import re

import pytest

from tests.conftest import ADMIN_PASSWORD, USER_PASSWORD, build_app, login_api, png_bytes
from tests.helpers import Browser


@pytest.fixture
def app(tmp_path):
    return build_app(tmp_path)  # headers do not depend on the SQL engine


PAGES = ["/", "/trash", "/account", "/admin/users", "/admin/purge", "/admin/audit",
         "/admin/endpoints", "/logout"]


def test_every_page_of_a_signed_in_user_is_no_store(app):
    browser = Browser(app.test_client(), "founder", ADMIN_PASSWORD)
    for path in PAGES:
        for htmx in (False, True):  # the full page and the fragment htmx swaps in
            response = browser.request("GET", path, htmx=htmx)
            assert response.status_code == 200, path
            assert response.headers["Cache-Control"] == "no-store", (path, htmx)


def test_login_page_and_html_errors_are_no_store(app):
    client = app.test_client()
    assert client.get("/login").headers["Cache-Control"] == "no-store"
    refused = client.post("/login", data={"username": "founder", "password": "wrong"})
    assert refused.status_code == 400 and refused.headers["Cache-Control"] == "no-store"
    missing = Browser(client, "founder", ADMIN_PASSWORD).request("GET", "/nowhere", htmx=False)
    assert missing.status_code == 404 and missing.headers["Cache-Control"] == "no-store"


def test_the_token_answer_and_every_api_answer_are_no_store(app):
    client = app.test_client()
    issued = client.post("/api/v1/auth/token",
                         json={"username": "founder", "password": ADMIN_PASSWORD})
    assert issued.status_code == 201 and issued.headers["Cache-Control"] == "no-store"
    refused = client.post("/api/v1/auth/token", json={"username": "founder", "password": "x"})
    assert refused.status_code == 401 and refused.headers["Cache-Control"] == "no-store"
    bearer = {"Authorization": f"Bearer {issued.get_json()['token']}"}
    for path in ("/api/v1/images", "/api/v1/trash", "/api/v1/users", "/api/v1/audit",
                 "/api/v1/admin/purge", "/api/v1/nowhere", "/api/v1/openapi.json"):
        response = client.get(path, headers=bearer)
        assert response.headers["Cache-Control"] == "no-store", path
    assert client.get("/api/v1/images").headers["Cache-Control"] == "no-store"  # 401


def test_media_keeps_the_caching_it_chose(app, make_user):
    """The media route sets its own Cache-Control (SPEC section 8); no-store never
    overwrites it."""
    client = app.test_client()
    token = login_api(client, make_user().username, USER_PASSWORD)
    uploaded = client.post("/api/v1/images", headers={"Authorization": f"Bearer {token}"},
                           data={"file": (io.BytesIO(png_bytes()), "p.png")},
                           content_type="multipart/form-data").get_json()
    media = client.get(re.sub(r"^https?://[^/]+", "", uploaded["url"]),
                       headers={"Authorization": f"Bearer {token}"})
    media.close()
    assert media.status_code == 200
    assert media.headers["Cache-Control"] == "private, max-age=86400"


def test_a_route_that_sets_its_own_cache_control_keeps_it(tmp_path):
    app = build_app(tmp_path)

    @app.get("/media-like")
    def media_like():
        return "<p>public</p>", 200, {"Cache-Control": "public, max-age=3600"}

    response = app.test_client().get("/media-like")
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "public, max-age=3600"

