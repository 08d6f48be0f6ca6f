"""The auto-block webhook, through an outbox (SPEC section 8; issue 16 item 2, review N9).

- **Enqueue.** ``enqueue`` adds a ``webhook_deliveries`` row to the caller's transaction:
  the auto-block, its ``ip_blocked`` audit event and the message commit together, or not
  at all, so a worker that dies after the commit loses no notification. ``payload`` is
  the exact JSON body. The secret is never stored: the ``X-Papelera-Signature`` is
  computed at delivery with the secret in force then.
- **Deliver.** ``deliver_due_webhooks`` runs from the scheduler every ``DELIVER_EVERY_S``
  in every process (``app.media.metrics.schedule``):

  1. *claim*, in one short write transaction (PostgreSQL: ``FOR UPDATE SKIP LOCKED``;
     SQLite: under ``begin_write``'s lock): the due rows get ``attempts + 1`` and a lease
     (``next_attempt_at`` pushed past the time the run may take), committed, so another
     process, or the next run, leaves them alone;
  2. *send* each as a JSON ``POST`` (``TIMEOUT_S``), no transaction or lock held; no
     redirect is followed; the URL is checked again and the connection goes to the
     address checked (``app.media.webhook_url``: public addresses only unless
     ``MEDIA_WEBHOOK_ALLOW_PRIVATE``; a refused URL is given up at once). The body is the
     stored payload plus ``delivery_id`` and ``timestamp`` (this attempt's, Unix
     seconds), so the signature covers both: a receiver refuses an old timestamp or a
     delivery id it has seen (replay protection; docs/media-protection.md);
  3. *record* each outcome in a short write of its own: 2xx → ``delivered_at``; any
     other answer below 500 except 408 and 429 → ``gave_up_at`` at once (a receiver that
     refuses will refuse again); 408, 429, 5xx or no answer → the next attempt after
     ``MEDIA_WEBHOOK_BACKOFF_S × 2^(attempts-1)``, at most ``MAX_BACKOFF_S`` (a longer
     ``Retry-After`` is honoured up to that cap), giving up after ``MAX_ATTEMPTS``.

  Delivery is at least once: a worker killed between a ``POST`` and its record sends it
  again when the lease ends. ``X-Papelera-Delivery`` (the row id) lets receivers drop
  duplicates.
- **Prune.** Finished rows (delivered or given up) older than ``events_retention_days``
  go, hourly; a row that gave up keeps ``last_error`` until then.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import socket
import ssl
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select

from app.core.db import on_postgresql, utcnow
from app.core.extensions import db
from app.core.uow import unit_of_work
from app.media.config import media_config
from app.media.models import WebhookDelivery
from app.media.webhook_url import WebhookUrlRefused, check_target

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Papelera-Signature"
DELIVERY_HEADER = "X-Papelera-Delivery"
TIMESTAMP_HEADER = "X-Papelera-Timestamp"
DELIVER_JOB, PRUNE_JOB = "media_webhooks_deliver", "media_webhooks_prune"
DELIVER_EVERY_S = 5      # how often each process's scheduler looks for due messages
BATCH = 20               # messages claimed per run
TIMEOUT_S = 5.0          # per POST
MAX_ATTEMPTS = 12        # with a 1 s base: retried for about 34 minutes, then given up
MAX_BACKOFF_S = 3600
LEASE_MARGIN_S = 30      # a claim outlives its run's POSTs by this much
RETRIED_STATUSES = frozenset({408, 429})
ERROR_LENGTH = WebhookDelivery.__table__.c.last_error.type.length


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the exact body with the webhook secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode(payload: dict) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def enqueue(url: str, payload: dict, *, now: datetime) -> WebhookDelivery:
    """Add a message to the caller's write transaction; due at once, sent by the scheduler."""
    row = WebhookDelivery(created_at=now, url=url, payload=encode(payload), attempts=0,
                          next_attempt_at=now)
    db.session.add(row)
    return row


# -- delivery --------------------------------------------------------------------------

@dataclass(frozen=True)
class _Claimed:
    id: int
    url: str
    body: bytes
    attempts: int


@dataclass(frozen=True)
class _Answer:
    status: int | None  # None: no HTTP answer (refused, timed out, unreadable)
    error: str | None = None
    retry_after_s: float | None = None
    refused: bool = False  # the URL may not be sent to (webhook_url): never retried

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retried(self) -> bool:
        return not self.refused and (self.status is None or self.status >= 500
                                     or self.status in RETRIED_STATUSES)


def backoff_s() -> float:
    return float(current_app.config["MEDIA_WEBHOOK_BACKOFF_S"])


def next_delay_s(attempts: int, base_s: float, retry_after_s: float | None = None) -> float:
    """The wait after failed attempt number ``attempts`` (1, 2, ...): exponential, capped."""
    delay = min(MAX_BACKOFF_S, base_s * 2 ** min(attempts - 1, 40))
    if retry_after_s is not None:
        delay = max(delay, min(MAX_BACKOFF_S, retry_after_s))
    return delay


