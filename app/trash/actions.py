"""Emptying and restoring the trash as ``@delete_endpoint`` targets, shared by both faces."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from flask import current_app, request
from flask_babel import gettext, ngettext

from app.core.db import utcnow
from app.core.errors import NotFound, StorageFailed
from app.deletion.targets import Snapshot
from app.images.totals import Totals
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


def _chosen_in_trash(actor, raw: list[str]) -> list[uuid.UUID]:
    """The ids a page names: at least one, well formed, one of them in the caller's trash
    (else 404)."""
    chosen = selected_ids(raw)
    if trash_stats(actor.id, only=chosen)[0] == 0:
        raise NotFound(gettext("None of the selected items is in your trash."))
    return chosen


def load_selection_for(actor) -> Snapshot:
    """The items of the caller's trash ticked on the trash page (``ids``, repeated)."""
    selected = _chosen_in_trash(actor, request.args.getlist("ids"))
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
            ngettext("%(num)d item could not be deleted right now: it stays in the trash and "
                     "the next purge run will delete it.",
                     "%(num)d items could not be deleted right now: they stay in the trash and "
                     "the next purge run will delete them.", len(result.errors)),
            deleted=result.deleted,
            bytes_freed=result.bytes_freed, remaining=remaining,
            failed=sorted(result.errors))
    body = {"deleted": result.deleted, "bytes_freed": result.bytes_freed,
            "remaining": remaining}
    if result.deleted:
        body["message"] = ngettext("Deleted %(num)d item for good.",
                                   "Deleted %(num)d items for good.", result.deleted)
    elif trash.members:
        body["message"] = gettext("Nothing was deleted: those items are already being purged.")
    else:
        body["message"] = gettext("The trash was already empty.")
    details = {"deleted": result.deleted, "bytes_freed": result.bytes_freed,
               "remaining": remaining, "errors": len(result.errors)}
    if trash.members:
        details["ids"] = list(trash.members)
    return body, details


@dataclass(frozen=True)
class RestoreSelection:
    """Items of a trash to bring back, as one ``@delete_endpoint`` target: ``ids`` as
    given (what cannot be restored is listed, never fatal), or the whole trash."""

    owner_id: str
    ids: tuple[str, ...]
    all_items: bool
    totals: Totals  # what of it is in the trash and restorable now

    @property
    def id(self) -> str:
        return self.owner_id

    @property
    def etag(self) -> str:
        kind = "restore-all" if self.all_items else "restore"
        return Snapshot(kind, self.owner_id, self.totals.count, self.totals.bytes,
                        self.ids, self.totals.fingerprint).etag


def selection_to_restore(actor, ids: list[str] | None, *, all_items: bool) -> RestoreSelection:
    """``ids`` of the actor's trash (none: nothing), or ``all_items``."""
    ids = () if all_items else tuple(str(i) for i in ids or ())
    only = None if all_items else _well_formed(ids)
    return RestoreSelection(actor.id, ids, all_items, deletable_totals(actor.id, only=only))


def _well_formed(ids) -> list[uuid.UUID]:
    found = []
    for value in ids:
        try:
            found.append(uuid.UUID(value))
        except ValueError:
            continue  # listed as skipped by the restore
    return found


def load_chosen_items_for(actor) -> RestoreSelection:
    """The items a page names (repeated ``ids``, in the query or the form): at least
    one, all well formed, and at least one of them in the caller's trash (else 404)."""
    chosen = _chosen_in_trash(actor, request.values.getlist("ids"))
    return selection_to_restore(actor, [str(i) for i in chosen], all_items=False)


def preview_restore_selection(selection: RestoreSelection, options) -> dict:
    return {"images": selection.totals.count, "objects": 0, "bytes": 0}


def restore_selection_action(selection: RestoreSelection, options) -> tuple[BulkRestore, dict]:
    """Bulk restore, shared by every face: the rows change, uncommitted (the decorator
    commits them with their ``restore`` event); returns what happened and the event's
    details (the ids restored and skipped)."""
    outcome = restore_many(selection.owner_id, list(selection.ids) or None,
                           all_items=selection.all_items, now=utcnow())
    skipped = [{"id": item["id"][:64], "code": item["code"]} for item in outcome.skipped]
    return outcome, {"all": selection.all_items, "restored": len(outcome.restored),
                     "ids": outcome.restored, "skipped": skipped}


# Restoring is reversible: no confirmation (SPEC section 4). Each face adds its ``load``
# (the API reads a JSON body, the trash page its form).
RESTORE_SELECTION = {"resource": "trash", "preview": preview_restore_selection,
                     "allow_permanent": False, "confirm": None, "action": "restore"}


# Emptying the trash reaches the object store: it is ``outside_sql`` (see app.deletion).
EMPTY_TRASH = {"resource": "trash", "load": load_trash_for, "preview": preview_empty_trash,
               "soft": False, "action": "empty_trash", "outside_sql": True}
DELETE_SELECTION_FOREVER = {**EMPTY_TRASH, "load": load_selection_for,
                            "action": "permanent_delete", "params": ("ids",)}
