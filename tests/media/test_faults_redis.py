"""Issue 18, item 10: a Redis that accepts connections and never answers costs a request a
bounded time. Against a real TCP server that accepts and never answers.

Before: one call took 26 s (redis-py's retries around a 2 s timeout), the access
generation's read held a process-wide lock through it, and threads queued for minutes.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from app.core import redis_breaker
from app.core.access_cache import RedisGeneration
from app.core.extensions import db
from app.core.redis_breaker import Breaker, RedisDown, hot_client
from tests.conftest import ADMIN_PASSWORD, USER_PASSWORD, build_app
from tests.media.conftest import REDIS_URL, alice_and_admin, picture, redis_answers
from tests.media.helpers import set_media_config


class SilentServer:
    """Accepts every connection and never writes a byte."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.accepted: list[socket.socket] = []
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def close(self):
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent():
    redis_breaker.reset_breakers()
    server = SilentServer()
    yield server
    server.close()
    redis_breaker.reset_breakers()


def test_one_call_is_bounded_and_the_breaker_answers_the_next_at_once(silent):
    client = hot_client(silent.url)
    started = time.monotonic()
    with pytest.raises(redis.TimeoutError):
        client.get("x")
    assert time.monotonic() - started < 1.0  # no retries
    started = time.monotonic()
    with pytest.raises(RedisDown):
        client.get("x")
    with pytest.raises(RedisDown):
        with client.pipeline() as pipe:
            pipe.get("x")
            pipe.execute()
    assert time.monotonic() - started < 0.05
    assert client.breaker is hot_client(silent.url.replace("/0", "/3")).breaker  # one per Redis


def test_the_breaker_rechecks_after_an_exponential_wait():
    now = [0.0]
    breaker = Breaker("test", clock=lambda: now[0])
    breaker.failed(OSError("down"))
    assert not breaker.allows()
    now[0] = 1.0
    assert breaker.allows()       # the probe
    assert not breaker.allows()   # only one
    breaker.failed(OSError("still down"))
    now[0] = 2.5
    assert not breaker.allows()   # 2 s now
    now[0] = 3.0
    assert breaker.allows()
    breaker.succeeded()
    assert breaker.allows() and not breaker.down


def test_a_lost_probe_frees_the_turn():
    now = [0.0]
    breaker = Breaker("test", clock=lambda: now[0])
    breaker.failed(OSError("down"))
    now[0] = 1.0
    assert breaker.allows()  # the probe, whose thread then dies without a word
    now[0] = 3.0
    assert not breaker.allows()
    now[0] = 6.5
    assert breaker.allows()


@pytest.mark.skipif(not redis_answers(), reason=f"Redis is not answering at {REDIS_URL}")
def test_the_access_generation_closes_the_breaker_when_redis_is_back():
    """Its read asks without taking the probe, so its own call can be the probe."""
    now = [0.0]
    client = hot_client(REDIS_URL)
    client.breaker = Breaker("generation", clock=lambda: now[0])
    generation = RedisGeneration(client, f"papelera-test:{uuid.uuid4().hex}:gen")
    client.breaker.failed(OSError("down a moment ago"))
    with pytest.raises(RedisDown):
        generation.read()
    now[0] = 2.0
    assert generation.read() == ""  # subscribed and read: Redis answered
    assert not client.breaker.down
    generation.bump()
    client.close()


@pytest.fixture
def hung_app(tmp_path, silent):
    app = build_app(tmp_path, fresh_schema=True, REDIS_URL=silent.url,
                    RATELIMIT_STORAGE_URI=None,
                    MEDIA_CACHE_NAMESPACE=f"papelera-test:{uuid.uuid4().hex}")
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_images_sign_in_and_site_blocks_keep_working_from_local_state(hung_app):
    app = hung_app
    started = time.monotonic()
    _alice, alice_api, admin_api = alice_and_admin(app)  # two sign-ins
    image = alice_api.upload(picture((64, 48))).get_json()
    assert time.monotonic() - started < 6.0

    redis_breaker.reset_breakers()  # Redis looks alive again: every thread meets it

    def fetch(_):
        client = app.test_client()
        began = time.monotonic()
        response = client.get(image["thumbnail_url"],
                              headers={"Authorization": f"Bearer {alice_api.token}"})
        return response.status_code, time.monotonic() - began

    began = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(fetch, range(16)))
    assert [status for status, _ in answers] == [200] * 16
    assert max(took for _, took in answers) < 2.0, answers
    assert time.monotonic() - began < 4.0

    # Sign-in is counted in this process while Redis does not answer.
    client = app.test_client()
    began = time.monotonic()
    token = client.post("/api/v1/auth/token",
                        json={"username": "alice", "password": USER_PASSWORD})
    assert token.status_code in (200, 201), token.get_json()
    assert time.monotonic() - began < 2.0
    assert ADMIN_PASSWORD  # the admin signed in above, through the same fallback

    # Site-scope blocking from the config (SQL), not from Redis.
    set_media_config(app, block_scope="site", block_ips=["198.51.100.7"])
    began = time.monotonic()
    blocked = app.test_client().get("/", environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert blocked.status_code == 403
    assert time.monotonic() - began < 2.0
    assert admin_api.get("/api/v1/admin/media/config").status_code == 200
