"""Two app processes (``make run``, gunicorn) sharing limits and blocks through Redis."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from tests.media.conftest import REDIS_URL, redis_answers
from tests.support.server import AppServer

pytestmark = pytest.mark.skipif(not redis_answers(),
                                reason=f"Redis is not answering at {REDIS_URL}")


def start(workdir, database, namespace, media_config):
    server = AppServer(workdir, REDIS_URL=REDIS_URL, DATABASE_URL=database,
                       SECRET_KEY="two-processes-secret-key-0123456789",
                       WEB_CONCURRENCY="1", GUNICORN_THREADS="2")
    server.instance.mkdir(parents=True, exist_ok=True)
    (server.instance / "config.py").write_text(
        f"MEDIA_PROTECTION_NAMESPACE = {namespace!r}\n"
        f"RATELIMIT_KEY_PREFIX = {namespace!r}\n"
        f"MEDIA_CONFIG = {media_config!r}\n")
    return server.start()


@pytest.fixture
def servers(tmp_path):
    namespace = f"papelera-test-{uuid.uuid4().hex}"
    database = f"sqlite:///{tmp_path / 'shared.db'}"
    config = {"rate_limits": {"per_minute": 4},
              "auto_block": {"threshold_per_image_per_hour": 3, "block_for_s": 0}}
    first = start(tmp_path / "one", database, namespace, config)
    try:
        second = start(tmp_path / "two", database, namespace, config)
    except Exception:
        first.stop()
        raise
    yield first, second
    first.stop()
    second.stop()
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"*{namespace}*"))
    if keys:
        client.delete(*keys)
    client.close()


def poll(check, timeout=1.0):
    """True as soon as ``check()`` is; False if it never was within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def test_limits_and_blocks_are_shared_between_processes(servers):
    one, two = servers
    with requests.Session() as http:
        # One budget for the address across both processes: 4 a minute in all.
        codes = [http.get(f"{server.url}/media/{uuid.uuid4()}").status_code
                 for server in (one, two, one, two, one)]
        assert codes == [401, 401, 401, 401, 429]

        # A block made by the first process (requests past the limit still count for
        # auto-block: the fourth request for one image within the hour blocks)...
        image = f"{one.url}/media/{uuid.uuid4()}"
        assert [http.get(image).status_code for _ in range(4)] == [429, 429, 429, 403]

        # ... is obeyed by the second within a second.
        other = f"{two.url}/media/{uuid.uuid4()}"
        assert poll(lambda: http.get(other).status_code == 403), \
            "the second process did not obey the block within a second"