def deliver_due_webhooks(now: datetime, *, limit: int = BATCH, timeout_s: float = TIMEOUT_S,
                         max_attempts: int = MAX_ATTEMPTS) -> Counter:
    """Send the messages due at ``now``: ``{"delivered", "retrying", "gave_up"}`` counts."""
    secret = media_config().webhook_secret  # the secret in force now; never stored
    base_s = backoff_s()
    lease = timedelta(seconds=limit * timeout_s + LEASE_MARGIN_S)
    outcomes: Counter = Counter()
    claimed = _claim(now, limit, lease)
    started = time.monotonic()
    for message in claimed:
        answer = _post(message, secret, timeout_s)
        at = now + timedelta(seconds=time.monotonic() - started)
        outcomes[_record(message, answer, at, base_s, max_attempts)] += 1
    return outcomes


def _claim(now: datetime, limit: int, lease: timedelta) -> list[_Claimed]:
    with unit_of_work():  # SQLite: the write lock, up front; committed at the end
        query = (select(WebhookDelivery).where(WebhookDelivery.next_attempt_at <= now)
                 .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit))
        if on_postgresql(db.session):
            query = query.with_for_update(skip_locked=True)
        claimed = []
        for row in db.session.execute(query).scalars():
            row.attempts += 1
            row.next_attempt_at = now + lease
            claimed.append(_Claimed(row.id, row.url, row.payload.encode(), row.attempts))
    return claimed


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the address that was checked, whatever the name resolves to now."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self):
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """TLS to the checked address, verified for the URL's host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self):
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def signed_body(message: _Claimed, timestamp: int) -> bytes:
    """The body sent: the stored payload with its ``delivery_id`` and the ``timestamp``
    of this attempt, so the signature covers both (a receiver drops an old or a seen
    one: replay protection)."""
    payload = json.loads(message.body)
    payload.update(delivery_id=str(message.id), timestamp=timestamp)
    return encode(payload).encode()


def _post(message: _Claimed, secret: str | None, timeout_s: float) -> _Answer:
    """One POST, never following a redirect (a 3xx is an answer like any other), to an
    address checked now (``app.media.webhook_url``)."""
    allow_private = bool(current_app.config["MEDIA_WEBHOOK_ALLOW_PRIVATE"])
    try:
        target = check_target(message.url, allow_private=allow_private)
    except WebhookUrlRefused as exc:
        return _Answer(None, f"refused: {exc}", refused=True)
    timestamp = int(time.time())
    body = signed_body(message, timestamp)
    headers = {"Content-Type": "application/json", "User-Agent": "Papelera-webhook",
               DELIVERY_HEADER: str(message.id), TIMESTAMP_HEADER: str(timestamp)}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, body)
    kind = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    connection = kind(target.host, target.port, target.addresses[0], timeout_s)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        answer = connection.getresponse()
        answer.read(64 * 1024)
        if 200 <= answer.status < 300:
            return _Answer(answer.status)
        return _Answer(answer.status, f"HTTP {answer.status}", _retry_after(answer.headers))
    except (http.client.HTTPException, OSError, ValueError) as exc:
        return _Answer(None, f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()


def _retry_after(headers) -> float | None:
    value = (headers or {}).get("Retry-After")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: the backoff decides


def _record(message: _Claimed, answer: _Answer, at: datetime, base_s: float,
            max_attempts: int) -> str:
    with unit_of_work():
        row = db.session.get(WebhookDelivery, message.id, with_for_update=True)
        if row is None or row.delivered_at is not None or row.gave_up_at is not None:
            return "gone"
        if answer.delivered:
            row.delivered_at, row.next_attempt_at, row.last_error = at, None, None
            log.info("webhook %s delivered to %s (attempt %d)", row.id, row.url,
                     message.attempts)
            return "delivered"
        if row.attempts != message.attempts:
            return "gone"  # our lease ran out and another run claimed it since
        row.last_error = (answer.error or f"HTTP {answer.status}")[:ERROR_LENGTH]
        if not answer.retried or message.attempts >= max_attempts:
            row.gave_up_at, row.next_attempt_at = at, None
            log.error("webhook %s to %s given up after %d attempt(s): %s", row.id, row.url,
                      message.attempts, row.last_error)
            return "gave_up"
        delay = next_delay_s(message.attempts, base_s, answer.retry_after_s)
        row.next_attempt_at = at + timedelta(seconds=delay)
        log.warning("webhook %s to %s failed (attempt %d: %s); next in %.0f s", row.id,
                    row.url, message.attempts, row.last_error, delay)
        return "retrying"


def prune_deliveries(now: datetime, keep: timedelta) -> int:
    """Forget finished messages (delivered or given up) created before ``now - keep``."""
    with unit_of_work():
        result = db.session.execute(
            delete(WebhookDelivery).where(WebhookDelivery.next_attempt_at.is_(None),
                                          WebhookDelivery.created_at < now - keep))
    return result.rowcount or 0


# -- scheduler jobs (added by app.media.metrics.schedule) ------------------------------

def deliver_job(app) -> None:
    with app.app_context():
        try:
            deliver_due_webhooks(utcnow())
        except Exception:
            log.exception("webhook delivery run failed (the next run retries)")
            db.session.rollback()
        finally:
            db.session.remove()


def prune_job(app) -> None:
    with app.app_context():
        try:
            days = media_config().events_retention_days
            prune_deliveries(utcnow(), timedelta(days=days))
        except Exception:
            log.exception("webhook outbox prune failed")
            db.session.rollback()
        finally:
            db.session.remove()
