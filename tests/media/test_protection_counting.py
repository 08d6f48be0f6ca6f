"""With Redis, a /media request's counters cost one call (``app.media.counters``).

Auto-block and the three Flask-Limiter windows are counted by one script the protection
gate runs; Flask-Limiter's hits and the ``RateLimit-*`` headers are answered from it.
The counters keep `limits`' layout, so `limits` itself reads the same budget.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import pytest
from limits import parse
from limits.storage import RedisStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from app.extensions import db, limiter
from app.media.counters import MediaRedisStorage
from tests.conftest import build_app
from tests.media.conftest import REDIS_URL, close_app, picture, redis_answers
from tests.media.helpers import set_media_config

pytestmark = pytest.mark.skipif(not redis_answers(),
                                reason=f"Redis is not answering at {REDIS_URL}")

VISITOR = "198.51.100.20"


@pytest.fixture
def app(tmp_path):
    namespace = f"papelera-test-{uuid.uuid4().hex}"
    app = build_app(tmp_path, fresh_schema=True, REDIS_URL=REDIS_URL,
                    RATELIMIT_STORAGE_URI=REDIS_URL, RATELIMIT_KEY_PREFIX=namespace,
                    MEDIA_PROTECTION_NAMESPACE=namespace,
                    MEDIA_CACHE_NAMESPACE=f"{namespace}:media")
    app.namespace = namespace
    yield app
    close_app(app, namespace)


@pytest.fixture
def link(alice_api):
    image = alice_api.upload(picture((64, 48))).get_json()
    url = alice_api.post(f"/api/v1/images/{image['id']}/share", json={"ttl_s": 3600}) \
        .get_json()["url"]
    parts = urlsplit(url)
    return f"{parts.path}/thumb?{parts.query}"


def record_calls(app, monkeypatch) -> list[str]:
    """The commands the limiter's Redis client sends (the counters' store) from now on."""
    with app.app_context():
        storage = limiter.storage
    assert isinstance(storage, MediaRedisStorage)
    connection = storage.get_connection()
    sent = []
    original = connection.execute_command

    def counting(*args, **options):
        sent.append(args[0])
        return original(*args, **options)

    monkeypatch.setattr(connection, "execute_command", counting)
    return sent


@pytest.fixture
def calls(app, monkeypatch):
    return record_calls(app, monkeypatch)


def fetch(client, path, ip=VISITOR):
    return client.get(path, environ_base={"REMOTE_ADDR": ip})


def test_a_limited_request_is_counted_in_one_call_headers_included(app, client, link, calls):
    set_media_config(app, rate_limits={"per_minute": 2, "per_hour": 100, "per_day": 1000})
    for remaining in (1, 0):
        calls.clear()
        served = fetch(client, link)
        assert served.status_code == 200
        assert (served.headers["RateLimit-Limit"], served.headers["RateLimit-Remaining"]) == \
            ("2", str(remaining))
        assert 0 < int(served.headers["RateLimit-Reset"]) <= 60
        assert calls == ["EVALSHA"]
    calls.clear()
    refused = fetch(client, link)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert calls == ["EVALSHA"]


def test_an_exempt_address_costs_no_call(app, client, link, calls):
    set_media_config(app, allow_ips=[VISITOR])
    calls.clear()
    assert fetch(client, link).status_code == 200
    assert calls == []


def test_the_hour_and_day_windows_refuse_as_well(app, client, link):
    set_media_config(app, rate_limits={"per_minute": 100, "per_hour": 2, "per_day": 1000})
    assert [fetch(client, link).status_code for _ in range(3)] == [200, 200, 429]
    set_media_config(app, rate_limits={"per_minute": 100, "per_hour": 100, "per_day": 1})
    assert [fetch(client, link, ip="198.51.100.21").status_code for _ in range(2)] == [200, 429]


def test_limits_reads_the_same_budget(app, client, link):
    """The counters are `limits`' own: its sliding-window limiter sees every request."""
    set_media_config(app, rate_limits={"per_minute": 5, "per_hour": 100, "per_day": 1000})
    for _ in range(3):
        assert fetch(client, link).status_code == 200
    reader = SlidingWindowCounterRateLimiter(RedisStorage(REDIS_URL))
    budget = f"{app.namespace}/media/{VISITOR}"
    assert reader.get_window_stats(parse("5/minute"), app.namespace, budget, "media") \
        .remaining == 2
    assert reader.get_window_stats(parse("100/hour"), app.namespace, budget, "media") \
        .remaining == 97


def test_a_request_refused_by_auto_block_uses_no_budget(app, client, link):
    set_media_config(app, rate_limits={"per_minute": 10, "per_hour": 100, "per_day": 1000},
                     auto_block={"threshold_per_image_per_hour": 2, "block_for_s": 60})
    assert [fetch(client, link).status_code for _ in range(3)] == [200, 200, 403]
    reader = SlidingWindowCounterRateLimiter(RedisStorage(REDIS_URL))
    budget = f"{app.namespace}/media/{VISITOR}"
    assert reader.get_window_stats(parse("10/minute"), app.namespace, budget, "media") \
        .remaining == 8


def test_another_app_in_the_same_process_counts_in_one_call_too(app, tmp_path, monkeypatch):
    """Flask-Limiter keeps the key prefix of the first app bound to it; a later app with
    another prefix (as in tests) still has its windows answered by the one call."""
    namespace = f"papelera-test-{uuid.uuid4().hex}"
    (tmp_path / "second").mkdir()
    second = build_app(tmp_path / "second", fresh_schema=True, REDIS_URL=REDIS_URL,
                       RATELIMIT_STORAGE_URI=REDIS_URL, RATELIMIT_KEY_PREFIX=namespace,
                       MEDIA_PROTECTION_NAMESPACE=namespace,
                       MEDIA_CACHE_NAMESPACE=f"{namespace}:media",
                       MEDIA_CONFIG={"rate_limits": {"per_minute": 2}})
    try:
        calls = record_calls(second, monkeypatch)
        client = second.test_client()
        path = f"/media/{uuid.uuid4()}"
        answers = []
        for _ in range(3):
            calls.clear()
            answer = fetch(client, path)
            answers.append((answer.status_code, answer.headers["RateLimit-Remaining"]))
            assert calls == ["EVALSHA"]
        assert answers == [(401, "1"), (401, "0"), (429, "0")]
    finally:
        import redis

        keys = list(redis.Redis.from_url(REDIS_URL).scan_iter(match=f"*{namespace}*"))
        if keys:
            redis.Redis.from_url(REDIS_URL).delete(*keys)
        with second.app_context():
            db.session.remove()
            db.engine.dispose()
