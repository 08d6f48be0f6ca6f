"""The protection panel (admin): lists, limits, auto-block settings, active blocks.

``templates/media/_protection.html`` is the panel; the ``/admin/media`` page includes it,
and ``/admin/media/protection`` shows it alone. Each form answers the block of the panel
it changed (htmx); lifting a block is a ``@delete_endpoint`` (orange modal, then
``X-Confirm-Delete: yes``), the page face of ``DELETE /api/v1/admin/media/blocks/<ip>``.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, render_template, request
from flask_babel import format_datetime, format_time
from flask_babel import gettext as _
from flask_login import current_user
from jinja2_fragments.flask import render_block
from sqlalchemy import select

from app.auth.login import admin_required, request_context
from app.core import htmx
from app.core.db import end_read, utcnow
from app.core.errors import BadRequest, NotFound
from app.core.extensions import db
from app.deletion import delete_endpoint
from app.images.models import Image, with_trashed
from app.media import guard
from app.media.admin import DURATION_UNITS, Amount
from app.media.blocks_api import LIFT_BLOCK
from app.media.config import media_config
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
)

bp = Blueprint("media_protection", __name__, url_prefix="/admin/media/protection")
PAGE = "media/protection_page.html"
PANEL = "media/_protection.html"
LISTS = "allow_ips|block_ips|allowed_referrers"


def block_slug(ip: str) -> str:
    return "block-" + ip.replace(":", "-").replace(".", "-").replace("/", "-")


def blocks_for_panel() -> list[dict]:
    """The active auto-blocks, each with its photo's name (``file_name``, None when the
    photo is gone) for a thumbnail that links to it."""
    blocks = [block_to_dict(b) for b in active_blocks(utcnow())]
    ids = {uuid.UUID(b["image_id"]) for b in blocks if b["image_id"]}
    names = {}
    if ids:
        rows = db.session.execute(with_trashed(
            select(Image.id, Image.file_name).where(Image.id.in_(ids)))).all()
        end_read()
        names = {str(row.id): row.file_name for row in rows}
    for block in blocks:
        block["file_name"] = names.get(block["image_id"])
    return blocks


def own_address_block() -> dict | None:
    """A block on the signed-in person's own address, for the gallery's banner:
    ``{"ip", "listed", "expires_at", "slug"}``, or None. Their own photos still load
    (``app.media.guard`` spares them), but share links and anyone else behind the same
    address are refused, and they should know why. Costs nothing while unblocked: the
    list and the board are in memory."""
    if not current_user.is_authenticated:
        return None
    client = guard.current_client()
    if guard.listed(client, media_config()):
        return {"ip": client.key, "listed": True, "expires_at": None, "slug": None}
    now = utcnow()
    if not guard.auto_blocked(client, now):
        return None
    try:
        target = load_block(client.key, now)
    except NotFound:  # lifted or expired since this process loaded its board
        return None
    finally:
        end_read()
    ends = [row.expires_at for row in target.rows]
    expires = None if None in ends else max(ends)
    return {"ip": target.id, "listed": False, "expires_at": expires,
            "until": _until(expires, now) if expires else None,
            "slug": block_slug(target.id)}


def _until(moment, now) -> str:
    """"14:05" today, the date too on another day (UTC, as the app shows times)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=now.tzinfo)
    if aware.date() == now.date():
        return format_time(aware, "short")
    return format_datetime(aware, "short")


def register_template_globals(app) -> None:
    """What the panel reads when the page including it passed nothing (``/admin/media``),
    and what the gallery's banner reads."""
    app.add_template_global(current_settings, "protection_settings")
    app.add_template_global(blocks_for_panel, "protection_blocks")
    app.add_template_global(block_slug, "protection_block_slug")
    app.add_template_global(own_address_block, "own_address_block")
    app.add_template_global(BLOCK_FOR.split, "protection_block_for")
    app.add_template_global(DURATION_UNITS, "protection_duration_units")


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
    """Add an entry; a bad one is told once, beside the field, in words (400)."""
    entry = request.form.get("entry", "")
    try:
        settings = add_entry(key, entry, request_context())
    except BadRequest:
        settings = current_settings()
        html = render_block(PANEL, "address_list", key=key, values=settings[key],
                            settings=settings, typed=entry, error=_entry_error(key, entry))
        return html, 400
    return _list_block(key, settings)


