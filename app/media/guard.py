"""The request side of media protection: the gate, the per-IP limits and their headers.

Order on ``/media`` (the gate runs before every request, the limits with the view):

1. block list or an active auto-block → 403 ``ip_blocked`` (on every route when
   ``block_scope`` is ``site``, except the admin API, sign-in and static files). An
   auto-block spares a signed-in owner or admin fetching their own images (and, on
   pages, anyone signed in); the block list spares no one;
2. hotlink protection → 403 ``hotlink_refused``;
3. the request is counted for auto-block (unless exempt); past the threshold the address
   is blocked at once (audited; the webhook message joins the outbox) → 403 ``ip_blocked``;
4. Flask-Limiter's per-IP limits per minute, hour and day (unless exempt) → 429 with
   ``Retry-After``; every limited answer carries ``RateLimit-*`` headers. With Redis,
   step 3's one call counted them too: a request it let through every window is not
   handed to Flask-Limiter again (``_not_limited``), a refused one is.

When the counters' store (Redis) is unreachable, images stay served: the limits and the
counting are skipped, logged; blocks already known to the process still hold.

Exempt from 3 and 4: addresses in ``allow_ips``, and a signed-in owner or admin fetching
their own images. The client address is ``request.remote_addr``: the socket's peer, or
with ``TRUSTED_PROXIES=n`` what ProxyFix took from the last n ``X-Forwarded-For`` hops;
nothing else the client sends is read.
"""

from __future__ import annotations

import functools
import logging
import time

from flask import current_app, g, request
from flask_babel import gettext, ngettext
from flask_login import current_user
from limits import parse_many

from app.audit.service import Context
from app.auth.login import may_be_signed_in
from app.auth.throttle import client_key as budget_key
from app.core.db import utcnow
from app.core.errors import Forbidden, TooManyRequests
from app.core.extensions import limiter
from app.media.config import media_config
from app.media.counters import Window
from app.media.protection import (
    Client,
    address_set,
    claim_block,
    client_for,
    count_image_request,
    create_block,
    get_protection,
    referrer_allowed,
)
from app.media.service import MEDIA_ENDPOINTS, servable_image

log = logging.getLogger(__name__)

# Never blocked with block_scope "site": an admin must be able to sign in and lift it.
NEVER_BLOCKED_ENDPOINTS = frozenset({"auth.login", "auth_api.create_token", "static"})
NEVER_BLOCKED_PREFIXES = ("/api/v1/admin/",)
MEDIA_SCOPE = "media"  # Flask-Limiter's scope for the one budget every /media route shares


def current_client() -> Client:
    """This request's client (``request.remote_addr``, see above)."""
    return client_for(request.remote_addr)


def listed(client: Client, config) -> bool:
    """The client's address is on the block list (``block_ips``)."""
    return client.address in address_set(config.block_ips)


def auto_blocked(client: Client, now) -> bool:
    """The client is under an active automatic block: its address, an IPv6 client by its
    /64 (as the limits count it), so rotating addresses within it escapes neither."""
    board = get_protection().board
    key = client.block_key
    # A block of one IPv6 address, made before blocks covered the /64, still holds.
    return board.is_blocked(key, now) or (key != client.key
                                          and board.is_blocked(client.key, now))


def _refused(client: Client, config, is_media: bool, now) -> bool:
    """The block list refuses everyone from its addresses. An automatic block answers
    abuse of share links and anonymous fetches: it spares the signed-in owner (or an
    admin) fetching their own images, and, with ``block_scope`` ``site``, the pages of
    anyone signed in, who would otherwise see broken thumbnails and no reason (the
    gallery says why: ``templates/media/_blocked_banner.html``)."""
    if listed(client, config):
        return True
    if not auto_blocked(client, now):
        return False
    if is_media:
        return not _own_image_signed_in()
    return not _signed_in()


def _never_blocked() -> bool:
    return (request.endpoint in NEVER_BLOCKED_ENDPOINTS
            or request.path.startswith(NEVER_BLOCKED_PREFIXES))


def blocked_error() -> Forbidden:
    return Forbidden(gettext("Requests from your address are blocked."), code="ip_blocked")


