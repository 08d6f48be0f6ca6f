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


IDLE_STATUSES = ("finished", "skipped")


def did_nothing(run: dict) -> bool:
    """A run that purged, freed and failed nothing: a schedule with nothing due, a "Run now"
    on an empty trash, a run skipped because another was going."""
    return (run["status"] in IDLE_STATUSES and not run["deleted"] and not run["bytes_freed"]
            and not run["errors"])


def history_rows(runs: list[dict]) -> list[dict]:
    """The run history as the page shows it, newest first: each run that did something is
    a row (``{"run": …}``); each stretch of runs that did nothing is one row
    ``{"idle": n, "newest": started_at, "oldest": started_at}``."""
    rows: list[dict] = []
    for run in runs:
        if not did_nothing(run):
            rows.append({"run": run})
        elif rows and "idle" in rows[-1]:
            rows[-1]["idle"] += 1
            rows[-1]["oldest"] = run["started_at"]
        else:
            rows.append({"idle": 1, "newest": run["started_at"], "oldest": run["started_at"]})
    return rows
