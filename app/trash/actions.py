"""Emptying the trash as a ``@delete_endpoint`` target, shared by both faces."""

from __future__ import annotations

import time

from flask import current_app

from app.db import utcnow
from app.deletion.targets import Snapshot
from app.storage import get_storage
from app.trash.service import empty_trash, trash_stats


def load_trash_for(actor) -> Snapshot:
    """The caller's trash as a whole."""
    count, size = trash_stats(actor.id)
    return Snapshot("trash", actor.id, count, size)


def preview_empty_trash(trash: Snapshot, options) -> dict:
    # Thumbnails are counted among the objects; their bytes are small and counted on delete.
    return {"images": trash.count, "objects": trash.count * 2, "bytes": trash.bytes}


def empty_trash_action(trash: Snapshot, options) -> tuple[dict, dict]:
    config = current_app.config
    deadline = time.monotonic() + config["PURGE_TIME_BUDGET_S"]
    result, remaining = empty_trash(trash.id, get_storage(), now=utcnow(),
                                    batch_size=config["PURGE_BATCH_SIZE"], deadline=deadline,
                                    clock=time.monotonic)
    body = {"deleted": result.deleted, "bytes_freed": result.bytes_freed,
            "remaining": remaining}
    if result.deleted:
        body["message"] = f"Deleted {result.deleted} item(s) for good."
    else:
        body["message"] = "The trash was already empty."
    details = {"deleted": result.deleted, "bytes_freed": result.bytes_freed,
               "remaining": remaining, "errors": len(result.errors)}
    return body, details


EMPTY_TRASH = {"resource": "trash", "load": load_trash_for, "preview": preview_empty_trash,
               "soft": False, "action": "empty_trash"}
