"""``REDIS_URL=unix:///path/to/redis.sock``: every Redis user works over the socket.

The media cache, the access generation, the per-IP limits and auto-block counters
(`limits` calls a socket ``redis+unix://``), the block list's version and the sign-in
limits. Against a throwaway ``redis-server`` listening on a socket only (skipped when
``redis-server`` is not installed).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from urllib.parse import urlsplit

import pytest
import redis

from app.auth.throttle import EXTENSION as THROTTLE
from app.core.access_cache import EXTENSION as ACCESS
from app.core.access_cache import RedisGeneration
from app.core.extensions import limiter
from app.media.counters import MediaRedisStorage
from app.media.protection import EXTENSION as PROTECTION
from app.media.protection import RedisVersion
from tests.conftest import build_app
from tests.media.conftest import alice_and_admin, close_app, picture
from tests.media.helpers import set_media_config


@pytest.fixture
def socket_url(tmp_path):
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    path = tmp_path / "redis.sock"
    process = subprocess.Popen([server, "--port", "0", "--unixsocket", str(path),
                                "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"unix://{path}"
    deadline = time.monotonic() + 10
    while True:
        try:
            if redis.Redis.from_url(url).ping():
                break
        except (redis.ConnectionError, FileNotFoundError):
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)
    yield url
    process.terminate()
    process.wait(10)


def test_every_redis_user_works_over_a_unix_socket(tmp_path, socket_url):
    app = build_app(tmp_path, REDIS_URL=socket_url, RATELIMIT_STORAGE_URI=None)
    try:
        with app.app_context():
            assert isinstance(limiter.storage, MediaRedisStorage)
        assert isinstance(app.extensions[ACCESS].generation, RedisGeneration)
        assert isinstance(app.extensions[PROTECTION].board.version, RedisVersion)
        assert isinstance(app.extensions[THROTTLE].storage, MediaRedisStorage)

        _alice, alice_api, _admin_api = alice_and_admin(app)
        image = alice_api.upload(picture((64, 48))).get_json()
        thumb = image["thumbnail_url"]
        assert alice_api.get(thumb).headers["X-Cache"] == "MISS"
        assert alice_api.get(thumb).headers["X-Cache"] == "HIT"

        set_media_config(app, rate_limits={"per_minute": 2, "per_hour": 100,
                                                 "per_day": 1000})
        url = alice_api.post(f"/api/v1/images/{image['id']}/share",
                             json={"ttl_s": 3600}).get_json()["url"]
        parts = urlsplit(url)
        link = f"{parts.path}/thumb?{parts.query}"
        anonymous = app.test_client()
        visitor = {"REMOTE_ADDR": "198.51.100.30"}
        answers = [anonymous.get(link, environ_base=visitor) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[2].headers["RateLimit-Limit"] == "2"  # on the refusal only

        server = redis.Redis.from_url(socket_url)
        keys = b" ".join(server.keys("*"))
        for kept in (b"papelera:media:", b"/login-ip/", b"/autoblock/", b"/media/2/1/minute"):
            assert kept in keys  # the cache, sign-in limits, auto-block, /media limits
        assert any(b"access-generation" in name for name in server.pubsub_channels())
    finally:
        close_app(app)
