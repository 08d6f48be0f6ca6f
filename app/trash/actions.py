"""Emptying the trash as a ``@delete_endpoint`` target, shared by both faces."""

from __future__ import annotations

import time
import uuid

from flask import current_app, request

from app.db import utcnow
from app.deletion.targets import Snapshot
from app.errors import NotFound
from app.storage import get_storage
from app.trash.service import empty_trash, selected_ids, trash_stats


def load_trash_for(actor) -> Snapshot:
    """The caller's trash as a whole."""
    count, size = trash_stats(actor.id)
    return Snapshot("trash", actor.id, count, size)


def load_selection_for(actor) -> Snapshot:
    """The items of the caller's trash ticked on the trash page (``ids``, repeated)."""
    selected = selected_ids(request.args.getlist("ids"))
    count, size = trash_stats(actor.id, only=selected)
    if count == 0:
        raise NotFound("None of the selected items is in your trash.")
    return Snapshot("selection", actor.id, count, size, tuple(str(i) for i in selected))


def preview_empty_trash(trash: Snapshot, options) -> dict:
    # Thumbnails are counted among the objects; their bytes are small and counted on delete.
    return {"images": trash.count, "objects": trash.count * 2, "bytes": trash.bytes}


def empty_trash_action(trash: Snapshot, options) -> tuple[dict, dict]:
    """Delete the trash, or the selection of it the target holds, for good."""
    config = current_app.config
    deadline = time.monotonic() + config["PURGE_TIME_BUDGET_S"]
    only = [uuid.UUID(i) for i in trash.members] if trash.members else None
    result, remaining = empty_trash(trash.id, get_storage(), now=utcnow(),
                                    batch_size=config["PURGE_BATCH_SIZE"], deadline=deadline,
                                    clock=time.monotonic, only=only)
    body = {"deleted": result.deleted, "bytes_freed": result.bytes_freed,
            "remaining": remaining}
    if result.deleted:
        body["message"] = f"Deleted {result.deleted} item(s) for good."
    elif trash.members:
        body["message"] = "Nothing was deleted: those items are already being purged."
    else:
        body["message"] = "The trash was already empty."
    details = {"deleted": result.deleted, "bytes_freed": result.bytes_freed,
               "remaining": remaining, "errors": len(result.errors)}
    if trash.members:
        details["ids"] = list(trash.members)
    return body, details


EMPTY_TRASH = {"resource": "trash", "load": load_trash_for, "preview": preview_empty_trash,
               "soft": False, "action": "empty_trash"}
DELETE_SELECTION_FOREVER = {**EMPTY_TRASH, "load": load_selection_for,
                            "action": "permanent_delete", "params": ("ids",)}
