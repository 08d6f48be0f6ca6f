"""The media settings a request reads: one function, SPEC section 8's defaults.

``media_config()`` is the only reader. Today it merges the defaults with the
``MEDIA_CONFIG`` mapping of the Flask config (tests, ``instance/config.py``); a later
config table (``/api/v1/admin/media/config``) plugs in here without touching callers.
Lists arrive as JSON lists and are kept as tuples, nested settings (``rate_limits``,
``auto_block``) as small frozen dataclasses, so a config is hashable and the protection
layer can cache what it compiles from it (``app.media.protection``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from flask import current_app

MIB = 1024 * 1024


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
    cache_ttl_s: int = 86400          # 1–604800
    cache_max_bytes: int = 5 * MIB    # 0–100 MiB: larger objects are never cached
    browser_max_age_s: int = 86400    # 0–31536000
    # Protection (SPEC section 8), applied by app.media.protection.
    allowed_referrers: tuple[str, ...] = ()   # empty: hotlink protection off
    allow_empty_referrer: bool = True
    rate_limits: RateLimits = RateLimits()
    allow_ips: tuple[str, ...] = ()           # IPs and CIDRs: no limits, no auto-block
    block_ips: tuple[str, ...] = ()           # IPs and CIDRs: 403
    auto_block: AutoBlock = AutoBlock()
    block_scope: str = "media"                # "media" or "site"
    webhook_url: str | None = None
    webhook_secret: str | None = None         # write-only: never returned or audited


DEFAULTS = MediaConfig()
_KEYS = {f.name for f in fields(MediaConfig)}
_NESTED = {"rate_limits": RateLimits, "auto_block": AutoBlock}
_LISTS = {"allowed_referrers", "allow_ips", "block_ips"}


def build_config(overrides: dict) -> MediaConfig:
    """The defaults with ``overrides`` (already validated) applied; unknown keys ignored."""
    values = {}
    for key, value in overrides.items():
        if key not in _KEYS:
            continue
        if key in _NESTED and isinstance(value, dict):
            value = replace(getattr(DEFAULTS, key), **value)
        elif key in _LISTS and value is not None:
            value = tuple(value)
        values[key] = value
    return replace(DEFAULTS, **values)


def media_config() -> MediaConfig:
    return build_config(current_app.config.get("MEDIA_CONFIG") or {})
