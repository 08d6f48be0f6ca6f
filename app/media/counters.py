"""At most one Redis call for all of a ``/media`` request's counters.

An anonymous image request is counted four times: once for auto-block (a moving window
of one hour per address and image) and once per Flask-Limiter window (minute, hour, day:
sliding-window counters). Through `limits`' own Redis storage that is one script call
each, plus one more for the ``RateLimit-*`` headers (``get_window_stats``): five round
trips, most of a cached thumbnail's cost.

``MediaRedisStorage`` is `limits`' Redis storage (registered as ``papelera+redis://``
through `limits`' storage registry, the documented way to extend it) with one more
script, ``count_request``, which the protection gate calls once per request. In one
atomic call it counts the auto-block window and, unless that blocks, the limiter's
windows in the order Flask-Limiter checks them, stopping at the first one refused, with
the same keys and arithmetic as `limits`' ``acquire_moving_window.lua`` and
``acquire_sliding_window.lua``. It keeps each window's verdict and state for the rest of
the request (``flask.g``), and answers `limits`' ``hit`` and ``get_window_stats`` for
those keys from them. A request the call let through every window is not handed to
Flask-Limiter (``app.media.guard``: it would only read those verdicts back); a refused one
is, and Flask-Limiter answers it (``on_breach``, ``current_limit``) from them, without
another round trip. Any other key, and any request the gate did not count, goes to Redis
as in `limits`.

A client that keeps one process busy (many requests a second) does not pay that call on
every request: the call reserves several units at once, which the next requests spend in
the process (``Reservations``). Units are counted when reserved, so a limit is never
exceeded; the script reserves several only far from every limit, so each request near a
limit is counted alone.

In memory (no ``REDIS_URL``) there is no round trip to save: `limits`' memory storage
counts as before.

**When Redis does not answer** (issue 18, item 10) the storage counts in this process's
memory instead (``local``, `limits`' memory storage), as Flask-Limiter's in-memory
fallback does: its client is a hot one (``app.core.redis_breaker``: sub-second timeouts,
no retry, one breaker per Redis shared by the process), so the first call to a hung Redis
costs ``HOT_TIMEOUT_S`` and the calls after it, until the breaker's next probe, none. The
limits, auto-block and sign-in attempts are then counted per process (a client spread
over several workers gets each worker's budget) until Redis answers again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field

from flask import g, has_app_context
from limits import RateLimitItem
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage

from app.core.redis_breaker import DOWN_ERRORS, hot_client

log = logging.getLogger(__name__)

SCHEME_PREFIX = "papelera+"

# KEYS[1]: the auto-block list; then each window's previous and current counter.
# ARGV: now (s), the auto-block limit and expiry (s), the units wanted (a reservation,
# below), the spread, the units of an earlier reservation given back unspent; then each
# window's limit, expiry (s).
# Answers {auto-block acquired, units counted, then per window counted: acquired,
# previous count, previous ttl (ms), current count, current ttl (ms)}.
COUNT_REQUEST = """
local now = tonumber(ARGV[1])
local block_limit = tonumber(ARGV[2])
local block_expiry = tonumber(ARGV[3])
local grant = tonumber(ARGV[4])
local spread = tonumber(ARGV[5])
local unspent = tonumber(ARGV[6])

local function recent(index)
    local entry = redis.call('lindex', KEYS[1], index)
    return entry and tonumber(entry) >= now - block_expiry
end

-- Units reserved earlier and never spent leave the auto-block count: they were no
-- requests, and must not block the client early.
for i = 1, unspent do
    if not recent(0) then break end
    redis.call('lpop', KEYS[1])
end

-- acquire_moving_window.lua, amount 1
if recent(block_limit - 1) then
    return {0}
end
-- A reservation of several units only where `spread` times as many are still free.
while grant > 1 and (spread * grant > block_limit or recent(block_limit - spread * grant)) do
    grant = math.floor(grant / 2)
end

