"""The media tests run on SQLite and PostgreSQL, each with the in-process cache and Redis."""

from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image as PILImage

from app.core.extensions import db
from app.media.cache import get_cache
from tests.conftest import ENGINES, NO_POSTGRES, build_app

REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_answers() -> bool:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


@pytest.fixture(params=[(engine, cache) for cache in ("memory", "redis") for engine in ENGINES],
                ids=lambda p: f"{p[0]}-{p[1]}")
def app(request, tmp_path, postgres_database):
    engine, cache = request.param
    overrides = store_overrides(engine, redis=cache == "redis",
                                postgres_database=postgres_database)
    app = build_app(tmp_path, fresh_schema=True, **overrides)
    yield app
    close_app(app)


def store_overrides(engine: str, *, redis: bool, postgres_database,
                    namespace: str | None = None) -> dict:
    """Settings for one engine (skipping when PostgreSQL or Redis is absent); with Redis,
    a namespace of its own, since other test runs may share this Redis."""
    overrides = {}
    if engine == "postgresql":
        if postgres_database is None:
            pytest.skip(NO_POSTGRES)
        overrides["SQLALCHEMY_DATABASE_URI"] = postgres_database
    if redis:
        if not redis_answers():
            pytest.skip(f"Redis is not answering at {REDIS_URL}")
        cache_namespace = f"{namespace}:media" if namespace else \
            f"papelera-test:{uuid.uuid4().hex}"
        overrides.update(REDIS_URL=REDIS_URL, MEDIA_CACHE_NAMESPACE=cache_namespace)
    return overrides


def protection_app(engine: str, store: str, tmp_path, postgres_database, **extra):
    """An app for the media-protection tests (a fixture body: yields it, then closes
    it): ``engine`` with counters in ``store`` ("memory" or "redis"), the protection's
    and the limiter's keys under a namespace of its own."""
    namespace = f"papelera-test-{uuid.uuid4().hex}"
    overrides = store_overrides(engine, redis=store == "redis",
                                postgres_database=postgres_database, namespace=namespace)
    overrides.update(MEDIA_PROTECTION_NAMESPACE=namespace, **extra)
    if store == "redis":
        overrides.update(RATELIMIT_STORAGE_URI=REDIS_URL, RATELIMIT_KEY_PREFIX=namespace)
    app = build_app(tmp_path, fresh_schema=True, **overrides)
    yield app
    close_app(app, namespace)


def close_app(app, namespace: str | None = None) -> None:
    """Drop the test's Redis keys (the cache's, and ``namespace``'s when given), then
    close its stores."""
    with app.app_context():
        backend = get_cache()
        if backend.backend == "redis":
            match = f"*{namespace}*" if namespace else f"{backend.namespace}:*"
            keys = list(backend.client.scan_iter(match=match))
            if keys:
                backend.client.delete(*keys)
            backend.client.close()
        db.session.remove()
        db.engine.dispose()


def picture(size=(640, 480), fmt="PNG", color=(30, 120, 200)) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", size, color).save(out, format=fmt)
    return out.getvalue()


def cached_keys(app, image_id) -> set[str]:
    with app.app_context():
        return get_cache().keys_of(image_id)


def alice_and_admin(app):
    """A user ``alice`` made in ``app``, and bearer-token clients for her and the admin."""
    from app.core.db import utcnow
    from app.users.repository import get_users
    from app.users.service import create_user
    from tests.conftest import ADMIN_PASSWORD, USER_PASSWORD, Api, login_api

    with app.app_context():
        alice = create_user(get_users(), username="alice", email="alice@example.com",
                            password=USER_PASSWORD, now=utcnow())
    client = app.test_client()
    return (alice, Api(client, login_api(client, "alice", USER_PASSWORD), alice),
            Api(client, login_api(client, "founder", ADMIN_PASSWORD), None))
