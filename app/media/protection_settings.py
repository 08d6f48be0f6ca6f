"""Changing the protection settings from the protection panel (admin).

The panel's forms arrive as text; they are turned into the JSON values of SPEC section 8
and go through the one validator and store of ``app.media.config`` (``validate_changes``,
``update_config``), the same path as ``PATCH /api/v1/admin/media/config``, which also
audits ``media_config_changed`` with old and new values.
"""

from __future__ import annotations

from dataclasses import asdict

from app.core.errors import BadRequest
from app.media.config import edit_list, media_config, update_config, validate_changes


def normalise_entry(key: str, text: str) -> str:
    """One list entry as stored: a network in its canonical form, a domain lower-cased."""
    return validate_changes({key: [(text or "").strip()]})[key][0]


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
    """Add one entry, to the list as stored at the moment of the write (not as this
    process last read it), so concurrent edits through other workers are kept."""
    edit_list(key, ctx, add=(normalise_entry(key, text),))
    return current_settings()


def remove_entry(key: str, text: str, ctx) -> dict:
    text = (text or "").strip()
    try:
        entry = normalise_entry(key, text)
    except BadRequest:  # an entry stored before the rules tightened: as it is written
        entry = text
    edit_list(key, ctx, remove=(entry, text))
    return current_settings()


def update_protection(changes: dict, ctx) -> dict:
    """Validate and store ``changes`` (audited by ``update_config``); the settings after."""
    update_config(validate_changes(changes), ctx)
    return current_settings()
