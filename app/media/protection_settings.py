"""Changing the protection settings from the protection panel (admin).

``update_protection(changes, ctx)`` validates the protection keys of SPEC section 8 and
stores them. Today the store is the ``MEDIA_CONFIG`` mapping of this process (what
``media_config()`` reads); the config table and ``PATCH /api/v1/admin/media/config`` take
over at merge: point ``_store`` at that service and the panel follows.
"""

from __future__ import annotations

import re
from dataclasses import asdict

from flask import current_app

from app.audit import service as audit
from app.errors import BadRequest
from app.media.config import media_config
from app.media.protection import parse_network

LIST_KEYS = ("allow_ips", "block_ips", "allowed_referrers")
MAX = 10**9
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*"
                     r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _invalid(field: str, message: str) -> BadRequest:
    return BadRequest(message, code="invalid_config", field=field)


def normalise_entry(key: str, text: str) -> str:
    """One list entry as stored: a network in its canonical form, a domain lower-cased."""
    text = (text or "").strip()
    if key == "allowed_referrers":
        domain = text.lower().rstrip(".")
        if not _DOMAIN.match(domain):
            raise _invalid(key, f"{text!r} is not a domain name (e.g. example.com).")
        return domain
    try:
        return str(parse_network(text))
    except BadRequest:
        raise _invalid(key, f"{text!r} is not an IP address or CIDR network "
                            "(host bits must be zero, e.g. 10.0.0.0/8).") from None


def whole_number(field: str, value, low: int, high: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise _invalid(field, f"{field} must be a whole number.") from None
    if not low <= number <= high:
        raise _invalid(field, f"{field} must be from {low} to {high}.")
    return number


def current_settings() -> dict:
    """The protection settings as plain JSON values (the secret only as set or not)."""
    config = media_config()
    return {"allowed_referrers": list(config.allowed_referrers),
            "allow_empty_referrer": config.allow_empty_referrer,
            "rate_limits": asdict(config.rate_limits),
            "allow_ips": list(config.allow_ips), "block_ips": list(config.block_ips),
            "auto_block": asdict(config.auto_block), "block_scope": config.block_scope,
            "webhook_url": config.webhook_url,
            "webhook_secret_set": bool(config.webhook_secret)}


def add_entry(key: str, text: str, ctx) -> dict:
    entry = normalise_entry(key, text)
    values = list(getattr(media_config(), key))
    if entry not in values:
        values.append(entry)
    return update_protection({key: values}, ctx)


def remove_entry(key: str, text: str, ctx) -> dict:
    values = [v for v in getattr(media_config(), key) if v != (text or "").strip()]
    return update_protection({key: values}, ctx)


def update_protection(changes: dict, ctx) -> dict:
    """Store validated changes and audit ``media_config_changed`` with old and new values."""
    before = current_settings()
    _store(changes)
    after = current_settings()
    changed = {k: {"old": before[k], "new": after[k]} for k in after
               if before[k] != after[k] and k != "webhook_secret_set"}
    if before["webhook_secret_set"] != after["webhook_secret_set"] or "webhook_secret" in changes:
        changed["webhook_secret"] = "changed"  # write-only: never the value
    if changed:
        audit.record("media_config_changed", "ok", ctx, target_type="media_config",
                     target_id="media", details={"changes": changed})
    return after


def _store(changes: dict) -> None:
    overrides = dict(current_app.config.get("MEDIA_CONFIG") or {})
    overrides.update(changes)
    current_app.config["MEDIA_CONFIG"] = overrides
