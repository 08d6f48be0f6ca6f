"""The media settings a request reads: one function, SPEC section 8's keys and defaults.

``media_config()`` is the only reader. Layers, later wins: ``MediaConfig``'s defaults, the
``MEDIA_CONFIG`` mapping of the Flask config (tests, ``instance/config.py``), then the keys
an admin set through ``PATCH /api/v1/admin/media/config`` (one ``media_settings`` row).

Every process keeps the merged config and the row's ``version``; it reads the version
again at most every ``MEDIA_CONFIG_CHECK_S`` seconds (default 1; 0: on every call), and
the whole row only when the version moved. The process that applies a change sees it at
once; every other worker on its next request after the check interval, without a restart.

``validate_changes`` is the one place a change is checked (the API and the page use it);
``update_config`` stores it, bumps the version and audits ``media_config_changed`` with
old and new values (``webhook_secret`` masked: it is write-only, never returned).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from urllib.parse import urlparse

from flask import current_app
from flask_babel import gettext
from sqlalchemy import JSON, Integer, select
from sqlalchemy.orm import Mapped, mapped_column

from app.audit import service as audit
from app.core.db import UTCDateTime, begin_write, utcnow
from app.core.errors import BadRequest, PreconditionFailed
from app.core.extensions import db
from app.media.webhook_url import WebhookUrlRefused, check_target

MIB = 1024 * 1024
EXTENSION = "papelera.media_config"
SECRET_MASK = "***"


@dataclass(frozen=True)
class RateLimits:
    per_minute: int = 600        # each 1–10^9
    per_hour: int = 20000
    per_day: int = 200000


@dataclass(frozen=True)
class AutoBlock:
    threshold_per_image_per_hour: int = 1000  # 1–10^9
    block_for_s: int = 86400                  # 0 = until lifted


@dataclass(frozen=True)
class MediaConfig:
    cache_enabled: bool = True
    tracking_enabled: bool = True
    cache_ttl_s: int = 86400          # 1–604800
    cache_max_bytes: int = 5 * MIB    # 0–100 MiB: larger objects are never cached
    browser_max_age_s: int = 86400    # 0–31536000
    share_shared_max_age_s: int = 60  # 0–300: what a shared cache may keep a share link's
    #                                   answer (s-maxage); 0 answers ``public, no-cache``
    events_retention_days: int = 30   # 1–365
    allowed_referrers: tuple[str, ...] = ()   # empty: hotlink protection off
    allow_empty_referrer: bool = True
    rate_limits: RateLimits = field(default_factory=RateLimits)
    allow_ips: tuple[str, ...] = ()   # CIDRs (a bare address is a /32 or /128)
    block_ips: tuple[str, ...] = ()
    auto_block: AutoBlock = field(default_factory=AutoBlock)
    block_scope: str = "media"        # media | site
    webhook_url: str | None = None
    webhook_secret: str | None = None  # write-only

    def public(self) -> dict:
        """The API's answer: every key but the secret, and whether one is set."""
        data = asdict(self)
        data["allowed_referrers"] = list(self.allowed_referrers)
        data["allow_ips"] = list(self.allow_ips)
        data["block_ips"] = list(self.block_ips)
        del data["webhook_secret"]
        data["webhook_secret_set"] = bool(self.webhook_secret)
        return data


DEFAULTS = MediaConfig()
KEYS = tuple(f.name for f in fields(MediaConfig))
_NESTED = {"rate_limits": RateLimits, "auto_block": AutoBlock}
_LISTS = ("allowed_referrers", "allow_ips", "block_ips")


class MediaSettings(db.Model):
    """One row (id 1): the keys an admin changed, and a version bumped on every change."""

    __tablename__ = "media_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    values: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_by: Mapped[str | None] = mapped_column(db.String(64), nullable=True)


# -- validation: the one place -------------------------------------------------------

def _bad(name: str, message: str) -> BadRequest:
    return BadRequest(message, code="invalid_config", field=name)


