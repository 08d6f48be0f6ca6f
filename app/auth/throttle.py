"""Password guesses, counted before the password is checked (hit, then check).

Every attempt takes one hit on two counters, per client IP (``LOGIN_RATE_LIMIT``; an
IPv6 client by its /64) and per typed username (``LOGIN_USER_RATE_LIMIT``, so many
addresses cannot multiply the guesses at one account), *before* Argon2 runs. A hit is
one atomic increment in the `limits` storage (a lock in memory, a Lua script in Redis),
so concurrent requests cannot all pass a test that none has counted yet. A success
gives its hits back: SPEC section 5 says successful logins do not count. With
``REDIS_URL`` every worker and every container shares the counters.

Failed attempts are audited as ``login_failed`` by actor ``system``, the same record
for a known and an unknown name (SPEC section 3): the typed name appears only as a
keyed digest, so the chain neither confirms which names exist nor keeps a mistyped
password in clear, and both paths cost the same write.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import time
from dataclasses import dataclass

from flask import current_app, request
from flask_babel import gettext, ngettext
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from app.audit import service as audit
from app.auth.login import request_context
from app.core.errors import ServiceUnavailable, TooManyRequests
from app.users.service import LoginRefused, authenticate

log = logging.getLogger(__name__)

EXTENSION = "papelera.login_throttle"


def init_app(app) -> None:
    """One counter storage per app: Redis when ``REDIS_URL`` is set, else this process."""
    app.extensions[EXTENSION] = FixedWindowRateLimiter(
        storage_from_string(app.config["RATELIMIT_STORAGE_URI"]))  # set by create_app


def _strategy() -> FixedWindowRateLimiter:
    return current_app.extensions[EXTENSION]


def name_digest(username: str) -> str:
    """A keyed digest of a typed username: comparable, never readable, not guessable offline."""
    key = current_app.config["SECRET_KEY"].encode()
    name = (username or "").strip().lower().encode()
    return hmac.new(key, b"login-name:" + name, hashlib.sha256).hexdigest()[:32]


def client_key(ip: str | None) -> str:
    """The address an attempt counts against; IPv6 by its /64, which one client holds whole."""
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return ip or "-"
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


@dataclass
class Attempt:
    """The hits one attempt took, to give back when it succeeds."""

    hits: list[tuple[RateLimitItem, tuple[str, ...]]]

    def give_back(self) -> None:
        storage = _strategy().storage
        for item, ids in self.hits:
            key = item.key_for(*ids)
            # MemoryStorage can decrement without going below zero; Redis's INCRBY -1 is
            # just as atomic (a window that expired meanwhile starts one lower).
            decr = getattr(storage, "decr", None)
            if decr is not None:
                decr(key)
            else:
                storage.incr(key, item.get_expiry(), amount=-1)
        self.hits = []


def _refused(item: RateLimitItem, ids: tuple[str, ...]) -> TooManyRequests:
    reset = _strategy().get_window_stats(item, *ids).reset_time
    wait = max(1, math.ceil(reset - time.time()))
    return TooManyRequests(ngettext("Too many failed sign-in attempts. Try again in %(num)d "
                                    "second.", "Too many failed sign-in attempts. Try again "
                                    "in %(num)d seconds.", wait), retry_after=wait)


def begin_attempt(username: str, ip: str | None) -> Attempt:
    """Count one password guess for this IP and this name, or raise 429 with the wait."""
    config = current_app.config
    prefix = config["RATELIMIT_KEY_PREFIX"] or "papelera"  # Flask-Limiter's "": our own
    counters = [(parse(config["LOGIN_RATE_LIMIT"]), (prefix, "login-ip", client_key(ip))),
                (parse(config["LOGIN_USER_RATE_LIMIT"]),
                 (prefix, "login-name", name_digest(username)))]
    attempt = Attempt(hits=[])
    strategy = _strategy()
    try:
        for item, ids in counters:
            if not strategy.hit(item, *ids):
                attempt.give_back()  # the earlier counters: this guess was never checked
                raise _refused(item, ids)
            attempt.hits.append((item, ids))
    except strategy.storage.base_exceptions as exc:
        log.error("login limiter storage unavailable: %s", exc)
        raise ServiceUnavailable(gettext("Sign-in is unavailable for a moment (the limiter's "
                                         "store is unreachable). Try again shortly.")) from None
    return attempt


def checked_login(users, username: str, password: str):
    """``authenticate`` behind the limits; a refusal is counted, logged and audited."""
    attempt = begin_attempt(username, request.remote_addr)
    try:
        user = authenticate(users, username, password)
    except LoginRefused as refused:
        _record_failed_login(username, refused)
        raise
    attempt.give_back()
    return user


def _record_failed_login(username: str, refused: LoginRefused) -> None:
    digest = name_digest(username)
    log.info("login failed", extra={"name_digest": digest, "code": refused.code})
    ctx = request_context()
    system = audit.Context(actor_id="system", actor_role="system", ip=ctx.ip,
                           user_agent=ctx.user_agent, request_id=ctx.request_id)
    if refused.code == "invalid_credentials":
        # Identical whether or not the name exists: no target, only the name's digest.
        audit.record("login_failed", "denied", system, target_type="login_name",
                     target_id=digest, details={"code": refused.code})
    else:
        # The password was right (the account is inactive or being deleted): naming the
        # account tells nothing to someone who already knew the password.
        audit.record("login_failed", "denied", system, target_type="user",
                     target_id=refused.user_id, details={"code": refused.code})


def check_current_password(user, password_check):
    """Run a current-password check (``/account/password``) behind the same limits.

    ``password_check`` raises ``BadRequest`` with code ``wrong_password`` on a wrong
    password; that keeps the hits. Anything else gives them back.
    """
    attempt = begin_attempt(user.username, request.remote_addr)
    try:
        result = password_check()
    except Exception as error:
        if getattr(error, "code", None) != "wrong_password":
            attempt.give_back()
        raise
    attempt.give_back()
    return result
