"""What a /media request needs to decide access, kept per process, checked per request.

A cached thumbnail used to cost three SQL queries and a user-store read before the cache
could be read (the bearer token or the session, the user, the image row). This module
keeps, per process and for /media requests only:

- a bearer token's digest → the user it signs in (and when the token expires);
- a session id's digest → the live session (user, epoch, created and last seen) and user;
- an image id → the row fields a request needs to decide and serve (owner, trash and
  purge state, content hash, storage keys, sizes, name, type): ``ServedImage``.

**Invalidation.** Every /media request reads ONE shared value before its first lookup,
the *generation*. With ``REDIS_URL`` it is a Redis key whose changes each process follows
through a subscription (``RedisGeneration``: no round trip per request); otherwise one
``SELECT`` of the one-row table ``media_access_generation``, which every process on the
database sees, the CLI's too. When it differs from the generation this process's entries
were filled under, they are all dropped (and ``on_change`` runs: the media cache drops
its local copies of Redis entries). The media capability calls ``changed()`` for every
domain event that can alter who may see what (``app.core.events.ACCESS_EVENTS``: images
trashed, restored, claimed or erased, users changed or deleted, sessions ended, tokens
revoked, an installation adopted). The unit of work delivers those events after the
commit and after every lock is released, so a bump never waits under the user-store lock.

Bumping after the commit, and reading the generation before any lookup, is what makes
it safe: a request that read the old generation may fill an entry from the old rows,
but the next request of every process reads the new generation and drops it. When the
generation cannot be read (Redis or the database unreachable) the request decides from
the stores, as before, and the entries are dropped. Entries also expire after
``MEDIA_ACCESS_CACHE_MAX_AGE_S`` (60 s), a bound should a bump itself ever fail.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable

from flask import current_app, has_app_context, has_request_context, request
from sqlalchemy import Integer, String, update
from sqlalchemy.orm import Mapped, mapped_column

from app.core.extensions import db
from app.core.redis_breaker import RedisDown

log = logging.getLogger(__name__)

EXTENSION = "papelera.media_access"
MAX_ENTRIES = 20_000
CONFIRM_TIMEOUT_S = 0.5  # the longest the subscribing thread waits for the confirmation
# Kept on the request object, which is this request's alone (``flask.g`` is shared by
# the requests made inside one application context, as tests and scripts make them):
_SEEN = "_media_access_generation"  # this request's reading of the generation
_APPLIES = "_media_access_cache"  # the cache, or None off /media
_UNDECIDED = object()


class AccessGeneration(db.Model):
    """One row (id 1): a random value replaced whenever access to media may have changed."""

    __tablename__ = "media_access_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[str] = mapped_column(String(32), nullable=False)


class GenerationBusy(Exception):
    """Another thread is (re)subscribing or holds the subscription: decide from the stores."""


class RedisGeneration:
    """The generation in Redis, followed through a subscription: no round trip per request.

    ``bump`` sets the key and publishes the new value on a channel in one transaction
    (``MULTI``/``EXEC``). Each process subscribes to the channel on its first read, waits
    for Redis to confirm, then ``GET``s the key: a bump before the subscription is in the
    ``GET``, one after it arrives as a message, so none is missed. From then on a read
    only takes the messages already waiting on the subscription's socket (a non-blocking
    poll): Redis writes a published message to its subscribers as it answers the bump, so
    a request that follows a bump finds it there.

    **No lock across a wait for Redis** (issue 18, item 10). One thread subscribes, outside
    the lock, on a subscription nobody else sees until it is confirmed; the periodic
    ``GET`` runs outside the lock too, and its value is kept only if no bump arrived
    meanwhile. The lock guards the non-blocking poll alone, and nobody waits for it longer
    than ``LOCK_WAIT_S``: a request that cannot take it, or that comes while another
    thread subscribes, decides from the stores (``GenerationBusy``). The client is a hot
    one (``app.core.redis_breaker``): sub-second timeouts, no retry, and while Redis is
    marked down nothing is attempted.

    A subscription that fails (Redis down) is closed and the read fails, so the request
    decides from the stores; a later read subscribes again. When redis-py reconnects a
    dropped subscription by itself (its connect callback tells) the subscription is
    dropped and made again: bumps in between were never delivered. As a bound for a
    subscription that died silently, the key is also read with a ``GET`` when the last
    one is older than ``recheck_s`` (``MEDIA_ACCESS_RECHECK_S``, 1 s).
    """

    LOCK_WAIT_S = 0.05

    def __init__(self, client, key: str, *, recheck_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.client, self.key, self.channel = client, key, f"{key}:bumps"
        self.recheck_s, self.clock = recheck_s, clock
        self.lock = threading.Lock()
        self._pubsub = None
        self._pid = None  # the process that subscribed (a forked child starts over)
        self._reconnected = False
        self._subscribing = False
        self._getting = False
        self._messages = 0  # bumps taken from the subscription so far
        self._value = ""
        self._read_at = float("-inf")  # when the key was last read with a GET

    @property
    def _breaker(self):
        return getattr(self.client, "breaker", None)

    def read(self) -> str:
        breaker = self._breaker
        if breaker is not None and breaker.is_open():  # marked down: not even the poll
            raise RedisDown("Redis is marked down; the access generation is not read")
        if not self.lock.acquire(timeout=self.LOCK_WAIT_S):
            raise GenerationBusy("the access generation is being read by another thread")
        subscribe = get = False
        try:
            if self._pubsub is not None and self._pid == os.getpid():
                try:
                    self._take_messages()
                except Exception:
                    self._drop()
                    raise
                if self._reconnected:
                    # Bumps made while the subscription was down were never delivered:
                    # subscribe afresh (and GET the key).
                    self._drop()
            if self._pubsub is None or self._pid != os.getpid():
                if self._subscribing:
                    raise GenerationBusy("another thread is subscribing")
                self._subscribing = subscribe = True
            elif self.clock() - self._read_at >= self.recheck_s and not self._getting:
                self._getting = get = True
            value, seen = self._value, self._messages
        finally:
            self.lock.release()
        if subscribe:
            return self._subscribe()
        if get:
            return self._get(seen)
        return value

    def _subscribe(self) -> str:
        """Subscribe, wait for the confirmation, ``GET``; then let the others use it."""
        pubsub = None
        try:
            pubsub = self.client.pubsub()
            breaker = self._breaker
            if breaker is not None:
                breaker.call(lambda: pubsub.subscribe(self.channel))
                breaker.call(lambda: self._await_confirmation(pubsub))
            else:
                pubsub.subscribe(self.channel)
                self._await_confirmation(pubsub)
            value = self.client.get(self.key)
        except Exception:
            _close(pubsub)
            with self.lock:
                self._subscribing = False
            raise
        with self.lock:
            # A subscription inherited from a parent process is left alone: the parent's.
            self._pubsub, self._pid = pubsub, os.getpid()
            pubsub.connection.register_connect_callback(self._on_reconnect)
            self._reconnected = self._subscribing = False
            self._value = value.decode() if value else ""
            self._read_at = self.clock()
            return self._value

    def _on_reconnect(self, _connection) -> None:
        """redis-py reconnected the subscription by itself (and subscribes again)."""
        self._reconnected = True

    def _await_confirmation(self, pubsub) -> None:
        """Wait for Redis to confirm the subscription: from then on every bump is a message."""
        deadline = self.clock() + CONFIRM_TIMEOUT_S
        while not self._apply(pubsub.get_message(
                timeout=max(0.0, deadline - self.clock()))):
            if self.clock() >= deadline:
                raise TimeoutError("Redis did not confirm the subscription")

    def _take_messages(self) -> None:
        """The messages Redis has already written to the subscription (no waiting).

        Nearly always there are none: the connection is asked first whether anything is
        there to read (one non-blocking check), which costs a fraction of asking the
        subscription for a message through redis-py's layers (a cached image's every
        request comes here)."""
        pubsub = self._pubsub
        connection = pubsub.connection
        while ((connection is None or connection.can_read(timeout=0))
               and (message := pubsub.get_message(timeout=0.0)) is not None):
            self._apply(message)

    def _apply(self, message) -> bool:
        """Take a bump's value; True for a subscription's confirmation."""
        if message is None:
            return False
        if message["type"] == "message":
            self._value = message["data"].decode()
            self._messages += 1
        return message["type"] == "subscribe"

    def _get(self, seen: int) -> str:
        """``GET`` the key (outside the lock); kept unless a bump arrived meanwhile."""
        try:
            value = self.client.get(self.key)
        except Exception:
            with self.lock:
                self._getting = False
                self._drop()
            raise
        with self.lock:
            self._getting = False
            if self._messages == seen:
                self._value = value.decode() if value else ""
            self._read_at = self.clock()
            return self._value

    def _drop(self) -> None:
        pubsub, self._pubsub, self._read_at = self._pubsub, None, float("-inf")
        _close(pubsub)

    def bump(self) -> None:
        value = uuid.uuid4().hex
        with self.client.pipeline(transaction=True) as pipe:
            pipe.set(self.key, value)
            pipe.publish(self.channel, value)
            pipe.execute()


def _close(pubsub) -> None:
    if pubsub is not None:
        try:
            pubsub.close()
        except Exception:  # noqa: BLE001  (already broken)
            pass


class SqlGeneration:
    """The one-row table, read and written on connections of their own."""

    # Read on a pooled DBAPI connection: no ORM session, no transaction events, and
    # about 30 times cheaper than the same SELECT through SQLAlchemy Core (measured on
    # SQLite: 24 us against 740 us); the pool rolls the connection back on return.
    READ = "SELECT value FROM media_access_generation WHERE id = 1"

    def read(self) -> str:
        connection = db.engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(self.READ)
                row = cursor.fetchone()
            finally:
                cursor.close()
        finally:
            connection.close()
        return (row[0] if row else None) or ""

    def bump(self) -> None:
        table = AccessGeneration.__table__
        value = uuid.uuid4().hex
        with db.engine.begin() as connection:
            if connection.execute(update(table).where(table.c.id == 1)
                                  .values(value=value)).rowcount == 0:
                connection.execute(table.insert().values(id=1, value=value))


class AccessCache:
    """The entries of one process, dropped whenever the shared generation moves."""

    def __init__(self, generation, *, max_age_s: float = 60.0, max_entries: int = MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic,
                 on_change: Callable[[], None] | None = None):
        self.generation = generation
        self.on_change = on_change
        self.max_age_s = max_age_s
        self.max_entries = max_entries
        self.clock = clock
        self.lock = threading.Lock()
        self.seen: str | None = None  # the generation the entries were filled under
        self.entries: OrderedDict[tuple, tuple[float, object]] = OrderedDict()
        self.endpoints: frozenset[str] = frozenset()  # the requests it serves

    def observe(self, req=None) -> str | None:
        """This request's reading of the generation (once per request); None: unreadable.
        ``req``: the request, when the caller has it."""
        if req is None:
            req = request._get_current_object()
        seen = getattr(req, _SEEN, _UNDECIDED)
        if seen is not _UNDECIDED:
            return seen
        try:
            current = self.generation.read()
        except (GenerationBusy, RedisDown):  # said once, by the breaker or not at all
            current = None
        except Exception as exc:  # noqa: BLE001  (decide from the stores, as without a cache)
            log.warning("media access generation unreadable: %s", exc)
            current = None
        with self.lock:
            moved = current is None or current != self.seen
            if moved:
                self.entries.clear()
                self.seen = current
        if moved and self.on_change is not None:
            self.on_change()
        setattr(req, _SEEN, current)
        return current

    def remember(self, key: tuple, load: Callable[[], object], req=None):
        """The entry for ``key``, or ``load()`` (kept unless None)."""
        seen = self.observe(req)
        if seen is None:
            return load()
        now = self.clock()
        with self.lock:
            found = self.entries.get(key)
            if found is not None and now - found[0] < self.max_age_s and self.seen == seen:
                return found[1]
        value = load()
        if value is not None:
            self.put(key, value, seen=seen, at=now)
        return value

    def put(self, key: tuple, value, *, seen: str | None = None, at: float | None = None) -> None:
        """Keep ``value`` if the generation is still the one read before it was loaded."""
        if seen is None:
            seen = getattr(request._get_current_object(), _SEEN, None)
        with self.lock:
            if seen is None or self.seen != seen:
                return
            self.entries[key] = (self.clock() if at is None else at, value)
            self.entries.move_to_end(key)
            while len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.seen = None
        if self.on_change is not None:
            self.on_change()


def init_app(app, *, endpoints: frozenset[str], redis_client=None, namespace: str,
             recheck_s: float, max_age_s: float,
             on_change: Callable[[], None] | None = None) -> None:
    """Keep entries for requests to ``endpoints`` (the /media routes), invalidated through
    Redis when ``redis_client`` is given, else through the SQL row."""
    generation = (RedisGeneration(redis_client, f"{namespace}:access-generation",
                                  recheck_s=recheck_s)
                  if redis_client is not None else SqlGeneration())
    cache = AccessCache(generation, max_age_s=max_age_s, on_change=on_change)
    cache.endpoints = endpoints
    app.extensions[EXTENSION] = cache


def _cache() -> AccessCache | None:
    return current_app.extensions.get(EXTENSION) if has_app_context() else None


def applies(req=None) -> AccessCache | None:
    """The cache, on a /media request (other routes decide from the stores every time);
    decided once per request (a /media request asks three to five times). ``req``: the
    request, when the caller has it."""
    if req is None:
        if not has_request_context():
            return None
        req = request._get_current_object()
    cache = getattr(req, _APPLIES, _UNDECIDED)
    if cache is _UNDECIDED:
        cache = current_app.extensions.get(EXTENSION)
        if cache is not None and req.endpoint not in cache.endpoints:
            cache = None
        setattr(req, _APPLIES, cache)
    return cache


def remember(key: tuple, load: Callable[[], object]):
    if not has_request_context():
        return load()
    req = request._get_current_object()  # one context lookup per entry asked for
    cache = applies(req)
    return load() if cache is None else cache.remember(key, load, req)


def put(key: tuple, value) -> None:
    cache = applies()
    if cache is not None:
        cache.put(key, value)


def changed() -> None:
    """Access may have changed and the change is visible: every process drops its entries
    on its next request. This process's are dropped at once."""
    cache = _cache()
    if cache is None:
        return
    cache.clear()
    try:
        cache.generation.bump()
    except Exception:  # noqa: BLE001  (the change stands; entries still expire by age)
        log.exception("media access generation not bumped: other processes may decide "
                      "from cached rows for up to %s s", cache.max_age_s)