def _int(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(name, gettext("%(field)s must be a whole number from %(low)s to %(high)s.",
                                 field=name, low=low, high=high))
    return value


def _bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise _bad(name, gettext("%(field)s must be true or false.", field=name))
    return value


def _list(name: str, value, limit: int = 1000) -> list:
    if not isinstance(value, list) or len(value) > limit:
        raise _bad(name, gettext("%(field)s must be a list of at most %(n)s entries.",
                                 field=name, n=limit))
    return value


def _domain(name: str, value) -> str:
    text = value.strip().lower().rstrip(".") if isinstance(value, str) else ""
    labels = text.removeprefix("*.").split(".")
    if not text or len(text) > 253 or not all(
            label and len(label) <= 63 and label.replace("-", "").isalnum()
            and not label.startswith("-") and not label.endswith("-") for label in labels):
        raise _bad(name, gettext("%(field)s: %(value)r is not a domain name.",
                                 field=name, value=value))
    return text


_MAPPED = ipaddress.ip_network("::ffff:0:0/96")


def unmapped(network):
    """An IPv4-mapped IPv6 network (``::ffff:127.0.0.74``, ``::ffff:10.0.0.0/104``) as
    the IPv4 network it is: clients are matched as IPv4 (issue 18, item 15)."""
    if network.version == 6 and network.prefixlen >= 96 and network.subnet_of(_MAPPED):
        return ipaddress.ip_network(
            (int(network.network_address) & 0xFFFFFFFF, network.prefixlen - 96))
    return network


def _cidr(name: str, value) -> str:
    """An address (a /32 or /128) or a network; host bits set ("10.0.0.1/8") is refused,
    as it is ambiguous: the admin meant one address or the whole network."""
    try:
        return str(unmapped(ipaddress.ip_network(value.strip(), strict=True)))
    except (AttributeError, TypeError, ValueError):
        raise _bad(name, gettext("%(field)s: %(value)r is not an IP address or CIDR "
                                 "network (host bits must be zero, e.g. 10.0.0.0/8).",
                                 field=name, value=value)) from None


def _object(name: str, value, cls, check) -> dict:
    if not isinstance(value, dict):
        raise _bad(name, gettext("%(field)s must be an object.", field=name))
    known = {f.name for f in fields(cls)}
    out = {}
    for key, item in value.items():
        if key not in known:
            where = f"{name}.{key}"
            raise _bad(where, gettext("Unknown setting %(field)s.", field=where))
        out[key] = check(f"{name}.{key}", key, item)
    return out


def _rate(path: str, _key: str, value) -> int:
    return _int(path, value, 1, 10**9)


def _auto_block(path: str, key: str, value) -> int:
    if key == "block_for_s":
        return _int(path, value, 0, 10**9)
    return _int(path, value, 1, 10**9)


def _choice(name: str, value, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise _bad(name, gettext("%(field)s must be one of %(choices)s.", field=name,
                                 choices=", ".join(choices)))
    return value


def _url(name: str, value) -> str | None:
    if value is None or value == "":
        return None
    parsed = urlparse(value) if isinstance(value, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.hostname \
            or len(value) > 2000:
        raise _bad(name, gettext("%(field)s must be an http(s) URL or null.", field=name))
    return _webhook_target(name, value)


def _webhook_target(name: str, value: str) -> str:
    """Public receivers only, no credentials in the URL (``app.media.webhook_url``)."""
    try:
        check_target(value, unresolved_ok=True,
                     allow_private=bool(current_app.config["MEDIA_WEBHOOK_ALLOW_PRIVATE"]))
    except WebhookUrlRefused as exc:
        raise _bad(name, str(exc)) from None
    return value


def _secret(name: str, value) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 512:
        raise _bad(name, gettext("%(field)s must be text of at most 512 characters, or "
                                 "null.", field=name))
    return value


_CHECKS = {
    "cache_enabled": lambda n, v: _bool(n, v),
    "tracking_enabled": lambda n, v: _bool(n, v),
    "cache_ttl_s": lambda n, v: _int(n, v, 1, 604800),
    "cache_max_bytes": lambda n, v: _int(n, v, 0, 100 * MIB),
    "browser_max_age_s": lambda n, v: _int(n, v, 0, 31536000),
    "share_shared_max_age_s": lambda n, v: _int(n, v, 0, 300),
    "events_retention_days": lambda n, v: _int(n, v, 1, 365),
    "allowed_referrers": lambda n, v: sorted({_domain(n, d) for d in _list(n, v)}),
    "allow_empty_referrer": lambda n, v: _bool(n, v),
    "rate_limits": lambda n, v: _object(n, v, RateLimits, _rate),
    "allow_ips": lambda n, v: sorted({_cidr(n, c) for c in _list(n, v)}),
    "block_ips": lambda n, v: sorted({_cidr(n, c) for c in _list(n, v)}),
    "auto_block": lambda n, v: _object(n, v, AutoBlock, _auto_block),
    "block_scope": lambda n, v: _choice(n, v, ("media", "site")),
    "webhook_url": _url,
    "webhook_secret": _secret,
}
assert set(_CHECKS) == set(KEYS)  # a new MediaConfig field needs its check here


def validate_changes(body) -> dict:
    """A PATCH body (any subset of the keys) → the checked, normalised values; or 400
    ``invalid_config`` with ``field`` naming the first bad key."""
    if not isinstance(body, dict):
        raise BadRequest(gettext("Send the settings to change as a JSON object."),
                         code="invalid_config", field=None)
    out = {}
    for name, value in body.items():
        check = _CHECKS.get(name)
        if check is None:
            raise _bad(name, gettext("Unknown setting %(field)s.", field=name))
        out[name] = check(name, value)
    return out


# -- reading ---------------------------------------------------------------------------

def build_config(base: MediaConfig, values: dict) -> MediaConfig:
    """``base`` with stored/overriding ``values`` (nested ones merged key by key)."""
    changes = {}
    for name, value in (values or {}).items():
        if name not in KEYS:
            continue
        if name in _NESTED:
            current = getattr(base, name)
            value = replace(current, **{k: v for k, v in dict(value).items()
                                        if hasattr(current, k)}) \
                if isinstance(value, dict) else value
        elif name in _LISTS:
            value = tuple(value)
        changes[name] = value
    return replace(base, **changes)


class _State:
    def __init__(self):
        self.lock = threading.Lock()
        self.config: MediaConfig | None = None
        self.version: int | None = None
        self.checked_at = float("-inf")
        self.overrides: dict | None = None


def _state(app=None) -> _State:
    extensions = (app if app is not None else current_app).extensions
    state = extensions.get(EXTENSION)
    if state is None:
        state = extensions.setdefault(EXTENSION, _State())
    return state


def _base() -> MediaConfig:
    return build_config(DEFAULTS, current_app.config["MEDIA_CONFIG"])


def _read_row() -> tuple[int, dict] | None:
    """(version, values) on a connection of its own: the caller's transaction is untouched."""
    table = MediaSettings.__table__
    try:
        with db.engine.connect() as connection:
            row = connection.execute(
                select(table.c.version, table.c["values"]).where(table.c.id == 1)).first()
    except Exception:  # noqa: BLE001  (no table yet, database down: serve the defaults)
        return None
    return (row.version, row.values or {}) if row else (0, {})


def _read_version() -> int | None:
    table = MediaSettings.__table__
    try:
        with db.engine.connect() as connection:
            return connection.execute(
                select(table.c.version).where(table.c.id == 1)).scalar() or 0
    except Exception:  # noqa: BLE001
        return None


def media_config() -> MediaConfig:
    """The settings in force in this process (see the module docstring)."""
    app = current_app._get_current_object()  # one context lookup: asked a few times a request
    state = _state(app)
    now = time.monotonic()
    interval = app.config["MEDIA_CONFIG_CHECK_S"]
    overrides = app.config["MEDIA_CONFIG"]
    config = state.config
    if config is not None and now - state.checked_at < interval and overrides == state.overrides:
        return config
    with state.lock:
        if state.overrides != overrides:
            state.config = None
        if state.config is not None and now - state.checked_at < interval:
            return state.config
        if state.config is not None:
            version = _read_version()
            if version is None or version == state.version:
                state.checked_at = now
                return state.config
        row = _read_row()
        version, values = row if row is not None else (None, {})
        state.config = build_config(_base(), values)
        state.version, state.checked_at = version, now
        state.overrides = dict(overrides)
        return state.config


def forget_config() -> None:
    """Read the settings again on the next call (after a change in this process)."""
    state = _state()
    with state.lock:
        state.config, state.version, state.checked_at = None, None, float("-inf")


# -- changing --------------------------------------------------------------------------

def _audit_value(name: str, value):
    if name == "webhook_secret":
        return SECRET_MASK if value else None
    if isinstance(value, tuple):
        return list(value)
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return value


LIST_KEYS = ("allow_ips", "block_ips", "allowed_referrers")


def config_etag(version: int) -> str:
    """The config's ETag: its stored version (``If-Match`` on ``PATCH`` compares it)."""
    return f'"media-config-{version}"'


def stored_version() -> int:
    """The version of the stored settings now (0 before the first change)."""
    version = _read_version()
    return version or 0


def edit_list(key: str, ctx, *, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()
              ) -> MediaConfig:
    """Add ``add`` to and drop ``remove`` from the list setting ``key`` (entries already
    validated), applied to the stored row read under the write lock: two edits through
    two workers in the same second both land (issue 18, item 11; code-review N3)."""
    if key not in LIST_KEYS:
        raise ValueError(key)

    def edited(before: MediaConfig) -> dict:
        values = [v for v in getattr(before, key) if v not in remove]
        values += [v for v in dict.fromkeys(add) if v not in values]
        return validate_changes({key: values})

    return update_config(edited, ctx)


def update_config(changes, ctx, *, expect_version: int | None = None) -> MediaConfig:
    """Store validated ``changes``, bump the version, audit old and new values together.

    ``changes`` may be a function of the stored settings, read under the write lock (a
    list edit); ``expect_version``: refuse with 412 unless the stored version is that
    one (``If-Match``).
    """
    session = db.session
    begin_write(session)
    row = session.get(MediaSettings, 1)
    if expect_version is not None and (row.version if row else 0) != expect_version:
        session.rollback()
        raise PreconditionFailed(gettext("The media settings changed since you loaded them; "
                                         "load them again."))
    if row is None:
        row = MediaSettings(id=1, version=0, values={})
        session.add(row)
    before = build_config(_base(), row.values or {})
    if callable(changes):
        changes = changes(before)
    stored = dict(row.values or {})
    for name, value in changes.items():
        if name in _NESTED:
            stored[name] = {**dict(stored.get(name) or {}), **value}
        else:
            stored[name] = value
    after = build_config(_base(), stored)
    diff = {}
    for name in changes:
        old, new = getattr(before, name), getattr(after, name)
        if old != new:
            diff[name] = {"old": _audit_value(name, old), "new": _audit_value(name, new)}
    if not diff:
        session.rollback()
        return after
    row.values = stored
    row.version = (row.version or 0) + 1
    row.updated_at = utcnow()
    row.updated_by = ctx.actor_id
    audit.commit_change("media_config_changed", "ok", ctx, target_type="media_config",
                        target_id="media", details={"changes": diff})
    forget_config()
    return after
