"""The server cache: X-Cache, size limit, TTL, bounds, and eviction by every kind of delete."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import update

from app.core.db import utcnow
from app.core.extensions import db
from app.images.erasure import claim
from app.images.models import Image
from app.media.cache import MemoryCache, get_cache
from tests.media.conftest import cached_keys, picture

CONFIRM = {"X-Confirm-Delete": "yes"}
FORMS = ["", "/thumb", "?w=320&fmt=webp"]


@pytest.fixture
def image(alice_api):
    return alice_api.upload(picture()).get_json()


def warm(api, image) -> None:
    """Fetch every form twice: a MISS that fills the cache, then a HIT."""
    for form in FORMS:
        assert api.get(image["url"] + form).headers["X-Cache"] == "MISS"
        assert api.get(image["url"] + form).headers["X-Cache"] == "HIT"


def test_a_second_fetch_is_a_hit_with_the_same_bytes(alice_api, image):
    for form in FORMS:
        miss = alice_api.get(image["url"] + form)
        hit = alice_api.get(image["url"] + form)
        assert (miss.headers["X-Cache"], hit.headers["X-Cache"]) == ("MISS", "HIT")
        assert hit.data == miss.data
        assert hit.headers["ETag"] == miss.headers["ETag"]
        assert hit.headers["Content-Type"] == miss.headers["Content-Type"]


def test_objects_over_cache_max_bytes_bypass_the_cache(app, alice_api, image):
    thumb_size = len(alice_api.get(image["thumbnail_url"]).data)  # cached: under the limit
    app.config["MEDIA_CONFIG"] = {"cache_max_bytes": thumb_size}
    assert alice_api.get(image["thumbnail_url"]).headers["X-Cache"] == "HIT"
    for _ in range(2):
        original = alice_api.get(image["url"])
        assert original.status_code == 200 and original.headers["X-Cache"] == "BYPASS"


def test_cache_disabled_bypasses_and_stores_nothing(app, alice_api, image):
    app.config["MEDIA_CONFIG"] = {"cache_enabled": False}
    for form in FORMS:
        for _ in range(2):
            assert alice_api.get(image["url"] + form).headers["X-Cache"] == "BYPASS"
    assert cached_keys(app, image["id"]) == set()


def test_head_reads_nothing_and_says_bypass(app, alice_api, image):
    head = alice_api.client.head(image["url"], headers=alice_api.headers())
    assert head.headers["X-Cache"] == "BYPASS"
    assert cached_keys(app, image["id"]) == set()


def test_entries_expire_after_cache_ttl_s(app, alice_api, image):
    app.config["MEDIA_CONFIG"] = {"cache_ttl_s": 30}
    cache = get_cache_of(app)
    if cache.backend == "redis":
        alice_api.get(image["thumbnail_url"])
        key = f"{cache.namespace}:{image['id']}:thumb"
        assert 0 < cache.client.ttl(key) <= 30
        return
    clock = {"t": 1000.0}
    cache.clock = lambda: clock["t"]
    assert alice_api.get(image["thumbnail_url"]).headers["X-Cache"] == "MISS"
    clock["t"] += 29
    assert alice_api.get(image["thumbnail_url"]).headers["X-Cache"] == "HIT"
    clock["t"] += 31
    assert alice_api.get(image["thumbnail_url"]).headers["X-Cache"] == "MISS"


def test_the_in_process_cache_is_bounded_in_bytes(tmp_path, alice_api, app):
    cache = get_cache_of(app)
    if cache.backend != "memory":
        pytest.skip("the byte bound is the in-process cache's (Redis has maxmemory)")
    images = [alice_api.upload(picture(color=(i, 9, 9))).get_json() for i in range(3)]
    sizes = [len(alice_api.get(i["thumbnail_url"]).data) for i in images]
    bounded = MemoryCache(max_total_bytes=sizes[0] + sizes[1] + max(sizes) // 2)
    app.extensions["papelera.media_cache"] = bounded
    for image in images:
        assert alice_api.get(image["thumbnail_url"]).headers["X-Cache"] == "MISS"
    assert bounded.size <= bounded.max_total_bytes
    # The least recently used went first; the newest stayed.
    assert alice_api.get(images[2]["thumbnail_url"]).headers["X-Cache"] == "HIT"
    assert alice_api.get(images[0]["thumbnail_url"]).headers["X-Cache"] == "MISS"


def get_cache_of(app):
    with app.app_context():
        return get_cache()


# -- eviction ----------------------------------------------------------------------------

def test_soft_delete_evicts_every_variant(app, alice_api, image):
    warm(alice_api, image)
    assert cached_keys(app, image["id"])
    assert alice_api.delete(f"/api/v1/images/{image['id']}", headers=CONFIRM).status_code == 200
    assert cached_keys(app, image["id"]) == set()
    # The owner still sees it (trash page), read again from storage.
    assert alice_api.get(image["thumbnail_url"]).headers["X-Cache"] == "MISS"


def test_permanent_delete_evicts_every_variant(app, alice_api, image):
    warm(alice_api, image)
    gone = alice_api.delete(f"/api/v1/images/{image['id']}?permanent=true", headers=CONFIRM)
    assert gone.status_code == 200
    assert cached_keys(app, image["id"]) == set()
    assert alice_api.get(image["url"]).status_code == 404


def test_the_purge_evicts_and_no_cache_entry_or_share_link_outlives_it(app, client, alice_api,
                                                                      admin_api, image):
    link = share_path(alice_api, image)
    warm(alice_api, image)
    assert client.get(link).status_code == 200
    assert alice_api.delete(f"/api/v1/images/{image['id']}", headers=CONFIRM).status_code == 200
    warm(alice_api, image)  # the trash page fills the cache again
    make_due(app, image["id"])
    run = admin_api.delete("/api/v1/admin/purge", headers=CONFIRM)
    assert run.status_code == 200 and run.get_json()["deleted"] == 1
    assert cached_keys(app, image["id"]) == set()
    assert client.get(link).status_code == 404
    for form in FORMS:
        assert alice_api.get(image["url"] + form).status_code == 404


def test_emptying_the_trash_evicts(app, alice_api, image):
    alice_api.delete(f"/api/v1/images/{image['id']}", headers=CONFIRM)
    warm(alice_api, image)
    assert alice_api.delete("/api/v1/trash", headers=CONFIRM).status_code == 200
    assert cached_keys(app, image["id"]) == set()


def test_user_deletion_evicts_every_image_of_the_user(app, client, alice, alice_api, admin_api,
                                                      image):
    trashed = alice_api.upload(picture(color=(5, 5, 5))).get_json()
    link = share_path(alice_api, image)
    warm(alice_api, image)
    alice_api.delete(f"/api/v1/images/{trashed['id']}", headers=CONFIRM)
    warm(alice_api, trashed)
    response = admin_api.delete(f"/api/v1/users/{alice.id}?permanent=true&force=true",
                                headers={"X-Confirm-Delete": "alice"})
    assert response.status_code == 200, response.get_json()
    assert cached_keys(app, image["id"]) == set()
    assert cached_keys(app, trashed["id"]) == set()
    assert client.get(link).status_code == 404
    assert admin_api.get(image["url"]).status_code == 404


def test_the_access_check_runs_before_the_cache(app, client, make_user, api_for, alice_api,
                                                image):
    warm(alice_api, image)
    bob = api_for(make_user("bob"))
    for form in FORMS:
        assert bob.get(image["url"] + form).status_code == 404
        assert client.get(image["url"] + form).status_code == 401
    # A row claimed by a purge is never served, even from a warm cache.
    warm_again = alice_api.get(image["thumbnail_url"])
    assert warm_again.headers["X-Cache"] == "HIT"
    with app.app_context():  # in the trash, due, then claimed as a purge claims it
        now = utcnow()
        db.session.execute(update(Image).where(Image.id == _uuid(image["id"]))
                           .values(is_deleted=True, deleted_at=now, purge_after=now))
        db.session.commit()
        assert claim(Image.id == _uuid(image["id"]), claim_id="run:x", now=now, limit=1) == 1
    assert alice_api.get(image["thumbnail_url"]).status_code == 404


def share_path(api, image) -> str:
    url = api.post(f"/api/v1/images/{image['id']}/share", json={"ttl_s": 3600}).get_json()["url"]
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def make_due(app, image_id) -> None:
    from app.core.db import utcnow

    with app.app_context():
        db.session.execute(update(Image).where(Image.id == _uuid(image_id))
                           .values(purge_after=utcnow() - timedelta(days=1)))
        db.session.commit()


def _uuid(value):
    import uuid

    return uuid.UUID(value)
