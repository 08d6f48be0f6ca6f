"""Page face of the trash: list, restore (one, some, all), delete forever, empty."""

from __future__ import annotations

from flask import Blueprint, make_response, request
from flask_babel import gettext, ngettext
from flask_login import current_user

from app.auth.login import login_required
from app.core import htmx
from app.core.pagination import DEFAULT_LIMIT, parse_limit
from app.deletion import delete_endpoint
from app.images.actions import (
    DELETE_IMAGE_FOREVER,
    RESTORE_IMAGE,
    delete_image_action,
    restore_image_action,
)
from app.images.views import cards
from app.trash.actions import (
    DELETE_SELECTION_FOREVER,
    EMPTY_TRASH,
    RESTORE_SELECTION,
    RestoreSelection,
    empty_trash_action,
    restore_selection_action,
    selection_to_restore,
)
from app.trash.retention import retention_days_for
from app.trash.service import list_trash, trash_stats

bp = Blueprint("trash_pages", __name__)


def trash_badge_count() -> int:
    """The header's trash badge: how many items the reader has in the trash (0 when
    signed out). Counted when a page or an out-of-band badge is rendered."""
    if not current_user.is_authenticated:
        return 0
    count, _ = trash_stats(current_user.id)
    return count


@bp.app_context_processor
def _trash_badge() -> dict:
    # A function, not a number: only templates that show the badge pay for the count.
    return {"trash_badge_count": trash_badge_count}


def trash_context(cursor=None, limit=DEFAULT_LIMIT) -> dict:
    """The trash section; a later page (``cursor``) is rows only: the totals above the
    list are not counted again for each one (scale review F3)."""
    page = list_trash(current_user.id, limit=limit, cursor=cursor)
    context = {"items": cards(page.items), "next_cursor": page.next_cursor}
    if cursor is None:
        context["count"], context["size"] = trash_stats(current_user.id)
        context["retention_days"] = retention_days_for(current_user.id)
    return context


@bp.get("/trash")
@login_required
def index():
    cursor = request.args.get("cursor") or None
    limit = parse_limit(request.args.get("limit"))  # 50 rows, as the API (then scrolling)
    block = "more" if cursor else "trash"
    return htmx.render_page_or_block("trash/index.html", block,
                                     **trash_context(cursor, limit))


def load_trash_page_choice_for(actor) -> RestoreSelection:
    """The trash page's bulk form: the ticked ``ids``, or ``all=true``. Nothing ticked
    restores nothing (and says so)."""
    return selection_to_restore(actor, request.form.getlist("ids"),
                                all_items=request.form.get("all") == "true")


@bp.post("/trash/restore")
@delete_endpoint(**RESTORE_SELECTION, load=load_trash_page_choice_for,
                 description="Trash page: restore the selected items, or all of them",
                 partial="trash/index.html#trash")
def restore_selected(selection, options):
    outcome, details = restore_selection_action(selection, options)
    html = htmx.render_block_of("trash/index.html", "trash", badge_oob=True,
                                **trash_context())
    if not selection.ids and not selection.all_items:
        html += htmx.toast(gettext("Select the items to restore first."), "info")
    elif outcome.restored:
        html += htmx.toast(ngettext("Restored %(num)d item to the gallery.",
                                    "Restored %(num)d items to the gallery.",
                                    len(outcome.restored)), "success")
    if outcome.skipped:
        html += htmx.toast(ngettext("%(num)d item could not be restored (%(codes)s).",
                                    "%(num)d items could not be restored (%(codes)s).",
                                    len(outcome.skipped), codes=", ".join(
                                        sorted({s["code"] for s in outcome.skipped}))),
                           "error")
    # Its own answer: the trash section with toasts of different kinds (info, error).
    return make_response(html), details


def _with_trash(result: tuple[dict, dict]) -> tuple[dict, dict]:
    """Answer a trash-row action with the whole trash section, so counts and the empty
    state stay true (and the header's badge, out of band)."""
    body, details = result
    body.update(trash_context(), badge_oob=True)
    return body, details


@bp.post("/trash/items/<uuid:image_id>/restore")
@delete_endpoint(**RESTORE_IMAGE, description="Trash page: restore one item",
                 partial="trash/index.html#trash")
def restore_item(image, options):
    body, details = restore_image_action(image, options)
    body["message"] = gettext("“%(name)s” is back in the gallery.", name=image.file_name)
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
