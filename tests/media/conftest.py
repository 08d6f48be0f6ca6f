"""The media tests run on SQLite and PostgreSQL, each with the in-process cache and Redis."""

from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image as PILImage

from app.extensions import db
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
    overrides = {}
    if engine == "postgresql":
        if postgres_database is None:
            pytest.skip(NO_POSTGRES)
        overrides["SQLALCHEMY_DATABASE_URI"] = postgres_database
    if cache == "redis":
        if not redis_answers():
            pytest.skip(f"Redis is not answering at {REDIS_URL}")
        # A namespace of its own: other test runs may share this Redis.
        overrides.update(REDIS_URL=REDIS_URL,
                         MEDIA_CACHE_NAMESPACE=f"papelera-test:{uuid.uuid4().hex}")
    app = build_app(tmp_path, fresh_schema=True, **overrides)
    yield app
    with app.app_context():
        backend = get_cache()
        if backend.backend == "redis":
            keys = list(backend.client.scan_iter(match=f"{backend.namespace}:*"))
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