def _entry_error(key: str, text: str) -> str:
    text = text.strip()
    if key == "allowed_referrers":
        return _("“%(value)s” is not a domain name (like example.com).", value=text)
    try:
        network = describe_network(text) if text else None
    except (ValueError, BadRequest):
        network = None
    if network is not None and not network["exact"]:
        return _("%(value)s names one address inside a network: type %(network)s for the "
                 "whole network, or the address alone.", value=text,
                 network=network["network"])
    return _("“%(value)s” is not an IP address or network (like 203.0.113.7 or "
             "203.0.113.0/24).", value=text)


@bp.post(f"/lists/<any({LISTS.replace('|', ', ')}):key>/remove")
@admin_required
def remove_from_list(key):
    settings = remove_entry(key, request.form.get("entry", ""), request_context())
    return _list_block(key, settings)


def _list_block(key, settings):
    html = render_block(PANEL, "address_list", key=key, values=settings[key],
                        settings=settings)
    return html + htmx.toast(_("Saved."), "success")


BLOCK_FOR = Amount("block_for_s", DURATION_UNITS, 0, 10**9)
WHOLE_NUMBERS = {"per_minute": 1, "per_hour": 1, "per_day": 1, "threshold": 1}


def _settings_form(form) -> tuple[dict, dict]:
    """The panel's form as a change of the settings, and an error per field in words
    (never a setting's key): ``({}, errors)`` when any field is wrong."""
    errors, numbers = {}, {}
    for name, low in WHOLE_NUMBERS.items():
        text = (form.get(name) or "").strip()
        if text.isascii() and text.isdigit() and low <= int(text) <= 10**9:
            numbers[name] = int(text)
        else:
            errors[name] = _("Enter a whole number from %(low)s to 1,000,000,000.", low=low)
    block_for = BLOCK_FOR.join(form.get("block_for_s", ""), form.get("block_for_s_unit"))
    if block_for is None:
        errors["block_for_s"] = _("Enter a time of 0 or more (0 blocks until an "
                                  "administrator lifts it).")
    webhook_url = form.get("webhook_url", "").strip() or None
    if webhook_url and not webhook_url.startswith(("http://", "https://")):
        errors["webhook_url"] = _("The webhook URL must start with http:// or https://.")
    if errors:
        return {}, errors
    changes = {
        "rate_limits": {key: numbers[key] for key in ("per_minute", "per_hour", "per_day")},
        "auto_block": {"threshold_per_image_per_hour": numbers["threshold"],
                       "block_for_s": block_for},
        "allow_empty_referrer": form.get("allow_empty_referrer") == "on",
        "block_scope": "site" if form.get("block_scope") == "site" else "media",
        "webhook_url": webhook_url,
    }
    if form.get("webhook_secret"):
        changes["webhook_secret"] = form["webhook_secret"]
    return changes, {}


def _typed(form) -> dict:
    """What was typed, shown again beside the errors (the secret never is)."""
    settings = current_settings()
    settings["rate_limits"] = {key: form.get(key, "") for key in ("per_minute", "per_hour",
                                                                  "per_day")}
    settings["auto_block"] = {"threshold_per_image_per_hour": form.get("threshold", ""),
                              "block_for_s": form.get("block_for_s", "")}
    settings["block_for_unit"] = form.get("block_for_s_unit") or DURATION_UNITS[0][0]
    settings["webhook_url"] = form.get("webhook_url", "")
    settings["allow_empty_referrer"] = form.get("allow_empty_referrer") == "on"
    settings["block_scope"] = "site" if form.get("block_scope") == "site" else "media"
    return settings


@bp.post("/settings")
@admin_required
def save_settings():
    """Limits, auto-block threshold and duration, referrer and scope switches, webhook:
    saved, or shown again with each error beside its field, once (no toast)."""
    changes, errors = _settings_form(request.form)
    if not errors:
        try:
            settings = update_protection(changes, request_context())
        except BadRequest as error:  # the validator's own rules (a private webhook host)
            field = error.extra.get("field") or ""
            errors = {"webhook_url" if field.startswith("webhook") else field: error.message}
    if errors:
        html = render_block(PANEL, "settings_form", settings=_typed(request.form),
                            errors=errors)
        return html, 400
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
