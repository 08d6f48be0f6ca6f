"""The auto-block webhook through its outbox (``app.media.webhooks``), against a real local
HTTP server: written with the block, delivered by the scheduler's function, signed at
delivery, retried with backoff on 5xx and network errors, given up at once on a 4xx, and
never lost to a crash after the commit. On SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

import app.audit.service as audit_service
from app.core.db import utcnow
from app.core.extensions import db
from app.media import metrics, webhooks
from app.media.models import IpBlock, WebhookDelivery
from tests.conftest import ENGINES, build_app
from tests.media.conftest import close_app, picture, store_overrides

SECRET = "webhook-secret-for-tests"
ATTACKER = "198.51.100.7"


class Hook:
    """A local server recording every POST; answers from ``statuses`` in turn (then 200)."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.calls: queue.Queue = queue.Queue()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = hook.statuses.pop(0) if hook.statuses else 200
                hook.calls.put((status, dict(self.headers), body))
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", hook.url)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):  # noqa: N802  (a followed redirect would land here)
                hook.calls.put(("GET", dict(self.headers), b""))
                self.send_response(200)
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
        self.server.shutdown()
        self.server.server_close()

    def received(self) -> list:
        """Every call so far (deliveries are synchronous: nothing is still on its way)."""
        calls = []
        while not self.calls.empty():
            calls.append(self.calls.get_nowait())
        return calls


@pytest.fixture(params=ENGINES)
def app(request, tmp_path, postgres_database):
    overrides = store_overrides(request.param, redis=False, postgres_database=postgres_database)
    # The receiver is this machine: a private address, allowed here on purpose.
    app = build_app(tmp_path, fresh_schema=True, MEDIA_WEBHOOK_BACKOFF_S=0.01,
                    MEDIA_WEBHOOK_ALLOW_PRIVATE=True, **overrides)
    yield app
    close_app(app)


@pytest.fixture
def link(alice_api):
    image = alice_api.upload(picture((32, 24))).get_json()
    url = alice_api.post(f"/api/v1/images/{image['id']}/share", json={"ttl_s": 3600}) \
        .get_json()["url"]
    parts = urlsplit(url)
    return image["id"], f"{parts.path}?{parts.query}"


def abuse(client, path, times=3):
    return [client.get(path, environ_base={"REMOTE_ADDR": ATTACKER}).status_code
            for _ in range(times)]


def configure(app, url, secret=SECRET):
    app.config["MEDIA_CONFIG"] = {"auto_block": {"threshold_per_image_per_hour": 2,
                                                 "block_for_s": 3600},
                                  "webhook_url": url, "webhook_secret": secret}


def deliver(app, now=None, **options):
    with app.app_context():
        try:
            return webhooks.deliver_due_webhooks(now or utcnow(), **options)
        finally:
            db.session.remove()


def outbox(app) -> list[dict]:
    with app.app_context():
        try:
            rows = db.session.execute(select(WebhookDelivery.__table__)
                                      .order_by(WebhookDelivery.id)).mappings().all()
            return [dict(row) for row in rows]
        finally:
            db.session.remove()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# -- written with the block ------------------------------------------------------------

def test_the_block_writes_a_message_that_only_the_scheduler_sends(app, client, link):
    image_id, path = link
    with Hook() as hook:
        configure(app, hook.url)
        assert abuse(client, path) == [200, 200, 403]
        assert hook.received() == []  # the request sent nothing, and nothing runs behind it
        [row] = outbox(app)
        assert row["attempts"] == 0 and row["url"] == hook.url
        assert row["next_attempt_at"] is not None
        assert row["delivered_at"] is None and row["gave_up_at"] is None
        payload = json.loads(row["payload"])
        assert payload["event"] == "ip_blocked"
        assert (payload["ip"], payload["image_id"], payload["count"]) == (ATTACKER, image_id, 3)
        assert payload["expires_at"] is not None


def test_no_message_when_no_webhook_is_set(app, client, link):
    _, path = link
    app.config["MEDIA_CONFIG"] = {"auto_block": {"threshold_per_image_per_hour": 2}}
    assert abuse(client, path) == [200, 200, 403]
    assert outbox(app) == []


def test_no_message_without_its_block_and_audit_event(app, client, link, monkeypatch):
    """The block, its audit event and the message commit together, or none of them."""
    _, path = link

    def unwritable(*args, **kwargs):
        raise RuntimeError("audit log down")

    monkeypatch.setattr(audit_service, "append", unwritable)
    with Hook() as hook:
        configure(app, hook.url)
        assert abuse(client, path) == [200, 200, 503]
    assert outbox(app) == []
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(IpBlock)) == 0
        db.session.remove()


