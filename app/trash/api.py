"""JSON face of the trash: /api/v1/trash."""

from __future__ import annotations

from flask import Blueprint
from flask_babel import gettext
from flask_login import current_user

from app.api import json_body, list_response, page_args
from app.auth.login import login_required
from app.core.errors import BadRequest
from app.deletion import delete_endpoint
from app.images.api import render
from app.trash.actions import (
    EMPTY_TRASH,
    RESTORE_SELECTION,
    RestoreSelection,
    empty_trash_action,
    restore_selection_action,
    selection_to_restore,
)
from app.trash.service import list_trash, trash_stats

bp = Blueprint("trash_api", __name__, url_prefix="/api/v1")

MAX_BULK = 1000


@bp.get("/trash")
@login_required
def index():
    """The caller's trash, most recently deleted first."""
    limit, cursor = page_args()
    return list_response(list_trash(current_user.id, limit=limit, cursor=cursor), render)


def parse_bulk_restore(data: dict) -> tuple[list[str] | None, bool]:
    all_items = data.get("all", False)
    ids = data.get("ids")
    if all_items is not True and all_items is not False:
        raise BadRequest(gettext("all must be true or false."), code="invalid_option")
    if all_items:
        return None, True
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise BadRequest(gettext('Send {"ids": ["…"]} or {"all": true}.'), code="invalid_request")
    if len(ids) > MAX_BULK:
        raise BadRequest(gettext("At most %(num)d ids at a time.", num=MAX_BULK),
                         code="invalid_request")
    return ids, False


def load_restore_request_for(actor) -> RestoreSelection:
    """``{"ids": [...]}`` or ``{"all": true}`` from the JSON body; a bad body is 400."""
    ids, all_items = parse_bulk_restore(json_body())
    return selection_to_restore(actor, ids, all_items=all_items)


@bp.post("/trash/restore")
@delete_endpoint(**RESTORE_SELECTION, load=load_restore_request_for,
                 description="Restore several items of the caller's trash (JSON ids, or all)")
def restore(selection, options):
    """Restore several items; what cannot be restored is listed in skipped."""
    outcome, details = restore_selection_action(selection, options)
    return {"restored": len(outcome.restored), "skipped": outcome.skipped,
            "remaining": trash_stats(selection.owner_id)[0]}, details


@bp.delete("/trash")
@delete_endpoint(**EMPTY_TRASH,
                 description="Empty the caller's trash now (items being purged are skipped)")
def empty(trash, options):
    return empty_trash_action(trash, options)
