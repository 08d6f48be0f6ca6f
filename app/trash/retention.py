"""How long an owner's deleted images stay in the trash."""

from __future__ import annotations

from flask import current_app

from app.users.repository import get_users


def retention_days_for(owner_id: str) -> int:
    """The owner's own choice when they made one (bounded by the maximum), else the default."""
    config = current_app.config
    user = get_users().get(owner_id)
    if user is not None and user.trash_retention_days is not None:
        return min(user.trash_retention_days, config["TRASH_RETENTION_MAX_DAYS"])
    return config["TRASH_RETENTION_DAYS"]
