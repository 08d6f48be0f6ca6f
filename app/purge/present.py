"""How purge runs and pending items look to the outside, shared by both faces."""

from __future__ import annotations

from datetime import datetime

from app.audit.service import format_time


def iso(value: datetime | None) -> str | None:
    return format_time(value) if value else None


def run_to_dict(run) -> dict:
    return {
        "id": run.id,
        "trigger": run.trigger,
        "status": run.status,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "duration_s": None if run.duration_s is None else round(run.duration_s, 3),
        "older_than_days": run.older_than_days,
        "claimed": run.claimed,
        "deleted": run.deleted,
        "bytes_freed": run.bytes_freed,
        "errors": run.errors,
        "remaining": run.remaining,
        "error_messages": list(run.error_messages or []),
    }


def pending_item_to_dict(image) -> dict:
    return {
        "id": str(image.id),
        "owner_id": image.owner_id,
        "file_name": image.file_name,
        "size_bytes": image.total_bytes,
        "deleted_at": iso(image.deleted_at),
        "purge_at": iso(image.purge_after),
        "purge_state": image.purge_state,
    }