def protection_gate():
    """``before_request``: lists, auto-blocks and hotlinks, before anything is read."""
    req = request._get_current_object()  # one context lookup (every request comes here)
    endpoint = req.endpoint
    is_media = endpoint in MEDIA_ENDPOINTS
    config = media_config()
    if not is_media and (config.block_scope != "site" or _never_blocked() or endpoint is None):
        return None
    now = utcnow()
    client = current_client()
    if _refused(client, config, is_media, now):
        raise blocked_error()
    if not is_media:
        return None
    if not referrer_allowed(req.headers.get("Referer"), own_host=req.host,
                            allowed=config.allowed_referrers,
                            allow_empty=config.allow_empty_referrer):
        raise Forbidden(gettext("Photos here may not be embedded on other sites."),
                        code="hotlink_refused")
    if not media_exempt(client):
        _count_for_auto_block(client, config, now)
    g.media_gate_passed = True
    return None


def media_exempt(client: Client | None = None) -> bool:
    """Allowed addresses, and an owner or admin fetching their own image (memoised)."""
    ctx_g = g._get_current_object()
    exempt = ctx_g.get("media_exempt")
    if exempt is None:
        exempt = ctx_g.media_exempt = _exempt(client or current_client())
    return exempt


def _exempt(client: Client) -> bool:
    if client.address in address_set(media_config().allow_ips):
        return True
    return _own_image_signed_in()


def _signed_in_user():
    """The user this request signs in, or None (anonymous known without loading anyone)."""
    if not may_be_signed_in(request._get_current_object()):
        return None
    user = current_user._get_current_object()
    return user if user.is_authenticated else None


def _signed_in() -> bool:
    return _signed_in_user() is not None


def _own_image_signed_in() -> bool:
    """A signed-in admin, or the signed-in owner of the image asked for."""
    user = _signed_in_user()
    if user is None:
        return False
    if user.is_admin:
        return True
    # The row the view decides with (kept per process by app.media.access_cache).
    image = servable_image((request.view_args or {}).get("image_id"))
    return image is not None and image.owner_id == user.id


def _count_for_auto_block(client: Client, config, now) -> None:
    """Count the request for auto-block (and, with Redis, for the limits too: one call)."""
    image_id = (request.view_args or {}).get("image_id")
    threshold = config.auto_block.threshold_per_image_per_hour
    protection = get_protection()
    key = client.block_key
    windows = _limit_windows()
    try:
        if not count_image_request(protection, key, image_id, threshold, windows=windows):
            if _counted_through(windows):
                g.media_counted_through = windows[0]
            return
        first = claim_block(protection, key)
    except protection.storage.base_exceptions as exc:
        # Images stay served while the counters' store is down; known blocks still hold.
        log.error("auto-block counters unavailable: %s", exc)
        return
    if first:
        ctx = Context(actor_id="system", actor_role="system", ip=request.remote_addr,
                      user_agent=request.headers.get("User-Agent"),
                      request_id=g.get("request_id"))
        # The webhook message, if one is set, commits with the block (the outbox).
        create_block(key, image_id=image_id, count=threshold + 1,
                     block_for_s=config.auto_block.block_for_s, now=now, ctx=ctx,
                     webhook_url=config.webhook_url)
        protection.board.changed()
    raise blocked_error()


# -- per-IP limits (Flask-Limiter) -----------------------------------------------------

def _limit_string() -> str:
    return _limit_strings(media_config().rate_limits)[0]


@functools.lru_cache(maxsize=64)
def _limit_strings(limits) -> tuple[str, str]:
    """The limits as Flask-Limiter reads them, and as ``RateLimit-Policy`` states them."""
    return (f"{limits.per_minute}/minute;{limits.per_hour}/hour;{limits.per_day}/day",
            f"{limits.per_minute};w=60, {limits.per_hour};w=3600, {limits.per_day};w=86400")


def _limit_windows() -> tuple[Window, ...]:
    """This request's windows under the keys Flask-Limiter's ``hit`` uses for them
    (``RATELIMIT_KEY_PREFIX``, the budget's key, the shared scope), so that the counting
    call made by the gate answers them (``app.media.counters``)."""
    return _windows(_limit_string(), current_app.config["RATELIMIT_KEY_PREFIX"],
                    _limit_key())


@functools.lru_cache(maxsize=1024)
def _windows(limits: str, prefix: str, budget: str) -> tuple[Window, ...]:
    """In the order Flask-Limiter checks them: the shortest window first."""
    identifiers = (prefix, budget, MEDIA_SCOPE) if prefix else (budget, MEDIA_SCOPE)
    return tuple(Window(item.key_for(*identifiers), item.amount, item.get_expiry(),
                        item.key_for(budget, MEDIA_SCOPE).removeprefix(item.namespace),
                        item, identifiers)
                 for item in sorted(parse_many(limits)))


