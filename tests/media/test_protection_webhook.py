"""The auto-block webhook against a real local HTTP server: signed, retried, never in
the way of the request that triggered it."""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from tests.conftest import build_app
from tests.media.conftest import picture

SECRET = "webhook-secret-for-tests"


class Hook:
    """A local server recording every POST; answers from ``statuses`` in turn (then 200)."""

    def __init__(self, statuses=(), hold: threading.Event | None = None):
        self.statuses = list(statuses)
        self.hold = hold
        self.calls: queue.Queue = queue.Queue()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if hook.hold is not None:
                    hook.hold.wait(10)
                status = hook.statuses.pop(0) if hook.statuses else 200
                hook.calls.put((status, dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()

    def next_call(self, timeout=10):
        return self.calls.get(timeout=timeout)


@pytest.fixture
def app(tmp_path):
    return build_app(tmp_path, MEDIA_WEBHOOK_BACKOFF_S=0.01)


@pytest.fixture
def link(alice_api):
    image = alice_api.upload(picture((32, 24))).get_json()
    url = alice_api.post(f"/api/v1/images/{image['id']}/share", json={"ttl_s": 3600}) \
        .get_json()["url"]
    parts = urlsplit(url)
    return image["id"], f"{parts.path}?{parts.query}"


def abuse(client, path, times):
    return [client.get(path, environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code
            for _ in range(times)]


def configure(app, url):
    app.config["MEDIA_CONFIG"] = {"auto_block": {"threshold_per_image_per_hour": 2,
                                                 "block_for_s": 3600},
                                  "webhook_url": url, "webhook_secret": SECRET}


def test_the_webhook_is_signed_and_retried_after_a_500(app, client, link):
    image_id, path = link
    with Hook(statuses=[500]) as hook:
        configure(app, hook.url)
        assert abuse(client, path, 3) == [200, 200, 403]
        first_status, _, first_body = hook.next_call()
        status, headers, body = hook.next_call()
    assert (first_status, status) == (500, 200)
    assert body == first_body  # the same message, retried
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Papelera-Signature"], expected)
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert payload["event"] == "ip_blocked"
    assert (payload["ip"], payload["image_id"], payload["count"]) == ("198.51.100.7",
                                                                       image_id, 3)
    assert payload["expires_at"] is not None
    forged = "sha256=" + hmac.new(b"another secret", body, hashlib.sha256).hexdigest()
    assert not hmac.compare_digest(headers["X-Papelera-Signature"], forged)


def test_the_request_that_blocks_does_not_wait_for_the_webhook(app, client, link):
    _, path = link
    hold = threading.Event()
    with Hook(hold=hold) as hook:
        configure(app, hook.url)
        # The hook answers nothing until released: the blocking request is answered first.
        assert abuse(client, path, 3) == [200, 200, 403]
        assert hook.calls.empty()
        hold.set()
        status, _, _ = hook.next_call()
    assert status == 200


def test_no_webhook_when_none_is_set(app, client, link, monkeypatch):
    import app.media.guard as guard

    sent = []
    monkeypatch.setattr(guard, "send_webhook", lambda *a, **k: sent.append(a))
    _, path = link
    app.config["MEDIA_CONFIG"] = {"auto_block": {"threshold_per_image_per_hour": 2}}
    assert abuse(client, path, 3) == [200, 200, 403]
    assert sent == []
