"""/media's per-process access decisions (app.core.access_cache) never outlive a change.

Every test warms the cache first (the same request twice: the second is decided from the
process's entries), changes who may see what, and expects the very next request to be
refused. On SQLite and PostgreSQL, with the in-process cache (the generation in SQL) and
with Redis (the generation in Redis); then across two app instances sharing the stores,
and across a ``flask purge`` run in another process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import update

from app import create_app
from app.core.access_cache import changed
from app.core.db import utcnow
from app.core.extensions import db
from app.images.models import Image
from app.users.repository import get_users
from tests.conftest import (
    ADMIN_PASSWORD,
    ENGINES,
    NO_POSTGRES,
    USER_PASSWORD,
    Api,
    build_app,
    instance_env,
    login_api,
    make_config,
)
from tests.helpers import Browser, sql_statements
from tests.media.conftest import (
    REDIS_URL,
    alice_and_admin,
    close_app,
    picture,
    redis_answers,
)

ROOT = Path(__file__).resolve().parents[2]
YES = {"X-Confirm-Delete": "yes"}


@pytest.fixture
def image(alice_api):
    return alice_api.upload(picture()).get_json()


def warm(api_or_client, url) -> dict:
    """Fetch twice: the second answer comes from the process's access entries. Returns
    the ``If-None-Match`` header that revalidates it: a 304 reads no storage, so only the
    access check can refuse it (a missing object cannot answer for it)."""
    for _ in range(2):
        response = api_or_client.get(url)
        assert response.status_code == 200, response.get_json()
    return {"If-None-Match": response.headers["ETag"]}


def share_path(api, image) -> str:
    url = api.post(f"/api/v1/images/{image['id']}/share", json={"ttl_s": 3600}).get_json()["url"]
    parts = urlsplit(url)
    return f"{parts.path.replace(image['id'], image['id'] + '/thumb', 1)}?{parts.query}"


def make_due(app, image_id) -> None:
    with app.app_context():
        db.session.execute(update(Image).where(Image.id == uuid.UUID(image_id))
                           .values(purge_after=utcnow() - timedelta(days=1)))
        db.session.commit()


def copy_of(app, browser) -> Browser:
    """Another client holding a copy of ``browser``'s session cookie."""
    thief = object.__new__(Browser)
    thief.client, thief.csrf = app.test_client(), browser.csrf
    thief.client.set_cookie("session", browser.client.get_cookie("session").value)
    return thief


# -- one process ---------------------------------------------------------------------------

def test_a_deactivated_users_token_is_refused_on_the_next_request(app, alice, alice_api,
                                                                  admin_api, image):
    warm(alice_api, image["thumbnail_url"])
    assert admin_api.patch(f"/api/v1/users/{alice.id}/deactivate",
                           headers=YES).status_code == 200
    assert alice_api.get(image["thumbnail_url"]).status_code == 401
    # Reactivated, the old token stays dead (its epoch moved); a new one works.
    assert admin_api.patch(f"/api/v1/users/{alice.id}/activate").status_code == 200
    assert alice_api.get(image["thumbnail_url"]).status_code == 401
    fresh = Api(alice_api.client, login_api(alice_api.client, "alice", USER_PASSWORD), alice)
    assert fresh.get(image["thumbnail_url"]).status_code == 200


def test_a_revoked_token_is_refused_on_the_next_request(alice_api, image):
    warm(alice_api, image["url"])
    assert alice_api.delete("/api/v1/auth/token").status_code == 200
    assert alice_api.get(image["url"]).status_code == 401


def test_a_signed_out_session_is_refused_on_the_next_request(app, alice, image):
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    copy = copy_of(app, browser)
    warm(copy.client, image["thumbnail_url"])
    assert browser.client.post("/logout", data={"csrf_token": browser.csrf}).status_code == 303
    assert copy.client.get(image["thumbnail_url"]).status_code == 401


def test_sessions_ended_from_the_account_page_are_refused_at_once(app, alice, image):
    kept = Browser(app.test_client(), "alice", USER_PASSWORD)
    other = Browser(app.test_client(), "alice", USER_PASSWORD)
    warm(other.client, image["thumbnail_url"])
    assert kept.request("POST", "/account/sessions/sign-out-others").status_code == 200
    assert other.client.get(image["thumbnail_url"]).status_code == 401
    assert kept.client.get(image["thumbnail_url"]).status_code == 200


def test_a_password_change_ends_tokens_and_other_sessions_at_once(app, alice, alice_api,
                                                                  image):
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    other = Browser(app.test_client(), "alice", USER_PASSWORD)
    warm(alice_api, image["thumbnail_url"])
    warm(other.client, image["thumbnail_url"])
    changed = browser.request("POST", "/account/password", data={
        "current_password": USER_PASSWORD, "new_password": "another-password-2",
        "repeat_password": "another-password-2"})
    assert changed.status_code == 200
    assert alice_api.get(image["thumbnail_url"]).status_code == 401
    assert other.client.get(image["thumbnail_url"]).status_code == 401
    assert browser.client.get(image["thumbnail_url"]).status_code == 200


