"""The media settings a request reads: one function, SPEC section 8's defaults.

``media_config()`` is the only reader. Today it merges the defaults with the
``MEDIA_CONFIG`` mapping of the Flask config (tests, ``instance/config.py``); a later
config table (``/api/v1/admin/media/config``) plugs in here without touching callers.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from flask import current_app

MIB = 1024 * 1024


@dataclass(frozen=True)
class MediaConfig:
    cache_enabled: bool = True
    cache_ttl_s: int = 86400          # 1–604800
    cache_max_bytes: int = 5 * MIB    # 0–100 MiB: larger objects are never cached
    browser_max_age_s: int = 86400    # 0–31536000


DEFAULTS = MediaConfig()
_KEYS = {f.name for f in fields(MediaConfig)}


def media_config() -> MediaConfig:
    overrides = current_app.config.get("MEDIA_CONFIG") or {}
    return replace(DEFAULTS, **{k: v for k, v in overrides.items() if k in _KEYS})
