"""Redis on the request path: short timeouts, no retries, one "Redis is down" breaker.

A Redis that accepts connections and never answers used to cost a request 26 s (redis-py's
default retries around a 2 s socket timeout), and every thread behind it waited as long.
Every client a request uses (the media cache, the access generation, the counters of the
limits, auto-block and sign-in, the block list's version) is made by ``hot_client``:

- connect and read timeouts of ``HOT_TIMEOUT_S`` (sub-second), and no retry;
- every command and pipeline first asks the process's one ``Breaker`` for that Redis. After
  a connection error or a timeout the breaker is open: calls fail at once, without I/O,
  and the callers fall back to what the process knows (cached blocks, counting in memory,
  deciding access from SQL). After 1 s one call is let through to probe; each further
  failure doubles the wait up to ``MAX_WAIT_S`` (as Flask-Limiter re-checks a dead
  storage), and the first success closes the breaker.

A hung Redis therefore costs the first request about ``HOT_TIMEOUT_S`` and a probe every
so often the same; every other request pays nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis
from redis.backoff import NoBackoff
from redis.client import Pipeline
from redis.retry import Retry

log = logging.getLogger(__name__)

HOT_TIMEOUT_S = 0.5
FIRST_WAIT_S = 1.0
MAX_WAIT_S = 32.0
PROBE_TIMEOUT_S = 5.0  # a probe outstanding this long is taken as lost
# What says "Redis did not answer" (an answered error, such as NOSCRIPT, says it is up).
DOWN_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)


class RedisDown(redis.ConnectionError):
    """Refused without trying: the breaker is open."""


class Breaker:
    """Whether one Redis is worth asking, shared by every client of it in the process."""

    def __init__(self, name: str, *, clock: Callable[[], float] = time.monotonic,
                 first_wait_s: float = FIRST_WAIT_S, max_wait_s: float = MAX_WAIT_S):
        self.name, self.clock = name, clock
        self.first_wait_s, self.max_wait_s = first_wait_s, max_wait_s
        self._lock = threading.Lock()
        self.failures = 0
        self._down_until = float("-inf")
        self._probing = float("-inf")  # when the current probe was let through

    @property
    def down(self) -> bool:
        return self.failures > 0

    def is_open(self) -> bool:
        """Calls fail at once now (no probe due); asking does not take the probe."""
        if not self.failures:
            return False
        with self._lock:
            now = self.clock()
            return bool(self.failures) and (now < self._down_until
                                            or now - self._probing < PROBE_TIMEOUT_S)

    def allows(self) -> bool:
        """True when a call may go to Redis now (closed, or this caller is the probe)."""
        if not self.failures:  # the fast path: no lock while Redis answers
            return True
        with self._lock:
            if not self.failures:
                return True
            now = self.clock()
            # A probe that never reported (its thread died) frees the turn after a while.
            if now < self._down_until or now - self._probing < PROBE_TIMEOUT_S:
                return False
            self._probing = now
            return True

    def check(self) -> None:
        if not self.allows():
            raise RedisDown(f"Redis at {self.name} is marked down; not asked")

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            self.failures += 1
            self._probing = float("-inf")
            wait = min(self.first_wait_s * 2 ** (self.failures - 1), self.max_wait_s)
            self._down_until = self.clock() + wait
            failures = self.failures
        if failures == 1:
            log.error("Redis at %s is not answering (%s); serving from local state, "
                      "next check in %.0f s", self.name, exc, wait)
        else:
            log.warning("Redis at %s still not answering; next check in %.0f s",
                        self.name, wait)

    def succeeded(self) -> None:
        if not self.failures:
            return
        with self._lock:
            was, self.failures, self._probing = self.failures, 0, float("-inf")
        if was:
            log.warning("Redis at %s answers again", self.name)

    def call(self, do: Callable[[], object]):
        """``do()`` through the breaker."""
        self.check()
        try:
            result = do()
        except DOWN_ERRORS as exc:
            self.failed(exc)
            raise
        except BaseException:
            self.succeeded()  # it answered, with an error
            raise
        self.succeeded()
        return result


_breakers: dict[str, Breaker] = {}
_breakers_lock = threading.Lock()


def _name(url: str) -> str:
    """One breaker per server: the URL without credentials and the database number."""
    url = url.removeprefix("redis+")
    scheme, _, rest = url.partition("://")
    host = rest.rpartition("@")[2].split("?")[0]
    if scheme != "unix":
        host = host.split("/")[0]
    return f"{scheme}://{host}"


def breaker_for(url: str) -> Breaker:
    name = _name(url)
    with _breakers_lock:
        found = _breakers.get(name)
        if found is None:
            found = _breakers[name] = Breaker(name)
        return found


def reset_breakers() -> None:
    """Forget every breaker (tests)."""
    with _breakers_lock:
        _breakers.clear()


class GuardedRedis(redis.Redis):
    """A client whose commands and pipelines go through its ``breaker``."""

    breaker: Breaker

    def execute_command(self, *args, **options):
        return self.breaker.call(lambda: super(GuardedRedis, self).execute_command(
            *args, **options))

    def pipeline(self, transaction=True, shard_hint=None):
        pipe = GuardedPipeline(self.connection_pool, self.response_callbacks, transaction,
                               shard_hint)
        pipe.breaker = self.breaker
        return pipe


class GuardedPipeline(Pipeline):
    breaker: Breaker

    def execute(self, raise_on_error: bool = True):
        return self.breaker.call(lambda: super(GuardedPipeline, self).execute(raise_on_error))


def hot_client(url: str, *, timeout_s: float = HOT_TIMEOUT_S) -> GuardedRedis:
    """A client for the request path: ``timeout_s`` to connect and to read, no retry, and
    the process's breaker for this Redis."""
    client = GuardedRedis.from_url(url, socket_timeout=timeout_s,
                                   socket_connect_timeout=timeout_s,
                                   retry=Retry(NoBackoff(), 0))
    client.breaker = breaker_for(url)
    return client
