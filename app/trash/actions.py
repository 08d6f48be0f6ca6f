"""Emptying the trash as a ``@delete_endpoint`` target, shared by both faces."""

from __future__ import annotations

import time
import uuid

from flask import current_app, request
from flask_babel import ngettext

from app.audit import service as audit
from app.auth.login import request_context
from app.db import utcnow
from app.deletion.targets import Snapshot
from app.errors import NotFound, StorageFailed
from app.storage import get_storage
from app.trash.service import (
    BulkRestore,
    deletable_totals,
    empty_trash,
    restore_many,
    selected_ids,
    trash_stats,
)


def load_trash_for(actor) -> Snapshot:
    """The caller's trash as a whole (what emptying it would take: items being purged
    are skipped, as ``empty_trash`` skips them)."""
    totals = deletable_totals(actor.id)
    return Snapshot("trash", actor.id, totals.count, totals.bytes,
                    fingerprint=totals.fingerprint)


def load_selection_for(actor) -> Snapshot:
    """The items of the caller's trash ticked on the trash page (``ids``, repeated)."""
    selected = selected_ids(request.args.getlist("ids"))
    if trash_stats(actor.id, only=selected)[0] == 0:
        raise NotFound("None of the selected items is in your trash.")
    totals = deletable_totals(actor.id, only=selected)
    return Snapshot("selection", actor.id, totals.count, totals.bytes,
                    tuple(str(i) for i in selected), fingerprint=totals.fingerprint)


def preview_empty_trash(trash: Snapshot, options) -> dict:
    """Originals and thumbnails, counted as ``bytes_freed`` counts them."""
    return {"images": trash.count, "objects": trash.count * 2, "bytes": trash.bytes}


def empty_trash_action(trash: Snapshot, options) -> tuple[dict, dict]:
    """Delete the trash, or the selection of it the target holds, for good."""
    config = current_app.config
    deadline = time.monotonic() + config["PURGE_TIME_BUDGET_S"]
    only = [uuid.UUID(i) for i in trash.members] if trash.members else None
    result, remaining = empty_trash(trash.id, get_storage(), now=utcnow(),
                                    batch_size=config["PURGE_BATCH_SIZE"], deadline=deadline,
                                    clock=time.monotonic, only=only)
    if result.errors:
        raise StorageFailed(
            f"{len(result.errors)} item(s) could not be deleted right now: they stay in the "
            "trash and the next purge run will delete them.", deleted=result.deleted,
            bytes_freed=result.bytes_freed, remaining=remaining,
            failed=sorted(result.errors))
    body = {"deleted": result.deleted, "bytes_freed": result.bytes_freed,
            "remaining": remaining}
    if result.deleted:
        body["message"] = ngettext("Deleted %(num)d item for good.",
                                   "Deleted %(num)d items for good.", result.deleted)
    elif trash.members:
        body["message"] = "Nothing was deleted: those items are already being purged."
    else:
        body["message"] = "The trash was already empty."
    details = {"deleted": result.deleted, "bytes_freed": result.bytes_freed,
               "remaining": remaining, "errors": len(result.errors)}
    if trash.members:
        details["ids"] = list(trash.members)
    return body, details


def restore_selection(actor, ids: list[str] | None, *, all_items: bool) -> BulkRestore:
    """Bulk restore, shared by both faces: the rows and one ``restore`` event, with the
    ids restored and skipped, commit together; if the event cannot be written nothing
    is restored (503)."""
    outcome = restore_many(actor.id, ids, all_items=all_items, now=utcnow())
    skipped = [{"id": item["id"][:64], "code": item["code"]} for item in outcome.skipped]
    audit.commit_change("restore", "ok", request_context(), target_type="trash",
                        target_id=actor.id,
                        details={"all": all_items, "restored": len(outcome.restored),
                                 "ids": outcome.restored, "skipped": skipped})
    return outcome


# Emptying the trash reaches the object store: it is ``external`` (see app.deletion).
EMPTY_TRASH = {"resource": "trash", "load": load_trash_for, "preview": preview_empty_trash,
               "soft": False, "action": "empty_trash", "external": True}
DELETE_SELECTION_FOREVER = {**EMPTY_TRASH, "load": load_selection_for,
                            "action": "permanent_delete", "params": ("ids",)}
