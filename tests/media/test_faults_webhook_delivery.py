"""Issue 18, item 14: what a receiver gets. The body carries a ``timestamp`` and a
``delivery_id`` under the signature (a receiver refuses old and seen messages: replay
protection), and a redirect is never followed. The receiver here is this machine, so
MEDIA_WEBHOOK_ALLOW_PRIVATE is set."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from app.core.db import utcnow
from tests.conftest import build_app
from tests.media.conftest import close_app
from tests.media.test_protection_webhook import (
    SECRET,
    Hook,
    abuse,
    configure,
    deliver,
    link,  # noqa: F401  (fixture)
)


def verify(secret: str, headers: dict, body: bytes, seen: set, *, max_age_s: int = 300,
           now: float | None = None) -> dict:
    """The receiver's check, as docs/media-protection.md shows it."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, headers.get("X-Papelera-Signature", "")):
        raise ValueError("bad signature")
    message = json.loads(body)
    if abs((now or time.time()) - message["timestamp"]) > max_age_s:
        raise ValueError("too old: a replay?")
    if message["delivery_id"] in seen:
        raise ValueError("seen already: a replay or a retry")
    seen.add(message["delivery_id"])
    return message


@pytest.fixture
def app(tmp_path):
    app = build_app(tmp_path, fresh_schema=True, MEDIA_WEBHOOK_BACKOFF_S=0.01,
                    MEDIA_WEBHOOK_ALLOW_PRIVATE=True)
    yield app
    close_app(app)


def test_signed_timestamp_and_delivery_id_let_a_receiver_refuse_replays(app, client, link):  # noqa: F811
    _image_id, path = link
    with Hook() as hook:
        configure(app, hook.url)
        abuse(client, path)
        assert deliver(app) == {"delivered": 1}
        [(_status, headers, body)] = hook.received()
    seen: set = set()
    message = verify(SECRET, headers, body, seen)
    assert message["event"] == "ip_blocked"
    assert headers["X-Papelera-Delivery"] == message["delivery_id"]
    with pytest.raises(ValueError, match="seen"):
        verify(SECRET, headers, body, seen)  # the same message again
    with pytest.raises(ValueError, match="too old"):
        verify(SECRET, headers, body, set(), now=time.time() + 3600)
    tampered = body.replace(b'"timestamp":', b'"timestamp":1')
    with pytest.raises(ValueError, match="signature"):
        verify(SECRET, headers, tampered, set())


def test_a_redirect_is_not_followed(app, client, link):  # noqa: F811
    _image_id, path = link
    with Hook(statuses=[302]) as hook:
        configure(app, hook.url)
        abuse(client, path)
        assert deliver(app, utcnow()) == {"gave_up": 1}
        calls = hook.received()
    assert [status for status, _headers, _body in calls] == [302]  # no GET after it
