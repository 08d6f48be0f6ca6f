"""Helpers for media tests that change the media settings.

``set_media_config`` is the one place tests change them: through the same validator and
store as ``PATCH /api/v1/admin/media/config``, so every worker sees the change.
"""

from __future__ import annotations

from app.audit.service import SYSTEM
from app.media.config import update_config, validate_changes


def set_media_config(app, **changes) -> None:
    """Apply ``changes`` (SPEC section 8 keys; nested ones as dicts) from the next request."""
    with app.app_context():
        update_config(validate_changes(changes), SYSTEM)