def test_no_secret_is_stored(app, client, link):
    _, path = link
    with Hook() as hook:
        configure(app, hook.url)
        abuse(client, path)
        before = outbox(app)
        deliver(app)
        after = outbox(app)
    assert len(before) == len(after) == 1
    for row in before + after:
        assert not any(SECRET in str(value) for value in row.values())


# -- delivery --------------------------------------------------------------------------

def test_delivered_once_with_a_valid_signature(app, client, link):
    image_id, path = link
    with Hook() as hook:
        configure(app, hook.url)
        abuse(client, path)
        assert deliver(app) == {"delivered": 1}
        [(status, headers, body)] = hook.received()
        assert deliver(app, utcnow() + timedelta(days=1)) == {}  # once: never again
        assert hook.received() == []
    assert status == 200
    assert hmac.compare_digest(headers["X-Papelera-Signature"], signature(SECRET, body))
    assert not hmac.compare_digest(headers["X-Papelera-Signature"],
                                   signature("another secret", body))
    assert headers["Content-Type"] == "application/json"
    [row] = outbox(app)
    assert headers["X-Papelera-Delivery"] == str(row["id"])
    sent = json.loads(body)  # the stored payload, plus what makes a replay detectable
    assert sent.pop("delivery_id") == str(row["id"])
    assert str(sent.pop("timestamp")) == headers["X-Papelera-Timestamp"]
    assert sent == json.loads(row["payload"])
    assert json.loads(body)["image_id"] == image_id
    assert row["attempts"] == 1 and row["delivered_at"] is not None
    assert row["next_attempt_at"] is None and row["gave_up_at"] is None
    assert row["last_error"] is None


def test_a_500_then_a_200_is_retried_with_backoff_and_delivered(app, client, link):
    _, path = link
    app.config["MEDIA_WEBHOOK_BACKOFF_S"] = 2
    with Hook(statuses=[500]) as hook:
        configure(app, hook.url)
        abuse(client, path)
        now = utcnow()
        assert deliver(app, now) == {"retrying": 1}
        [row] = outbox(app)
        assert (row["attempts"], row["last_error"]) == (1, "HTTP 500")
        wait = (row["next_attempt_at"] - now).total_seconds()
        assert 2 <= wait < 4  # MEDIA_WEBHOOK_BACKOFF_S after the first attempt
        assert deliver(app, now + timedelta(seconds=1)) == {}  # not due yet
        assert deliver(app, now + timedelta(seconds=5)) == {"delivered": 1}
        (first, _, first_body), (second, headers, body) = hook.received()
    assert (first, second) == (500, 200)
    # The same message, retried: only this attempt's timestamp differs.
    assert {**json.loads(body), "timestamp": 0} == {**json.loads(first_body), "timestamp": 0}
    assert hmac.compare_digest(headers["X-Papelera-Signature"], signature(SECRET, body))
    [row] = outbox(app)
    assert row["attempts"] == 2 and row["delivered_at"] is not None


@pytest.mark.parametrize("status", [404, 410, 302])
def test_a_refusal_is_not_retried(app, client, link, status):
    """A 4xx (or a redirect, never followed) gives up after one attempt."""
    _, path = link
    with Hook(statuses=[status]) as hook:
        configure(app, hook.url)
        abuse(client, path)
        assert deliver(app) == {"gave_up": 1}
        assert deliver(app, utcnow() + timedelta(days=1)) == {}
        assert [call[0] for call in hook.received()] == [status]  # one POST, no GET
    [row] = outbox(app)
    assert (row["attempts"], row["last_error"]) == (1, f"HTTP {status}")
    assert row["gave_up_at"] is not None and row["next_attempt_at"] is None
    assert row["delivered_at"] is None


@pytest.mark.parametrize("status", [408, 429, 503])
def test_timeouts_rate_limits_and_5xx_are_retried(app, client, link, status):
    _, path = link
    with Hook(statuses=[status]) as hook:
        configure(app, hook.url)
        abuse(client, path)
        assert deliver(app) == {"retrying": 1}
        assert deliver(app, utcnow() + timedelta(seconds=10)) == {"delivered": 1}
        assert [call[0] for call in hook.received()] == [status, 200]


