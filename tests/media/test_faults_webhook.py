"""Issue 18, item 14 (security N1, N6, N8): the webhook goes only to public http(s)
addresses (unless MEDIA_WEBHOOK_ALLOW_PRIVATE), never with credentials in its URL, never
follows a redirect, and signs a timestamp and a delivery id with the body.

Before: loopback, link-local (cloud metadata) and private receivers were accepted and
sent to, redirects were followed, ``http://user:pass@…`` was kept and shown, and the
signature covered a body a receiver could not tell from a replay.
"""

from __future__ import annotations

import pytest

from app.media import webhook_url
from app.media.webhook_url import WebhookUrlRefused, check_target
from tests.conftest import build_app
from tests.media.conftest import close_app
from tests.media.test_protection_webhook import (
    Hook,
    abuse,
    configure,
    deliver,
    link,  # noqa: F401  (fixture)
    outbox,
)

CONFIG = "/api/v1/admin/media/config"


@pytest.fixture
def app(tmp_path):
    """MEDIA_WEBHOOK_ALLOW_PRIVATE unset, as in production."""
    app = build_app(tmp_path, fresh_schema=True, MEDIA_WEBHOOK_BACKOFF_S=0.01)
    yield app
    close_app(app)

INSIDE = ["http://127.0.0.1:6379/", "http://169.254.169.254/latest/meta-data/",
          "http://[::1]:22/", "http://0.0.0.0:5799/", "http://2130706433/",
          "http://10.1.2.3/hook", "http://[::ffff:127.0.0.1]/", "http://192.168.1.1/",
          "http://[fd00::1]/", "http://localhost/hook"]


@pytest.mark.parametrize("url", INSIDE)
def test_inside_addresses_are_refused_when_saved(admin_api, url):
    answer = admin_api.patch(CONFIG, json={"webhook_url": url})
    assert answer.status_code == 400, url
    assert answer.get_json()["code"] == "invalid_config"
    assert answer.get_json()["field"] == "webhook_url"


@pytest.mark.parametrize("url", ["http://hookuser:hookpass@hooks.example.org/hook",
                                 "https://token@hooks.example.org/", "ftp://example.org/",
                                 "gopher://example.org/", "http:///nohost"])
def test_credentials_and_other_schemes_are_refused(admin_api, url):
    answer = admin_api.patch(CONFIG, json={"webhook_url": url})
    assert answer.status_code == 400, url
    assert "hookpass" not in answer.get_data(as_text=True)


def test_public_and_not_yet_published_hosts_are_accepted(admin_api):
    for url in ("https://93.184.215.14/hook", "https://hooks.invalid/papelera"):
        assert admin_api.patch(CONFIG, json={"webhook_url": url}).status_code == 200, url


def test_every_resolved_address_must_be_public(monkeypatch):
    monkeypatch.setattr(webhook_url, "resolve", lambda host, port: ("93.184.215.14", "10.0.0.5"))
    with pytest.raises(WebhookUrlRefused):
        check_target("https://rebind.example.org/", allow_private=False)
    assert check_target("https://rebind.example.org/", allow_private=True).addresses


def test_a_private_receiver_is_refused_at_delivery_and_not_retried(app, client, link):  # noqa: F811
    """Saved while allowed (or before this check existed), then sent where it is not:
    the delivery refuses it and gives up at once; nothing is sent."""
    _image_id, path = link
    with Hook() as hook:
        configure(app, hook.url)  # the settings as stored, past validation
        assert abuse(client, path)[-1] == 403
        assert deliver(app) == {"gave_up": 1}
        assert hook.received() == []
    [row] = outbox(app)
    assert row["last_error"].startswith("refused")