-- acquire_sliding_window.lua, read: each window's state, up to the first that refuses
local windows, refused = {}, nil
for w = 1, (#KEYS - 1) / 2 do
    local previous_key, current_key = KEYS[2 * w], KEYS[2 * w + 1]
    local limit = tonumber(ARGV[5 + 2 * w])
    local expiry = tonumber(ARGV[6 + 2 * w]) * 1000

    local current_ttl = tonumber(redis.call('pttl', current_key))
    if current_ttl > 0 and current_ttl < expiry then
        redis.call('rename', current_key, previous_key)
        redis.call('set', current_key, 0, 'PX', current_ttl + expiry)
    end
    local previous_count = tonumber(redis.call('get', previous_key)) or 0
    local previous_ttl = tonumber(redis.call('pttl', previous_key)) or 0
    local current_count = tonumber(redis.call('get', current_key)) or 0
    current_ttl = tonumber(redis.call('pttl', current_key)) or 0
    if previous_ttl <= 0 then previous_ttl = 0 end
    if current_ttl <= 0 then current_ttl = 0 end

    local weighted = math.floor(previous_count * previous_ttl / expiry) + current_count
    windows[w] = {current_key, expiry, previous_count, previous_ttl, current_count, current_ttl}
    if weighted + 1 > limit then
        refused = w
        break
    end
    local room = math.floor((limit - weighted) / spread)
    if room < grant then grant = math.max(1, room) end
end
-- Refused: counted once (auto-block, and the windows before the refused one), as
-- Flask-Limiter's hits would have.
if refused then grant = 1 end

local stamps = {}
for i = 1, grant do stamps[i] = now end
redis.call('lpush', KEYS[1], unpack(stamps))
redis.call('ltrim', KEYS[1], 0, block_limit - 1)
redis.call('expire', KEYS[1], block_expiry)

local result = {1, grant}
for w = 1, #windows do
    local current_key, expiry, previous_count, previous_ttl, current_count, current_ttl =
        unpack(windows[w])
    if w == refused then
        result[#result + 1] = {0, previous_count, previous_ttl, current_count, current_ttl}
        return result
    end
    if redis.call('exists', current_key) == 1 then
        current_count = redis.call('incrby', current_key, grant)
    else
        redis.call('set', current_key, grant, 'PX', expiry * 2)
        current_count, current_ttl = grant, expiry * 2
    end
    result[#result + 1] = {1, previous_count, previous_ttl, current_count, current_ttl}
end
return result
"""

# Reservations (``Reservations``): a process that keeps counting one client reserves up
# to MAX_UNITS requests per call, sized to what it would use in half of UNIT_LIFE_S, and
# only while SPREAD times the reservation is still free in every window.
MAX_UNITS = 16
UNIT_LIFE_S = 1.0
SPREAD = 4
MAX_CLIENTS = 4096  # reservations kept per process (past it, expired ones are dropped)
GIVE_BACK_WITHIN_S = 60.0  # unspent units older than this are no longer given back


@dataclass(frozen=True)
class Window:
    """One limiter window: the storage key it is counted under, its limit and seconds,
    and how every key Flask-Limiter builds for it ends (``/<budget>/<scope>/<limit>/1/
    <granularity>``; before that comes ``RATELIMIT_KEY_PREFIX``, which Flask-Limiter
    keeps from the first app it was bound to when a process makes several, as tests do);
    and the `limits` item and identifiers it was made from, for the ``RateLimit-*``
    headers (``limits``' ``get_window_stats``)."""

    key: str
    limit: int
    expiry: int
    tail: str
    item: RateLimitItem = field(compare=False)
    identifiers: tuple[str, ...] = field(compare=False)


@dataclass(frozen=True)
class Counted:
    """A window's verdict for this request and its state just after (``get_sliding_window``)."""

    acquired: bool
    state: tuple[int, float, int, float]


_REDIS_SCHEMES = ("redis://", "rediss://", "redis+unix://")


def storage_uri(uri: str) -> str:
    """The limiter's storage for ``uri`` (``REDIS_URL`` or a `limits` URI): this module's
    for Redis, `limits`' otherwise. A socket (``unix://``, as redis-py and ``REDIS_URL``
    write it) is `limits`' ``redis+unix://``."""
    if uri.startswith("unix://"):
        uri = f"redis+{uri}"
    if uri.startswith(_REDIS_SCHEMES):
        return SCHEME_PREFIX + uri
    return uri


def redis_url(uri: str) -> str | None:
    """The URL redis-py opens for a limiter storage URI (or ``REDIS_URL``) when it is
    Redis; else None."""
    uri = storage_uri(uri).removeprefix(SCHEME_PREFIX)
    if not uri.startswith(_REDIS_SCHEMES):
        return None
    return uri.removeprefix("redis+") if uri.startswith("redis+unix://") else uri


def _counted(key: str) -> Counted | None:
    """This request's count of the window Flask-Limiter names ``key``, if the gate made it."""
    counted = g.get("media_counted") if has_app_context() else None
    if counted:
        for tail, count in counted.items():
            if key.endswith(tail):
                return count
    return None


class Reservations:
    """Units of a client's budget this process has counted in Redis and not used yet.

    A process serving one client many times a second reserves several requests in one
    call, then spends them without a round trip. The call sizes the reservation to what
    the process used in the last UNIT_LIFE_S / 2 (one unit for a client that comes back
    less than four times a second), at most MAX_UNITS, and the script grants several only
    while SPREAD times as many are free in the auto-block count and in every window, so
    close to a limit each request is counted alone. Units are counted when reserved: a
    limit is never exceeded. Units unused after UNIT_LIFE_S are dropped, and given back
    to the auto-block count in this process's next call for the same client (``unspent``,
    within GIVE_BACK_WITHIN_S): an automatic block, which lasts ``block_for_s``, comes
    exactly at its threshold (issue 18, item 13; code-review N14). In the limiter's
    windows an unused unit still counts until its window passes, so a 429 may come a few
    requests early (at most MAX_UNITS - 1 per process), never late; and a unit reserved by
    a process the client never reaches again is given back by nobody (same bound).
    Units inherited from another thread get the new reservation's life. Keyed by the
    counters and their limits (a changed limit starts over). Threads share it; a forked
    child starts empty.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._held: dict[tuple, _Reservation] = {}
        self._unspent: dict[tuple, tuple[int, float]] = {}  # units to give back, since

    def _book(self) -> dict:
        if self._pid != os.getpid():
            self._held, self._unspent, self._pid = {}, {}, os.getpid()
        return self._held

    def _set_aside(self, key: tuple, held: _Reservation | None, now: float) -> None:
        """Keep ``held``'s unused units to give back on the next call for ``key``."""
        if held is not None and held.left > 0:
            count, since = self._unspent.get(key, (0, held.at))
            self._unspent[key] = (count + held.left, min(since, held.at))
            held.left = 0

    def unspent(self, key: tuple) -> int:
        """Units reserved for ``key`` that expired unused, to give back in the next call
        (so auto-block counts only requests). Not given back past ``GIVE_BACK_WITHIN_S``:
        by then the window may hold other requests' stamps in their place."""
        now = time.monotonic()
        with self._lock:
            self._book()
            held = self._held.get(key)
            if held is not None and now - held.at >= UNIT_LIFE_S:
                self._set_aside(key, held, now)
            count, since = self._unspent.pop(key, (0, now))
        return count if now - since < GIVE_BACK_WITHIN_S else 0

    def spend(self, key: tuple) -> dict[str, Counted] | None:
        """Spend one reserved unit: this request's windows, as if counted alone; or None."""
        now = time.monotonic()
        with self._lock:
            held = self._book().get(key)
            if held is None or held.left <= 0 or now - held.at >= UNIT_LIFE_S:
                return None
            held.left -= 1
            held.used += 1
            left = held.left
        return _as_counted(held.states, left, now - held.at)

    def wanted(self, key: tuple) -> int:
        """How many units the next call should reserve for ``key``."""
        now = time.monotonic()
        with self._lock:
            held = self._book().get(key)
            if held is None:
                return 1
            rate = held.used / max(now - held.at, 1e-3)
        return max(1, min(MAX_UNITS, int(rate * UNIT_LIFE_S / 2)))

    def record(self, key: tuple, granted: int, states: list) -> dict[str, Counted]:
        """Keep what a call granted beyond this request's unit; this request's windows.
        Units another thread reserved meanwhile and has not used are kept with them."""
        now = time.monotonic()
        with self._lock:
            book = self._book()
            held = book.get(key)
            left = granted - 1
            if held is not None and held.left > 0 and now - held.at < UNIT_LIFE_S:
                left += held.left
            else:
                self._set_aside(key, held, now)
            if len(book) >= MAX_CLIENTS and key not in book:
                for stale in [k for k, r in book.items() if now - r.at >= UNIT_LIFE_S]:
                    del book[stale]
                if len(book) >= MAX_CLIENTS:
                    book.clear()
                    self._unspent.clear()
            if len(self._unspent) >= MAX_CLIENTS:
                self._unspent.clear()
            book[key] = _Reservation(left=left, used=1, at=now, states=states)
        return _as_counted(states, granted - 1, 0.0)


@dataclass
class _Reservation:
    left: int  # units counted in Redis and not used yet
    used: int  # units used since the last call (its own request's included)
    at: float  # when (time.monotonic())
    states: list  # per window: tail, acquired, and its state just after that call


def _as_counted(states: list, unused: int, elapsed: float) -> dict[str, Counted]:
    """Each window's verdict and state for a request, ``unused`` units of the call that
    counted it still reserved and ``elapsed`` seconds after it (``get_sliding_window``)."""
    return {tail: Counted(acquired, (previous, max(0.0, previous_ttl - elapsed),
                                     current - unused, max(0.0, current_ttl - elapsed)))
            for tail, acquired, previous, previous_ttl, current, current_ttl in states}


class MediaRedisStorage(RedisStorage):
    """`limits`' Redis storage that counts a ``/media`` request in one call."""

    STORAGE_SCHEME = [SCHEME_PREFIX + "redis", SCHEME_PREFIX + "rediss",
                      SCHEME_PREFIX + "redis+unix"]

    def __init__(self, uri: str, **options):
        super().__init__(uri.removeprefix(SCHEME_PREFIX), **options)

    def initialize_storage(self, uri: str) -> None:
        self.storage = hot_client(uri)  # replaces `limits`' client (2 s, with retries)
        self.breaker = self.storage.breaker
        self.local = MemoryStorage()
        super().initialize_storage(uri)
        self.lua_count_request = self.get_connection().register_script(COUNT_REQUEST)
        self.reservations = Reservations()

    def _either(self, remote, local):
        """``remote()`` in Redis; ``local()``, in this process's memory, while Redis does
        not answer."""
        if not self.breaker.is_open():
            try:
                return remote()
            except (*DOWN_ERRORS, StorageError) as exc:
                cause = exc.__cause__ if isinstance(exc, StorageError) else exc
                if not isinstance(cause, DOWN_ERRORS):
                    raise
        return local()

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return self._either(lambda: super(MediaRedisStorage, self).incr(key, expiry, amount),
                            lambda: self.local.incr(key, expiry, amount))

    def get(self, key: str) -> int:
        return self._either(lambda: super(MediaRedisStorage, self).get(key),
                            lambda: self.local.get(key))

    def get_expiry(self, key: str) -> float:
        return self._either(lambda: super(MediaRedisStorage, self).get_expiry(key),
                            lambda: self.local.get_expiry(key))

    def clear(self, key: str) -> None:
        self.local.clear(key)
        return self._either(lambda: super(MediaRedisStorage, self).clear(key), lambda: None)

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        return self._either(
            lambda: super(MediaRedisStorage, self).acquire_entry(key, limit, expiry, amount),
            lambda: self.local.acquire_entry(key, limit, expiry, amount))

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        return self._either(
            lambda: super(MediaRedisStorage, self).get_moving_window(key, limit, expiry),
            lambda: self.local.get_moving_window(key, limit, expiry))

    def clear_sliding_window(self, key: str, expiry: int) -> None:
        self.local.clear_sliding_window(key, expiry)
        return self._either(
            lambda: super(MediaRedisStorage, self).clear_sliding_window(key, expiry),
            lambda: None)

    def count_request(self, block_key: str, block_limit: int, block_expiry: int,
                      windows: tuple[Window, ...]) -> bool:
        """Count one request for auto-block and, unless that refuses it, for ``windows``
        (in order, up to the first refused). True when auto-block let it through.

        A unit this process reserved earlier for the same counters is spent here without
        a call (``Reservations``)."""
        counters = (block_key, block_limit, windows)  # a changed limit starts over
        spent = self.reservations.spend(counters)
        if spent is not None:
            g.media_counted = spent
            return True
        return self._either(
            lambda: self._count_in_redis(block_key, block_limit, block_expiry, windows,
                                         counters),
            lambda: self.local.acquire_entry(block_key, block_limit, block_expiry))

    def _count_in_redis(self, block_key: str, block_limit: int, block_expiry: int,
                        windows: tuple[Window, ...], counters: tuple) -> bool:
        want = self.reservations.wanted(counters)
        keys = [self.prefixed_key(block_key)]
        unspent = self.reservations.unspent(counters)
        args: list[float] = [time.time(), block_limit, block_expiry, want, SPREAD, unspent]
        for window in windows:
            keys += [self.prefixed_key(self._previous_window_key(window.key)),
                     self.prefixed_key(self._current_window_key(window.key))]
            args += [window.limit, window.expiry]
        answer = self.lua_count_request(keys, args)
        if not answer[0]:
            return False
        granted = int(answer[1])
        states = []
        # Windows after a refused one were not counted (nor will Flask-Limiter ask).
        for window, (acquired, previous, previous_ttl, current, current_ttl) in zip(
                windows, answer[2:], strict=False):
            # A counter this call created has exactly twice the window left, where `limits`'
            # reset arithmetic (ttl modulo the window) reads 0; a separate read comes at
            # least a millisecond later, so the state is reported as of then.
            current_ttl = min(current_ttl, 2 * window.expiry * 1000 - 1)
            states.append((window.tail, bool(acquired), int(previous),
                           max(0, previous_ttl) / 1000, int(current), max(0, current_ttl) / 1000))
        g.media_counted = self.reservations.record(counters, granted, states)
        return True

    def acquire_sliding_window_entry(self, key: str, limit: int, expiry: int,
                                     amount: int = 1) -> bool:
        counted = _counted(key) if amount == 1 else None
        if counted is not None:
            return counted.acquired
        return self._either(
            lambda: super(MediaRedisStorage, self).acquire_sliding_window_entry(
                key, limit, expiry, amount),
            lambda: self.local.acquire_sliding_window_entry(key, limit, expiry, amount))

    def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        counted = _counted(key)
        if counted is not None:
            return counted.state
        return self._either(
            lambda: super(MediaRedisStorage, self).get_sliding_window(key, expiry),
            lambda: self.local.get_sliding_window(key, expiry))