def _counted_through(windows: tuple[Window, ...]) -> bool:
    """The gate's counting call (Redis) let this request through every window. Flask-
    Limiter, asked, would read the same verdicts back (``app.media.counters``) and allow
    it, so it is not asked (``_not_limited``); the gate then keeps the tightest window in
    ``g.media_counted_through`` for the headers. A request refused there, or counted in
    memory, goes to Flask-Limiter."""
    counted = g.get("media_counted")
    return (counted is not None and len(counted) == len(windows)
            and all(count.acquired for count in counted.values()))


def _limit_key() -> str:
    """The budget's owner: the address, an IPv6 client by its /64 (which one client
    holds whole), as for sign-in limits."""
    return _budget(current_app.config["MEDIA_PROTECTION_NAMESPACE"],
                   current_client().key)


@functools.lru_cache(maxsize=4096)
def _budget(namespace: str, client: str) -> str:
    """Derived once per address (Flask-Limiter asks once per window, the gate once)."""
    return f"{namespace}/media/{budget_key(client)}"


def _breached(limit):
    """The 429 answer, returned (not raised) so the limiter's error swallowing, which
    keeps images served while its store is unreachable, cannot swallow it. The app's
    handler for domain errors (``app.web.errors``) writes it, as it writes every refusal."""
    wait = max(1, int(limit.reset_at - time.time()))
    return current_app.handle_user_exception(TooManyRequests(ngettext(
        "Too many photo requests from your address. Try again in %(num)d second.",
        "Too many photo requests from your address. Try again in %(num)d seconds.", wait),
        retry_after=wait))


# Shared by every /media route: one budget per address, read from the config per request.
_shared_limits = limiter.shared_limit(_limit_string, scope=MEDIA_SCOPE, key_func=_limit_key,
                                      on_breach=_breached)


def media_limits(view):
    """The per-IP limits on a /media view (Flask-Limiter's shared limit), asked only when
    ``_not_limited`` does not already answer: Flask-Limiter would ask the same filter
    after looking up the route's limits and exemptions (7 % of a cached image's time)."""
    limited = _shared_limits(view)

    @functools.wraps(view)
    def checked(*args, **kwargs):
        if _not_limited():
            return view(*args, **kwargs)
        return limited(*args, **kwargs)

    return checked


@limiter.request_filter
def _not_limited() -> bool:
    """What Flask-Limiter skips (it asks its request filters before resolving any limit):

    - every route but ``/media``: this limiter holds nothing else;
    - a ``/media`` request the gate has not let through yet, which is Flask-Limiter's own
      ``before_request``: it runs before the gate, and would resolve the route's limits
      only to leave them to the decorator. The decorator checks them after the gate, whose
      one Redis call counted them (``app.media.counters``);
    - an exempt request (``media_exempt``);
    - a request the gate's Redis call let through every window (``_counted_through``):
      resolving and checking three limits again would only read its verdicts back, and
      cost more than the rest of the limits together (README, "What the limits cost").
    """
    return (request.endpoint not in MEDIA_ENDPOINTS or not g.get("media_gate_passed")
            or media_exempt() or "media_counted_through" in g)


def add_rate_limit_headers(response):
    """``RateLimit-Limit``, ``-Remaining``, ``-Reset`` (seconds) and ``-Policy`` for the
    tightest limit this request was held to (IETF httpapi rate-limit headers)."""
    window = g.get("media_counted_through")
    if window is not None:
        # Flask-Limiter skipped it: the tightest window, as it would have reported it.
        stats = limiter.limiter.get_window_stats(window.item, *window.identifiers)
        amount, remaining, reset_at = window.limit, stats.remaining, int(stats.reset_time + 1)
    else:
        current = limiter.current_limit
        if current is None:
            return response
        amount, remaining, reset_at = current.limit.amount, current.remaining, current.reset_at
    # Appended: nothing else writes these (Flask-Limiter's own headers are off).
    response.headers.extend((
        ("RateLimit-Limit", str(amount)),
        ("RateLimit-Remaining", str(remaining)),
        ("RateLimit-Reset", str(max(0, int(reset_at - time.time())))),
        ("RateLimit-Policy", _limit_strings(media_config().rate_limits)[1])))
    return response
