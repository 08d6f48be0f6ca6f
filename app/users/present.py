"""How a user looks to the outside."""

from __future__ import annotations

from app.audit.service import format_time


def user_to_dict(user) -> dict:
    return {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "role": user.role,
        "is_founder": user.is_founder,
        "status": user.status,
        "is_active": user.status == "active",
        "deactivated_at": format_time(user.deactivated_at) if user.deactivated_at else None,
        "created_at": format_time(user.created_at) if user.created_at else None,
        "trash_retention_days": user.trash_retention_days,
    }
