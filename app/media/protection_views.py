"""The protection panel (admin): lists, limits, auto-block settings, active blocks.

``templates/media/_protection.html`` is the panel; the ``/admin/media`` page includes it,
and ``/admin/media/protection`` shows it alone. Each form answers the block of the panel
it changed (htmx); lifting a block is a ``@delete_endpoint`` (orange modal, then
``X-Confirm-Delete: yes``), the page face of ``DELETE /api/v1/admin/media/blocks/<ip>``.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from jinja2_fragments.flask import render_block

from app.auth.login import admin_required, request_context
from app.core import htmx
from app.core.db import utcnow
from app.core.errors import BadRequest
from app.deletion import delete_endpoint
from app.media.blocks_api import LIFT_BLOCK
from app.media.protection import (
    active_blocks,
    block_to_dict,
    describe_network,
    lift_block,
    load_block,
)
from app.media.protection_settings import (
    add_entry,
    current_settings,
    remove_entry,
    update_protection,
    whole_number,
)

bp = Blueprint("media_protection", __name__, url_prefix="/admin/media/protection")
PAGE = "media/protection_page.html"
PANEL = "media/_protection.html"
LISTS = "allow_ips|block_ips|allowed_referrers"


def block_slug(ip: str) -> str:
    return "block-" + ip.replace(":", "-").replace(".", "-").replace("/", "-")


def blocks_for_panel() -> list[dict]:
    return [block_to_dict(b) for b in active_blocks(utcnow())]


def register_template_globals(app) -> None:
    """What the panel reads when the page including it passed nothing (``/admin/media``)."""
    app.add_template_global(current_settings, "protection_settings")
    app.add_template_global(blocks_for_panel, "protection_blocks")
    app.add_template_global(block_slug, "protection_block_slug")


def panel_context() -> dict:
    return {"settings": current_settings(), "blocks": blocks_for_panel()}


@bp.get("")
@admin_required
def index():
    """The panel on a page of its own (the /admin/media page includes the same partial)."""
    return render_template(PAGE, **panel_context())


@bp.get("/cidr")
@admin_required
def cidr_preview():
    """Who a CIDR covers: network, first and last address, how many."""
    text = (request.args.get("cidr") or request.args.get("entry") or "").strip()
    try:
        preview = describe_network(text) if text else None
        error = None
    except (ValueError, BadRequest):
        preview, error = None, _("Not an IP address or CIDR network.")
    return render_block(PANEL, "cidr_preview", preview=preview, error=error)


@bp.post(f"/lists/<any({LISTS.replace('|', ', ')}):key>")
@admin_required
def add_to_list(key):
    settings = add_entry(key, request.form.get("entry", ""), request_context())
    return _list_block(key, settings)


@bp.post(f"/lists/<any({LISTS.replace('|', ', ')}):key>/remove")
@admin_required
def remove_from_list(key):
    settings = remove_entry(key, request.form.get("entry", ""), request_context())
    return _list_block(key, settings)


def _list_block(key, settings):
    html = render_block(PANEL, "address_list", key=key, values=settings[key],
                        settings=settings)
    return html + htmx.toast(_("Saved."), "success")


@bp.post("/settings")
@admin_required
def save_settings():
    """Limits, auto-block threshold and duration, referrer and scope switches, webhook."""
    form = request.form
    changes = {
        "rate_limits": {
            "per_minute": whole_number("rate_limits.per_minute", form.get("per_minute"), 1, 10**9),
            "per_hour": whole_number("rate_limits.per_hour", form.get("per_hour"), 1, 10**9),
            "per_day": whole_number("rate_limits.per_day", form.get("per_day"), 1, 10**9)},
        "auto_block": {
            "threshold_per_image_per_hour": whole_number(
                "auto_block.threshold_per_image_per_hour", form.get("threshold"), 1, 10**9),
            "block_for_s": whole_number("auto_block.block_for_s", form.get("block_for_s"),
                                        0, 10**9)},
        "allow_empty_referrer": form.get("allow_empty_referrer") == "on",
        "block_scope": "site" if form.get("block_scope") == "site" else "media",
        "webhook_url": form.get("webhook_url", "").strip() or None,
    }
    if changes["webhook_url"] and not changes["webhook_url"].startswith(("http://",
                                                                         "https://")):
        raise BadRequest(_("The webhook URL must start with http:// or https://."),
                         code="invalid_config", field="webhook_url")
    if form.get("webhook_secret"):
        changes["webhook_secret"] = form["webhook_secret"]
    settings = update_protection(changes, request_context())
    html = render_block(PANEL, "settings_form", settings=settings)
    return html + htmx.toast(_("Saved."), "success")


@bp.get("/blocks/<ip>/confirm")
@admin_required
def confirm_lift(ip):
    """The orange modal: lifting is reversible (the next abuse blocks again)."""
    target = load_block(ip, utcnow())
    return render_template("media/_lift_modal.html", ip=target.id,
                           slug=block_slug(target.id))


@bp.delete("/blocks/<ip>")
@delete_endpoint(**LIFT_BLOCK, description="Protection panel: lift an automatic IP block",
                 partial=f"{PAGE}#block_lifted")
def lift(target, options):
    result = lift_block(target, utcnow())
    return {"message": _("%(ip)s is no longer blocked.", ip=target.id), **result}, result
