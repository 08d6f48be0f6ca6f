"""Helpers for media tests that change the media settings.

``set_media_config`` is the one place tests change them: today it updates the
``MEDIA_CONFIG`` mapping that ``media_config()`` reads; when the settings move to their
SQL store, only this function changes.
"""

from __future__ import annotations


def set_media_config(app, **changes) -> None:
    """Apply ``changes`` (SPEC section 8 keys; nested ones as dicts) from the next request."""
    current = dict(app.config.get("MEDIA_CONFIG") or {})
    current.update(changes)
    app.config["MEDIA_CONFIG"] = current
