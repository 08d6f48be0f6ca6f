"""Media protection rules (SPEC section 8): lists, hotlinks, auto-blocks. No request in here.

- **Allow and block lists** of IPs and CIDRs are compiled once per distinct list
  (``address_set``, an LRU keyed by the tuple itself, so a new config version compiles
  once) into sets of masked integers per prefix length: a lookup costs one set probe per
  prefix length in use, never a SQL query.
- **Auto-blocks** live in SQL (``ip_blocks``), the record; every process keeps the active
  ones in a ``BlockBoard`` and reloads it when a version number moves (in Redis when
  ``REDIS_URL`` is set, so a block made by one worker is obeyed by every other within
  ``MEDIA_BLOCK_BOARD_CHECK_S``; in the process otherwise, where one worker serves all).
- **Counting** one image's requests per client for auto-block uses live counters (the
  ``limits`` moving window, in Redis or in memory), never the flushed access events.
- **Hotlinks**: ``referrer_allowed`` decides on the ``Referer`` header alone.
- **The webhook** of an auto-block is a row of the outbox written with the block
  (``app.media.webhooks``), delivered by the scheduler.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask_babel import gettext
from limits.storage import storage_from_string
from sqlalchemy import or_, select

from app.audit import service as audit
from app.core.db import end_read, utcnow
from app.core.errors import BadRequest, NotFound
from app.core.extensions import db, limiter
from app.core.redis_breaker import hot_client
from app.core.uow import unit_of_work
from app.images.models import image_id_or_none
from app.images.present import iso
from app.media import webhooks
from app.media.config import unmapped
from app.media.counters import MediaRedisStorage, redis_url
from app.media.models import IpBlock

log = logging.getLogger(__name__)

EXTENSION = "papelera.media_protection"
CLAIM_TTL_S = 10         # one request per address writes its block; the others just wait


# -- addresses -------------------------------------------------------------------------

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=4096)
def parse_address(text: str | None) -> Address | None:
    """The client address, an IPv4-mapped IPv6 address as its IPv4 self; None if not one
    (memoised: every /media request parses its client's address, from few clients)."""
    try:
        address = ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def block_key(text: str | None) -> str | None:
    """What auto-block counts and blocks for a client: an IPv4 address, or the /64 of an
    IPv6 one (which one client holds whole, as the limits and sign-in count it; issue
    18, item 15). ``text`` may also name that /64 itself. None if it is neither."""
    address = parse_address(text)
    if address is None:
        try:
            network = ipaddress.ip_network((text or "").strip(), strict=False)
        except ValueError:
            return None
        return str(network) if network.version == 6 and network.prefixlen == 64 else None
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


@dataclass(frozen=True)
class Client:
    """Who a request comes from, as protection knows it."""

    address: Address | None  # parsed; an IPv4-mapped IPv6 address as its IPv4 self
    key: str                 # its text, as the lists, blocks and limits name it ("-": none)
    block_key: str           # what auto-block counts and blocks: an IPv6 client by its /64


@functools.lru_cache(maxsize=4096)
def client_for(remote: str | None) -> Client:
    """The ``Client`` of a request's ``remote_addr`` (kept per process by address: every
    /media request asks, from few clients)."""
    address = parse_address(remote)
    key = str(address) if address else (remote or "-")
    return Client(address, key, block_key(key) or key)


def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """An IP or a CIDR (``10.0.0.0/8``, ``2001:db8::/32``); host bits set are refused."""
    try:
        return ipaddress.ip_network(str(text).strip(), strict=True)
    except ValueError as exc:
        raise BadRequest(gettext("%(value)r is not an IP address or CIDR network (%(reason)s).",
                                 value=text, reason=exc),
                         code="invalid_config") from None


class AddressSet:
    """IPs and networks, matched by masking the address once per prefix length in use."""

    def __init__(self, entries: tuple[str, ...]):
        self._by_prefix: dict[tuple[int, int], set[int]] = {}
        for entry in entries:
            try:  # stored before mapped entries were normalised: matched as IPv4 too
                network = unmapped(ipaddress.ip_network(str(entry).strip(), strict=False))
            except ValueError:
                log.error("ignoring an unreadable address list entry: %r", entry)
                continue
            key = (network.version, network.prefixlen)
            self._by_prefix.setdefault(key, set()).add(int(network.network_address))
        self._prefixes = sorted(self._by_prefix)

    def __bool__(self) -> bool:
        return bool(self._prefixes)

    def __contains__(self, address: Address | None) -> bool:
        if address is None:
            return False
        value, bits = int(address), address.max_prefixlen
        for version, prefixlen in self._prefixes:
            if version != address.version:
                continue
            mask = ((1 << prefixlen) - 1) << (bits - prefixlen) if prefixlen else 0
            if value & mask in self._by_prefix[(version, prefixlen)]:
                return True
        return False


@functools.lru_cache(maxsize=32)
def address_set(entries: tuple[str, ...]) -> AddressSet:
    """Compiled once per distinct list: a config version that changes it compiles anew."""
    return AddressSet(entries)


def describe_network(text: str) -> dict:
    """Who a CIDR covers: ``{"network", "version", "first", "last", "count"}`` (400 if bad)."""
    network = ipaddress.ip_network(str(text).strip(), strict=False) if text else None
    if network is None:
        raise BadRequest(gettext("Type an IP address or a CIDR network."), code="invalid_option",
                         option="cidr")
    return {"network": str(network), "version": network.version,
            "first": str(network[0]), "last": str(network[-1]),
            "count": network.num_addresses, "exact": str(network) == str(text).strip()}


# -- hotlinks --------------------------------------------------------------------------

def referrer_allowed(referer: str | None, *, own_host: str, allowed: tuple[str, ...],
                     allow_empty: bool) -> bool:
    """True when hotlink protection lets this ``Referer`` through.

    Off when ``allowed`` is empty. The app's own host always passes; a domain in
    ``allowed`` admits itself and its subdomains, and a wildcard ``*.example.org`` its
    subdomains only; no ``Referer`` passes unless ``allow_empty`` is false (browsers and
    privacy tools strip it).
    """
    if not allowed:
        return True
    if not referer:
        return allow_empty
    try:
        host = (urlsplit(referer).hostname or "").rstrip(".").lower()
    except ValueError:
        return False
    if not host:
        return False
    own = (urlsplit(f"//{own_host}").hostname or "").lower()
    if host == own:
        return True
    for domain in allowed:
        domain = domain.strip().rstrip(".").lower()
        wildcard = domain.startswith("*.")
        domain = domain.removeprefix("*.").lstrip(".")
        if domain and ((host == domain and not wildcard) or host.endswith("." + domain)):
            return True
    return False


# -- the auto-block board --------------------------------------------------------------

class LocalVersion:
    """The version of the block list, for one process serving everything."""

    shared = False

    def __init__(self):
        self._value = 0
        self._lock = threading.Lock()

    def get(self) -> int:
        return self._value

    def bump(self) -> None:
        with self._lock:
            self._value += 1


class RedisVersion:
    """The version in Redis: every worker and container sees a bump on its next check."""

    shared = True

    def __init__(self, client, key: str):
        self.client, self.key = client, key

    def get(self) -> int:
        return int(self.client.get(self.key) or 0)

    def bump(self) -> None:
        self.client.incr(self.key)


class BlockBoard:
    """The active auto-blocks, as this process last loaded them from SQL."""

    def __init__(self, version, check_every_s: float):
        self.version = version
        self.check_every_s = check_every_s
        self._loaded_version: int | None = None
        self._checked_at = float("-inf")
        self._blocks: dict[str, datetime | None] = {}
        self._lock = threading.Lock()

    def is_blocked(self, key: str, now: datetime) -> bool:
        self._refresh()
        if key not in self._blocks:
            return False
        expires = self._blocks[key]
        return expires is None or expires > now

    def changed(self) -> None:
        """After a block was written or lifted (committed): everyone reloads."""
        self.version.bump()
        self._checked_at = float("-inf")

    def _refresh(self) -> None:
        clock = time.monotonic()
        if self.version.shared and clock - self._checked_at < self.check_every_s:
            return
        try:
            current = self.version.get()
        except Exception as exc:  # Redis down: keep serving the blocks we know
            log.warning("block list version unreadable: %s", exc)
            return
        self._checked_at = clock
        if current == self._loaded_version:
            return
        with self._lock:
            if current == self._loaded_version:
                return
            self._blocks = load_active_blocks()
            self._loaded_version = current


def _active(now: datetime):
    return (IpBlock.lifted_at.is_(None),
            or_(IpBlock.expires_at.is_(None), IpBlock.expires_at > now))


def load_active_blocks() -> dict[str, datetime | None]:
    rows = db.session.execute(
        select(IpBlock.ip, IpBlock.expires_at).where(*_active(utcnow()))).all()
    end_read()  # this runs before most requests: no snapshot stays open
    blocks: dict[str, datetime | None] = {}
    for ip, expires in rows:
        if ip in blocks and (blocks[ip] is None or (expires and expires < blocks[ip])):
            continue
        blocks[ip] = expires
    return blocks


# -- per-app state ---------------------------------------------------------------------

@dataclass
class Protection:
    namespace: str
    storage: object
    board: BlockBoard

    def counter_key(self, ip: str, image_id) -> str:
        return f"{self.namespace}/autoblock/{ip}/{image_id}"

    def claim_key(self, ip: str) -> str:
        return f"{self.namespace}/autoblock-claim/{ip}"


def init_app(app) -> None:
    config = app.config
    namespace = config["MEDIA_PROTECTION_NAMESPACE"]
    uri = config["RATELIMIT_STORAGE_URI"]  # the limiter's store, set by create_app
    # The limiter was just bound to this app with this URI: one store (and, in memory, one
    # expiry timer) for the limits and the auto-block counters.
    storage = limiter.storage if limiter.initialized else storage_from_string(uri)
    url = redis_url(uri)
    if url is not None:
        version = RedisVersion(hot_client(url), f"{namespace}:ip-blocks:version")
    else:
        version = LocalVersion()
    app.extensions[EXTENSION] = Protection(
        namespace=namespace, storage=storage,
        board=BlockBoard(version, config["MEDIA_BLOCK_BOARD_CHECK_S"]))


def get_protection() -> Protection:
    from flask import current_app

    return current_app.extensions[EXTENSION]


# -- auto-block ------------------------------------------------------------------------

def count_image_request(protection: Protection, key: str, image_id, threshold: int,
                        windows=()) -> bool:
    """Count one request for ``image_id`` by ``key``; True once it is past ``threshold``
    within the last hour (a moving window: exactly the last 3600 seconds).

    With Redis the limiter's ``windows`` are counted in the same call, unless this one
    refuses the request (``app.media.counters``); in memory Flask-Limiter counts them.
    """
    counter = protection.counter_key(key, image_id)
    if isinstance(protection.storage, MediaRedisStorage):
        return not protection.storage.count_request(counter, threshold, 3600, windows)
    return not protection.storage.acquire_entry(counter, threshold, 3600)


def claim_block(protection: Protection, key: str) -> bool:
    """Only the first of several concurrent requests past the threshold writes the block."""
    return protection.storage.incr(protection.claim_key(key), CLAIM_TTL_S) == 1


def create_block(key: str, *, image_id, count: int, block_for_s: int, now: datetime,
                 ctx, webhook_url: str | None = None) -> dict | None:
    """Write an auto-block, its ``ip_blocked`` event (actor ``system``) and, when
    ``webhook_url`` is set, its webhook message (``app.media.webhooks``, the outbox the
    scheduler delivers) in one transaction: none of them without the others.

    None when the address is already blocked (another request got there first).
    """
    with unit_of_work():  # SQLite: the write lock before the check
        existing = db.session.execute(
            select(IpBlock.id).where(IpBlock.ip == key, *_active(now))).first()
        if existing is not None:
            return None
        expires = now + timedelta(seconds=block_for_s) if block_for_s else None
        block = IpBlock(ip=key, reason="auto_block", image_id=image_id_or_none(image_id),
                        count=count, blocked_at=now, expires_at=expires)
        db.session.add(block)
        answer = block_to_dict(block)
        if webhook_url:
            webhooks.enqueue(webhook_url, {"event": "ip_blocked", **answer}, now=now)
        audit.commit_change("ip_blocked", "ok", ctx, target_type="ip", target_id=key,
                            details={"reason": "auto_block", "image_id": str(image_id),
                                     "count": count, "block_for_s": block_for_s,
                                     "expires_at": expires.isoformat() if expires else None})
    return answer




def block_to_dict(block) -> dict:
    return {"ip": block.ip, "reason": block.reason,
            "image_id": str(block.image_id) if block.image_id else None,
            "count": block.count, "blocked_at": iso(block.blocked_at),
            "expires_at": iso(block.expires_at) if block.expires_at else None}


def active_blocks(now: datetime) -> list:
    rows = db.session.execute(
        select(IpBlock).where(*_active(now)).order_by(IpBlock.blocked_at.desc(),
                                                      IpBlock.id.desc())).scalars().all()
    end_read()
    return list(rows)


@dataclass(frozen=True)
class BlockTarget:
    """What ``DELETE /api/v1/admin/media/blocks/<ip>`` acts on: every active block of ip."""

    id: str
    rows: tuple
    etag: str


def load_block(ip: str, now: datetime) -> BlockTarget:
    """The active auto-block of ``ip`` (an address, or an IPv6 /64: an address in it
    names it too); 404 when the text is neither or none is active."""
    key = block_key(ip)
    if key is None:
        raise NotFound(gettext("No automatic block for this address."))
    address = parse_address(ip)
    keys = {key, str(address)} if address is not None else {key}  # a /128 of before
    rows = tuple(db.session.execute(
        select(IpBlock).where(IpBlock.ip.in_(keys), *_active(now))
        .order_by(IpBlock.id)).scalars().all())
    if not rows:
        raise NotFound(gettext("No automatic block for this address."))
    digest = hashlib.sha256(",".join(str(r.id) for r in rows).encode()).hexdigest()[:16]
    return BlockTarget(id=key, rows=rows, etag=f"block-{digest}")


def lift_block(target: BlockTarget, now: datetime) -> dict:
    """End the block now (committed), forget its counters, and tell every process.

    Inside the deletion pipeline's unit of work too, the lift commits at once (a step,
    ``uow.commit()``): other processes reload their board on the version bump below,
    and must read the lift when they do."""
    with unit_of_work() as uow:
        for row in target.rows:
            row.lifted_at = now
        uow.commit()
    protection = get_protection()
    for row in target.rows:
        if row.image_id is not None:
            protection.storage.clear(protection.counter_key(target.id, row.image_id))
    protection.storage.clear(protection.claim_key(target.id))
    protection.board.changed()
    return {"ip": target.id, "lifted": len(target.rows)}
