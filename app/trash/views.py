"""Page face of the trash: list, bulk restore, empty."""

from __future__ import annotations

from flask import Blueprint, request
from flask_babel import ngettext
from flask_login import current_user

from app import htmx
from app.auth.login import login_required
from app.deletion import delete_endpoint
from app.images.actions import (
    DELETE_IMAGE_FOREVER,
    RESTORE_IMAGE,
    delete_image_action,
    restore_image_action,
)
from app.images.views import cards
from app.pagination import parse_limit
from app.trash.actions import (
    DELETE_SELECTION_FOREVER,
    EMPTY_TRASH,
    empty_trash_action,
    restore_selection,
)
from app.trash.service import list_trash, trash_stats

bp = Blueprint("trash_pages", __name__)


def trash_context(cursor=None, limit=100) -> dict:
    page = list_trash(current_user.id, limit=limit, cursor=cursor)
    count, size = trash_stats(current_user.id)
    return {"items": cards(page.items), "next_cursor": page.next_cursor, "count": count,
            "size": size}


@bp.get("/trash")
@login_required
def index():
    cursor = request.args.get("cursor") or None
    limit = parse_limit(request.args.get("limit") or "100")
    block = "more" if cursor else "trash"
    return htmx.render_page_or_block("trash/index.html", block,
                                     **trash_context(cursor, limit))


@bp.post("/trash/restore")
@login_required
def restore_selected():
    ids = request.form.getlist("ids")
    all_items = request.form.get("all") == "true"
    restored, skipped = [], []
    if ids or all_items:
        outcome = restore_selection(current_user, ids, all_items=all_items)
        restored, skipped = outcome.restored, outcome.skipped
    html = htmx.render_block_of("trash/index.html", "trash", **trash_context())
    if not ids and not all_items:
        html += htmx.toast("Select the items to restore first.", "info")
    elif restored:
        html += htmx.toast(ngettext("Restored %(num)d item to the gallery.",
                                    "Restored %(num)d items to the gallery.", len(restored)),
                           "success")
    if skipped:
        html += htmx.toast(f"{len(skipped)} item(s) could not be restored "
                           f"({', '.join(sorted({s['code'] for s in skipped}))}).", "error")
    return html


def _with_trash(result: tuple[dict, dict]) -> tuple[dict, dict]:
    """Answer a trash-row action with the whole trash section, so counts and the empty
    state stay true."""
    body, details = result
    body.update(trash_context())
    return body, details


@bp.post("/trash/items/<uuid:image_id>/restore")
@delete_endpoint(**RESTORE_IMAGE, description="Trash page: restore one item",
                 partial="trash/index.html#trash")
def restore_item(image, options):
    body, details = restore_image_action(image, options)
    body["message"] = f"“{image.file_name}” is back in the gallery."
    return _with_trash((body, details))


@bp.delete("/trash/items/<uuid:image_id>")
@delete_endpoint(**DELETE_IMAGE_FOREVER, description="Trash page: delete one item forever",
                 partial="trash/index.html#trash")
def delete_item(image, options):
    return _with_trash(delete_image_action(image, options, actor=current_user))


@bp.delete("/trash/selected")
@delete_endpoint(**DELETE_SELECTION_FOREVER,
                 description="Trash page: delete the selected items forever",
                 partial="trash/index.html#trash")
def delete_selected(selection, options):
    return _with_trash(empty_trash_action(selection, options))


@bp.delete("/trash")
@delete_endpoint(**EMPTY_TRASH, description="Trash page: empty the trash now",
                 partial="trash/index.html#trash")
def empty(trash, options):
    return _with_trash(empty_trash_action(trash, options))