def test_a_trashed_images_share_link_is_404_at_once_and_back_after_restore(client, alice_api,
                                                                          image):
    link = share_path(alice_api, image)
    warm(client, link)
    assert alice_api.delete(f"/api/v1/images/{image['id']}", headers=YES).status_code == 200
    assert client.get(link).status_code == 404
    assert alice_api.get(image["thumbnail_url"]).status_code == 200  # the trash page
    assert alice_api.post(f"/api/v1/images/{image['id']}/restore").status_code == 200
    assert client.get(link).status_code == 200


def test_a_purged_image_is_404_at_once_from_warm_entries(app, alice_api, admin_api, image):
    alice_api.delete(f"/api/v1/images/{image['id']}", headers=YES)
    revalidate = warm(alice_api, image["thumbnail_url"])  # the owner's trash page
    warm(admin_api, image["thumbnail_url"])
    make_due(app, image["id"])
    assert alice_api.get(image["thumbnail_url"], headers=revalidate).status_code == 304
    assert admin_api.delete("/api/v1/admin/purge", headers=YES).get_json()["deleted"] == 1
    assert alice_api.get(image["thumbnail_url"], headers=revalidate).status_code == 404
    assert admin_api.get(image["thumbnail_url"], headers=revalidate).status_code == 404


def test_a_deleted_users_images_are_404_at_once(app, client, alice, alice_api, admin_api,
                                                image):
    link = share_path(alice_api, image)
    revalidate = warm(client, link)
    warm(admin_api, image["thumbnail_url"])
    response = admin_api.delete(f"/api/v1/users/{alice.id}?permanent=true&force=true",
                                headers={"X-Confirm-Delete": "alice"})
    assert response.status_code == 200, response.get_json()
    assert client.get(link, headers=revalidate).status_code == 404
    assert admin_api.get(image["thumbnail_url"], headers=revalidate).status_code == 404


def test_a_warm_hit_reads_no_token_user_or_image_row(app, alice_api, image):
    """What the cache is for: a warm hit reads only the generation (a Redis GET, or one
    SELECT on a bare pooled connection), no token, session, user or image row."""
    warm(alice_api, image["thumbnail_url"])
    with app.app_context():
        users = get_users()
    reads = []
    original_get = users.get
    users.get = lambda user_id: reads.append(user_id) or original_get(user_id)
    try:
        with sql_statements(app) as statements:
            response = alice_api.get(image["thumbnail_url"])
            assert response.headers["X-Cache"] == "HIT"
            assert statements == [] and reads == []
            with app.app_context():
                changed()  # now the same request must read them again
            assert alice_api.get(image["thumbnail_url"]).headers["X-Cache"] == "HIT"
            assert any("api_tokens" in s for s in statements)
            assert any("images" in s for s in statements)
            assert reads == [alice_api.user.id]
    finally:
        users.get = original_get


def test_a_new_variant_keeps_the_access_entries_warm_and_a_trash_does_not(app, alice_api,
                                                                          image):
    """Storing a variant adds its bytes to the image row (an UPDATE of ``images``) but
    changes nobody's access: the entries stay. A trash, on the same row, drops them."""
    warm(alice_api, image["thumbnail_url"])
    width = app.config["MEDIA_WIDTHS"][0]
    assert alice_api.get(f"{image['url']}?w={width}").status_code == 200  # stored now
    with sql_statements(app) as statements:
        assert alice_api.get(image["thumbnail_url"]).headers["X-Cache"] == "HIT"
        assert not any("api_tokens" in s or "FROM images" in s for s in statements)
        assert alice_api.delete(f"/api/v1/images/{image['id']}", headers=YES) \
            .status_code == 200
        statements.clear()
        alice_api.get(image["thumbnail_url"])
        assert any("api_tokens" in s for s in statements)


# -- two processes (two app instances), and the CLI in another process ----------------------

@pytest.fixture(params=[(engine, gen) for gen in ("sql", "redis") for engine in ENGINES],
                ids=lambda p: f"{p[0]}-{p[1]}")