def test_an_unreachable_receiver_is_retried_with_growing_waits_then_given_up(app, client,
                                                                             link):
    _, path = link
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app.config["MEDIA_WEBHOOK_BACKOFF_S"] = 1
    configure(app, f"http://127.0.0.1:{port}/hook")
    abuse(client, path)
    now, waits = utcnow(), []
    for _ in range(3):
        assert deliver(app, now, max_attempts=4) == {"retrying": 1}
        [row] = outbox(app)
        waits.append(round((row["next_attempt_at"] - now).total_seconds()))
        now = row["next_attempt_at"]
    assert waits == [1, 2, 4]
    assert deliver(app, now, max_attempts=4) == {"gave_up": 1}
    [row] = outbox(app)
    assert row["attempts"] == 4 and row["gave_up_at"] is not None
    assert row["last_error"].startswith("ConnectionRefusedError")
    assert deliver(app, now + timedelta(days=1), max_attempts=4) == {}


def test_the_wait_is_capped():
    assert webhooks.next_delay_s(1, 1.0) == 1
    assert webhooks.next_delay_s(5, 1.0) == 16
    assert webhooks.next_delay_s(30, 1.0) == webhooks.MAX_BACKOFF_S
    assert webhooks.next_delay_s(1, 1.0, retry_after_s=120) == 120
    assert webhooks.next_delay_s(1, 1.0, retry_after_s=10**9) == webhooks.MAX_BACKOFF_S


# -- crashes ---------------------------------------------------------------------------

def test_the_message_survives_a_crash_and_is_signed_with_the_secret_in_force(
        app, client, link, tmp_path):
    """The worker that blocked dies before any delivery; a new one on the same database
    sends the message, signed with the secret configured there."""
    image_id, path = link
    with Hook() as hook:
        configure(app, hook.url)
        assert abuse(client, path) == [200, 200, 403]
        with app.app_context():  # the worker is gone: nothing of it but the database
            db.engine.dispose()
        restarted = build_app(tmp_path / "restarted",
                              SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
                              MEDIA_WEBHOOK_BACKOFF_S=0.01, MEDIA_WEBHOOK_ALLOW_PRIVATE=True)
        try:
            configure(restarted, hook.url, secret="rotated-secret")
            assert deliver(restarted) == {"delivered": 1}
            [(status, headers, body)] = hook.received()
        finally:
            close_app(restarted)
    assert status == 200
    assert json.loads(body)["image_id"] == image_id
    assert hmac.compare_digest(headers["X-Papelera-Signature"],
                               signature("rotated-secret", body))


def test_a_message_claimed_by_a_run_that_died_is_sent_after_its_lease(app, client, link):
    """A run killed between its claim and its POST: others skip the row until the lease
    ends, then send it (at least once; receivers dedupe on X-Papelera-Delivery)."""
    _, path = link
    with Hook() as hook:
        configure(app, hook.url)
        abuse(client, path)
        now, lease = utcnow(), timedelta(seconds=60)
        with app.app_context():
            [claimed] = webhooks._claim(now, 10, lease)  # ... and the process dies here
            db.session.remove()
        assert deliver(app, now + timedelta(seconds=30)) == {}
        assert hook.received() == []
        assert deliver(app, now + lease) == {"delivered": 1}
        [(_, headers, _)] = hook.received()
    assert headers["X-Papelera-Delivery"] == str(claimed.id)
    [row] = outbox(app)
    assert row["attempts"] == 2 and row["delivered_at"] is not None


# -- upkeep and wiring -----------------------------------------------------------------

def test_finished_messages_are_pruned_pending_ones_kept(app):
    now = utcnow()
    with app.app_context():
        old = now - timedelta(days=40)
        db.session.add_all([
            WebhookDelivery(created_at=old, url="http://x/", payload="{}", attempts=1,
                            delivered_at=old),
            WebhookDelivery(created_at=old, url="http://x/", payload="{}", attempts=1,
                            gave_up_at=old, last_error="HTTP 404"),
            WebhookDelivery(created_at=old, url="http://x/", payload="{}", attempts=3,
                            next_attempt_at=now + timedelta(hours=1)),
            WebhookDelivery(created_at=now, url="http://x/", payload="{}", attempts=1,
                            delivered_at=now)])
        db.session.commit()
        assert webhooks.prune_deliveries(now, timedelta(days=30)) == 2
        db.session.remove()
    assert [(row["attempts"], row["delivered_at"] is None) for row in outbox(app)] == \
        [(3, True), (1, False)]


def test_the_scheduler_delivers_every_few_seconds(app):
    class Scheduler:
        def __init__(self):
            self.jobs = {}

        def add_job(self, job_id, func, **options):
            self.jobs[job_id] = (func, options)

    scheduler = Scheduler()
    metrics.schedule(app, scheduler)
    func, options = scheduler.jobs[webhooks.DELIVER_JOB]
    assert func is webhooks.deliver_job
    assert options["trigger"] == "interval" and options["seconds"] <= 10
    assert options["max_instances"] == 1
    assert webhooks.PRUNE_JOB in scheduler.jobs
