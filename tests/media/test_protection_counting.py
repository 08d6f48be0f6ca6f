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

from app.core.extensions import db, limiter
from app.media.counters import (
    COUNT_REQUEST,
    MAX_UNITS,
    UNIT_LIFE_S,
    MediaRedisStorage,
    Reservations,
)
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
    connection.script_load(COUNT_REQUEST)  # a fresh Redis would first answer NOSCRIPT
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
    for _ in range(2):
        calls.clear()
        served = fetch(client, link)
        assert served.status_code == 200
        # A share link's answer is cacheable: no RateLimit-* a shared cache would replay.
        assert "RateLimit-Remaining" not in served.headers
        assert calls == ["EVALSHA"]
    calls.clear()
    refused = fetch(client, link)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert (refused.headers["RateLimit-Limit"], refused.headers["RateLimit-Remaining"]) == \
        ("2", "0")
    assert calls == ["EVALSHA"]


def test_flask_limiter_is_asked_only_for_a_request_a_window_refuses(app, client, link,
                                                                     monkeypatch):
    """The gate's call already decided a request every window let through; Flask-Limiter's
    evaluation would only read those verdicts back (``guard._not_limited``). It still
    decides the refusal, with its ``on_breach`` answer."""
    with app.app_context():
        strategy = limiter.limiter
    asked = []
    original = strategy.hit
    monkeypatch.setattr(strategy, "hit", lambda item, *ids, **kw: asked.append(item.amount)
                        or original(item, *ids, **kw))
    set_media_config(app, rate_limits={"per_minute": 2, "per_hour": 100, "per_day": 1000})
    assert [fetch(client, link).status_code for _ in range(2)] == [200, 200]
    assert asked == []
    refused = fetch(client, link)
    assert refused.status_code == 429
    assert refused.get_json()["code"] == "rate_limited"
    assert asked == [2]


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


# -- reservations: a client that keeps one process busy costs a call per several requests

def test_a_busy_client_is_counted_a_reservation_at_a_time(app, client, link, calls):
    """Past its first requests, a client coming back many times a second makes one call
    per several requests; every request is counted (share-link answers carry no
    RateLimit-* headers any more: the count is read from the counters)."""
    set_media_config(app, rate_limits={"per_minute": 10_000, "per_hour": 100_000,
                                       "per_day": 1_000_000})
    calls.clear()
    for _ in range(200):
        served = fetch(client, link)
        assert served.status_code == 200
    assert 0 < calls.count("EVALSHA") <= 200 // 4
    reader = SlidingWindowCounterRateLimiter(RedisStorage(REDIS_URL))
    budget = f"{app.namespace}/media/{VISITOR}"
    counted = 10_000 - reader.get_window_stats(parse("10000/minute"), app.namespace, budget,
                                               "media").remaining
    assert 200 <= counted < 200 + MAX_UNITS  # reserved, not yet used: counted already


def test_near_a_limit_each_request_is_counted_alone(app, client, link):
    """One process serving a busy client lets exactly the limit through, no more."""
    set_media_config(app, rate_limits={"per_minute": 60, "per_hour": 1000, "per_day": 10_000})
    answers = [fetch(client, link).status_code for _ in range(70)]
    assert answers == [200] * 60 + [429] * 10


def test_auto_block_counts_reservations_exactly_at_its_threshold(app, client, link):
    set_media_config(app, auto_block={"threshold_per_image_per_hour": 50, "block_for_s": 60})
    answers = [fetch(client, link).status_code for _ in range(52)]
    assert answers == [200] * 50 + [403] * 2


def test_two_processes_never_let_more_than_the_limit_through(app, tmp_path, link):
    """Another process (an app with its own reservations, on the same Redis) shares the
    budget: units the first reserved and never used make the refusal come early, by
    fewer than MAX_UNITS, never late."""
    set_media_config(app, rate_limits={"per_minute": 100, "per_hour": 1000, "per_day": 10_000})
    first = [fetch(app.test_client(), link).status_code for _ in range(60)]
    assert first == [200] * 60
    with app.app_context():
        first_storage = limiter.storage
    other = build_app(tmp_path / "other", REDIS_URL=REDIS_URL, RATELIMIT_STORAGE_URI=REDIS_URL,
                      RATELIMIT_KEY_PREFIX=app.namespace,
                      MEDIA_PROTECTION_NAMESPACE=app.namespace,
                      MEDIA_CACHE_NAMESPACE=f"{app.namespace}:media",
                      SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"])
    # One installation, one user store (a share link serves while its owner is active).
    other.extensions["papelera.users"] = app.extensions["papelera.users"]
    try:
        with other.app_context():
            assert limiter.storage is not first_storage
        second = [fetch(other.test_client(), link).status_code for _ in range(60)]
    finally:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()
    served = second.count(200)
    assert second == [200] * served + [429] * (60 - served)
    assert 100 - (MAX_UNITS - 1) <= 60 + served <= 100


# -- the reservation book itself, on a clock of the test's own

class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    from app.media import counters

    clock = Clock()
    monkeypatch.setattr(counters.time, "monotonic", clock)
    return clock


STATES = [("/minute", True, 0, 0.0, 10, 119.0)]


def test_a_reservation_is_sized_to_the_clients_pace(clock):
    book = Reservations()
    key = ("autoblock", ())
    assert book.wanted(key) == 1  # never seen
    book.record(key, 1, STATES)
    clock.now += 0.125  # eight requests a second: half a second's worth
    assert book.wanted(key) == 4
    book.record(key, 1, STATES)
    clock.now += 0.0001  # thousands a second: capped
    assert book.wanted(key) == MAX_UNITS
    book.record(key, 1, STATES)
    clock.now += 2.0  # a slow client is counted one request at a time
    assert book.wanted(key) == 1


def test_reserved_units_are_spent_once_and_expire(clock):
    book = Reservations()
    key = ("autoblock", ())
    counted = book.record(key, 3, STATES)
    assert counted["/minute"].state == (0, 0.0, 8, 119.0)  # this request's count: 10 - 2
    clock.now += 0.25
    assert book.spend(key)["/minute"].state == (0, 0.0, 9, 118.75)
    assert book.spend(key)["/minute"].state[2] == 10
    assert book.spend(key) is None  # all three used
    book.record(key, 3, STATES)
    clock.now += UNIT_LIFE_S
    assert book.spend(key) is None  # unused past their life: dropped


def test_units_reserved_by_two_threads_are_all_kept(clock):
    book = Reservations()
    key = ("autoblock", ())
    book.record(key, 4, STATES)
    book.record(key, 4, STATES)  # another thread's call, before any unit was spent
    assert sum(book.spend(key) is not None for _ in range(10)) == 6


def test_a_forked_process_starts_without_reservations(clock, monkeypatch):
    from app.media import counters

    book = Reservations()
    key = ("autoblock", ())
    book.record(key, 4, STATES)
    monkeypatch.setattr(counters.os, "getpid", lambda: -1)
    assert book.spend(key) is None
