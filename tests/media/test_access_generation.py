"""The generation in Redis (``RedisGeneration``): followed through a subscription, so a
warm /media request makes no round trip, yet no bump is missed.

Against the real Redis on 127.0.0.1:6379 (skipped when it does not answer), each test in
a key of its own.
"""

from __future__ import annotations

import uuid

import pytest
import redis

from app.core.access_cache import EXTENSION, RedisGeneration
from tests.conftest import build_app
from tests.media.conftest import REDIS_URL, alice_and_admin, close_app, picture, redis_answers


@pytest.fixture
def key():
    if not redis_answers():
        pytest.skip(f"Redis is not answering at {REDIS_URL}")
    name = f"papelera-test:{uuid.uuid4().hex}:access-generation"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(name)
    client.close()


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def follower(key, **options) -> tuple[RedisGeneration, list[str]]:
    """A generation on a client of its own, and the keys it GETs (each a round trip)."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    gets: list[str] = []
    original = client.get
    client.get = lambda name: gets.append(name) or original(name)
    return RedisGeneration(client, key, **options), gets


def test_a_bump_reaches_another_process_without_a_round_trip(key):
    bumper, _ = follower(key, recheck_s=60)
    reader, gets = follower(key, recheck_s=60)
    first = reader.read()  # subscribes, then reads the key once
    assert gets == [key]
    assert reader.read() == first and gets == [key]  # nothing moved: no GET
    bumper.bump()
    moved = reader.read()
    assert moved != first and gets == [key]  # the bump came as a message
    bumper.bump()
    bumper.bump()
    last = reader.read()
    assert last not in (first, moved) and gets == [key]
    assert last == redis.Redis.from_url(REDIS_URL).get(key).decode()  # the newest one


def test_a_bump_before_the_first_read_is_in_its_get(key):
    bumper, _ = follower(key)
    bumper.bump()
    reader, _ = follower(key)
    assert reader.read() == redis.Redis.from_url(REDIS_URL).get(key).decode() != ""


def test_a_lost_message_is_caught_by_the_recheck(key):
    """A change that never came as a message (here a SET without PUBLISH) is seen once the
    last GET is older than ``recheck_s``, not before."""
    clock = Clock()
    reader, gets = follower(key, recheck_s=1.0, clock=clock)
    before = reader.read()
    redis.Redis.from_url(REDIS_URL).set(key, "changed-behind-its-back")
    clock.now += 0.5
    assert reader.read() == before
    clock.now += 0.5
    assert reader.read() == "changed-behind-its-back"
    assert gets == [key, key]


def test_a_subscription_dropped_by_redis_is_renewed_and_the_key_read(key):
    """Redis drops the subscription; a bump is published while nobody listens. The next
    read that succeeds must answer that bump (redis-py may reconnect on its own, or the
    read fails once and the request decides from the stores)."""
    bumper, _ = follower(key, recheck_s=60)
    reader, gets = follower(key, recheck_s=60)
    before = reader.read()
    admin = redis.Redis.from_url(REDIS_URL)
    pubsub_ids = [c["id"] for c in admin.client_list(_type="pubsub")
                  if c.get("addr") == _client_address(reader)]
    assert len(pubsub_ids) == 1
    admin.client_kill_filter(_id=pubsub_ids[0])
    bumper.bump()
    now = admin.get(key).decode()
    assert now != before
    answers = []
    for _ in range(3):
        try:
            answers.append(reader.read())
            break
        except (redis.ConnectionError, redis.TimeoutError):
            answers.append("failed")
    assert answers[-1] == now, answers
    assert len(gets) == 2  # the first read, and the one after the reconnection
    bumper.bump()
    assert reader.read() == admin.get(key).decode()  # subscribed again: messages flow


def test_a_subscription_redis_py_reconnects_by_itself_reads_the_key(key):
    """redis-py reconnects a closed subscription on the next poll and subscribes again,
    silently: bumps published in between were lost, so the read must GET the key."""
    bumper, _ = follower(key, recheck_s=60)
    reader, gets = follower(key, recheck_s=60)
    before = reader.read()
    reader._pubsub.connection.disconnect()  # what redis-py does after a socket error
    bumper.bump()  # nobody is subscribed: this message is lost
    now = redis.Redis.from_url(REDIS_URL).get(key).decode()
    assert now != before
    assert reader.read() == now
    assert len(gets) == 2
    bumper.bump()
    assert reader.read() == redis.Redis.from_url(REDIS_URL).get(key).decode()
    assert len(gets) == 2  # subscribed again: the message came, no GET


def _client_address(generation: RedisGeneration) -> str:
    """The subscription's socket as Redis lists it (``addr``: the client's end)."""
    host, port = generation._pubsub.connection._sock.getsockname()[:2]
    return f"{host}:{port}"


def test_a_warm_media_hit_makes_no_redis_round_trip_for_the_generation(tmp_path):
    """Through HTTP: after the first request, hits read the generation from the
    subscription; a deactivation made meanwhile is still refused on the next request."""
    if not redis_answers():
        pytest.skip(f"Redis is not answering at {REDIS_URL}")
    app = build_app(tmp_path, REDIS_URL=REDIS_URL, MEDIA_ACCESS_RECHECK_S=60,
                    MEDIA_CACHE_NAMESPACE=f"papelera-test:{uuid.uuid4().hex}")
    try:
        alice, alice_api, admin_api = alice_and_admin(app)
        thumb = alice_api.upload(picture()).get_json()["thumbnail_url"]
        generation = app.extensions[EXTENSION].generation
        gets = []
        original = generation.client.get
        generation.client.get = lambda name: gets.append(name) or original(name)
        for _ in range(3):
            assert alice_api.get(thumb).status_code == 200
        started = len(gets)
        for _ in range(5):
            response = alice_api.get(thumb)
            assert response.status_code == 200 and response.headers["X-Cache"] == "HIT"
        assert gets[started:] == []
        assert admin_api.patch(f"/api/v1/users/{alice.id}/deactivate",
                               headers={"X-Confirm-Delete": "yes"}).status_code == 200
        assert alice_api.get(thumb).status_code == 401
        assert gets[started:] == []
    finally:
        close_app(app)