def pair(request, tmp_path, postgres_database):
    """Two apps on one database, one user store on disk (litemongo), one object store,
    and with Redis one namespace: two workers. The settings are in instance/config.py
    too, so ``flask`` run in another process joins them."""
    engine, generation = request.param
    settings = {"MONGO_URI": f"litemongo://{tmp_path / 'mongo'}",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'test.db'}",
                "STORAGE_URL": f"file://{tmp_path / 'objects'}"}
    if engine == "postgresql":
        if postgres_database is None:
            pytest.skip(NO_POSTGRES)
        settings["SQLALCHEMY_DATABASE_URI"] = postgres_database
    if generation == "redis":
        if not redis_answers():
            pytest.skip(f"Redis is not answering at {REDIS_URL}")
        settings.update(REDIS_URL=REDIS_URL,
                        MEDIA_CACHE_NAMESPACE=f"papelera-test:{uuid.uuid4().hex}")
    instance = tmp_path / "instance"
    instance.mkdir()
    base = make_config(tmp_path, **settings)
    keep = ("SECRET_KEY", "ADMIN_USERNAME", "ADMIN_PASSWORD", "ARGON2_MEMORY_KIB",
            "ARGON2_TIME_COST", *settings)
    lines = [f"{key} = {base[key]!r}" for key in keep] + ["SCHEDULER_ENABLED = False"]
    (instance / "config.py").write_text("\n".join(lines) + "\n")
    first = build_app(tmp_path, fresh_schema=True, **settings)
    second = create_app(make_config(tmp_path, **settings), env=instance_env(tmp_path))
    yield first, second
    for app in (first, second):
        close_app(app)


def signed_in_pair(pair):
    first, second = pair
    from app.users.repository import get_users
    from app.users.service import create_user

    with first.app_context():
        alice = create_user(get_users(), username="alice", email="alice@example.com",
                            password=USER_PASSWORD, now=utcnow())
    one, two = first.test_client(), second.test_client()
    alice_one = Api(one, login_api(one, "alice", USER_PASSWORD), alice)
    admin_two = Api(two, login_api(two, "founder", ADMIN_PASSWORD), None)
    image = alice_one.upload(picture()).get_json()
    return alice, alice_one, admin_two, image


def test_a_deactivation_in_another_process_is_seen_on_the_next_request(pair):
    alice, alice_one, admin_two, image = signed_in_pair(pair)
    warm(alice_one, image["thumbnail_url"])
    assert admin_two.patch(f"/api/v1/users/{alice.id}/deactivate",
                           headers=YES).status_code == 200
    assert alice_one.get(image["thumbnail_url"]).status_code == 401


def test_a_trash_in_another_process_ends_the_share_link_at_once(pair):
    first, second = pair
    alice, alice_one, _admin_two, image = signed_in_pair(pair)
    alice_two = Api(second.test_client(), alice_one.token, alice)
    link = share_path(alice_one, image)
    anonymous = first.test_client()
    warm(anonymous, link)
    assert alice_two.delete(f"/api/v1/images/{image['id']}", headers=YES).status_code == 200
    assert anonymous.get(link).status_code == 404


def test_a_sign_out_in_another_process_is_seen_on_the_next_request(pair):
    first, second = pair
    _alice, alice_one, _admin_two, image = signed_in_pair(pair)
    browser = Browser(second.test_client(), "alice", USER_PASSWORD)
    copy = copy_of(first, browser)
    warm(copy.client, image["thumbnail_url"])
    assert browser.client.post("/logout", data={"csrf_token": browser.csrf}).status_code == 303
    assert copy.client.get(image["thumbnail_url"]).status_code == 401


def test_a_purge_run_by_the_cli_is_seen_on_the_next_request(pair, tmp_path):
    first, _second = pair
    _alice, alice_one, _admin_two, image = signed_in_pair(pair)
    assert alice_one.delete(f"/api/v1/images/{image['id']}", headers=YES).status_code == 200
    make_due(first, image["id"])
    revalidate = warm(alice_one, image["thumbnail_url"])  # the trash page, from warm entries
    env = {**os.environ, "PAPELERA_INSTANCE": str(tmp_path / "instance")}
    for name in ("DATABASE_URL", "MONGO_URI", "STORAGE_URL", "REDIS_URL"):
        env.pop(name, None)
    run = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "purge"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "purged 1 image(s)" in run.stdout, run.stdout + run.stderr
    assert alice_one.get(image["thumbnail_url"], headers=revalidate).status_code == 404


def test_an_unreachable_generation_decides_from_the_stores_every_time(tmp_path, caplog):
    """Redis down: nothing is trusted from memory; refusals still land at once."""
    app = build_app(tmp_path, REDIS_URL="redis://127.0.0.1:1/0",
                    MEDIA_CACHE_NAMESPACE=f"papelera-test:{uuid.uuid4().hex}")
    try:
        alice, alice_api, admin_api = alice_and_admin(app)
        image = alice_api.upload(picture()).get_json()
        for _ in range(2):
            response = alice_api.get(image["thumbnail_url"])
            assert response.status_code == 200 and response.headers["X-Cache"] == "MISS"
        assert "media access generation unreadable" in caplog.text
        assert admin_api.patch(f"/api/v1/users/{alice.id}/deactivate",
                               headers=YES).status_code == 200
        assert alice_api.get(image["thumbnail_url"]).status_code == 401
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
