"""One Redis call for all of a ``/media`` request's counters.

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
the request (``flask.g``), and answers Flask-Limiter's ``hit`` and ``get_window_stats``
for those keys from them: Flask-Limiter still decides (limits, exemption, ``on_breach``,
``current_limit``), without another round trip. Any other key, and any request the gate
did not count, goes to Redis as in `limits`.

In memory (no ``REDIS_URL``) there is no round trip to save: `limits`' memory storage
counts as before.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import g, has_app_context
from limits.storage import RedisStorage

SCHEME_PREFIX = "papelera+"

# KEYS[1]: the auto-block list; then each window's previous and current counter.
# ARGV: now (s), the auto-block limit and expiry (s); then each window's limit, expiry (s).
# Answers {auto-block acquired, then per window counted: acquired, previous count,
# previous ttl (ms), current count, current ttl (ms)}.
COUNT_REQUEST = """
local now = tonumber(ARGV[1])
local block_limit = tonumber(ARGV[2])
local block_expiry = tonumber(ARGV[3])

-- acquire_moving_window.lua, amount 1
local entry = redis.call('lindex', KEYS[1], block_limit - 1)
if entry and tonumber(entry) >= now - block_expiry then
    return {0}
end
redis.call('lpush', KEYS[1], now)
redis.call('ltrim', KEYS[1], 0, block_limit - 1)
redis.call('expire', KEYS[1], block_expiry)

local result = {1}
for w = 1, (#KEYS - 1) / 2 do
    -- acquire_sliding_window.lua, amount 1
    local previous_key, current_key = KEYS[2 * w], KEYS[2 * w + 1]
    local limit = tonumber(ARGV[2 + 2 * w])
    local expiry = tonumber(ARGV[3 + 2 * w]) * 1000

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
    if weighted + 1 > limit then
        result[#result + 1] = {0, previous_count, previous_ttl, current_count, current_ttl}
        return result
    end
    if redis.call('exists', current_key) == 1 then
        current_count = redis.call('incrby', current_key, 1)
    else
        redis.call('set', current_key, 1, 'PX', expiry * 2)
        current_count, current_ttl = 1, expiry * 2
    end
    result[#result + 1] = {1, previous_count, previous_ttl, current_count, current_ttl}
end
return result
"""


@dataclass(frozen=True)
class Window:
    """One limiter window: the storage key it is counted under, its limit and seconds,
    and how every key Flask-Limiter builds for it ends (``/<budget>/<scope>/<limit>/1/
    <granularity>``; before that comes ``RATELIMIT_KEY_PREFIX``, which Flask-Limiter
    keeps from the first app it was bound to when a process makes several, as tests do)."""

    key: str
    limit: int
    expiry: int
    tail: str


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


class MediaRedisStorage(RedisStorage):
    """`limits`' Redis storage that counts a ``/media`` request in one call."""

    STORAGE_SCHEME = [SCHEME_PREFIX + "redis", SCHEME_PREFIX + "rediss",
                      SCHEME_PREFIX + "redis+unix"]

    def __init__(self, uri: str, **options):
        super().__init__(uri.removeprefix(SCHEME_PREFIX), **options)

    def initialize_storage(self, uri: str) -> None:
        super().initialize_storage(uri)
        self.lua_count_request = self.get_connection().register_script(COUNT_REQUEST)

    def count_request(self, block_key: str, block_limit: int, block_expiry: int,
                      windows: list[Window]) -> bool:
        """Count one request for auto-block and, unless that refuses it, for ``windows``
        (in order, up to the first refused). True when auto-block let it through."""
        keys = [self.prefixed_key(block_key)]
        args: list[float] = [time.time(), block_limit, block_expiry]
        for window in windows:
            keys += [self.prefixed_key(self._previous_window_key(window.key)),
                     self.prefixed_key(self._current_window_key(window.key))]
            args += [window.limit, window.expiry]
        answer = self.lua_count_request(keys, args)
        counted = {}
        # Windows after a refused one were not counted (nor will Flask-Limiter ask).
        for window, (acquired, previous, previous_ttl, current, current_ttl) in zip(
                windows, answer[1:], strict=False):
            # A counter this call created has exactly twice the window left, where `limits`'
            # reset arithmetic (ttl modulo the window) reads 0; a separate read comes at
            # least a millisecond later, so the state is reported as of then.
            current_ttl = min(current_ttl, 2 * window.expiry * 1000 - 1)
            counted[window.tail] = Counted(
                bool(acquired), (int(previous), max(0, previous_ttl) / 1000,
                                 int(current), max(0, current_ttl) / 1000))
        g.media_counted = counted
        return bool(answer[0])

    def acquire_sliding_window_entry(self, key: str, limit: int, expiry: int,
                                     amount: int = 1) -> bool:
        counted = _counted(key) if amount == 1 else None
        if counted is not None:
            return counted.acquired
        return super().acquire_sliding_window_entry(key, limit, expiry, amount)

    def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        counted = _counted(key)
        if counted is not None:
            return counted.state
        return super().get_sliding_window(key, expiry)
