"""Admin face of media: ``/admin/media`` (stats, charts, settings form) and
``GET/PATCH /api/v1/admin/media/config``, ``GET /api/v1/admin/media/stats``."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from app.api import json_body
from app.auth.login import admin_required, request_context
from app.core import htmx
from app.core.errors import BadRequest
from app.media.config import (
    config_etag,
    forget_config,
    media_config,
    stored_version,
    update_config,
    validate_changes,
)
from app.media.stats import hourly_chart, media_stats

bp = Blueprint("media_admin", __name__)
api_bp = Blueprint("media_admin_api", __name__, url_prefix="/api/v1")

TEMPLATE = "media/admin.html"
# The settings form: cache and tracking (the protection panel has its own form).
FORM_BOOLS = ("cache_enabled", "tracking_enabled")
FORM_INTS = ("cache_ttl_s", "cache_max_bytes", "browser_max_age_s", "events_retention_days")


@api_bp.get("/admin/media/config")
@admin_required
def get_config():
    """Every media setting (``webhook_secret`` is never returned: ``webhook_secret_set``),
    with the stored version as its ``ETag``."""
    version = stored_version()
    forget_config()  # the answer is the version its ETag names
    response = jsonify(media_config().public())
    response.set_etag(config_etag(version).strip('"'))
    return response


@api_bp.patch("/admin/media/config")
@admin_required
def patch_config():
    """Change any subset of the settings; 400 ``invalid_config`` naming a bad field.
    ``If-Match`` with the config's ``ETag``: 412 when it changed meanwhile."""
    changes = validate_changes(json_body())
    expected = _if_match_version()
    after = update_config(changes, request_context(), expect_version=expected)
    response = jsonify(after.public())
    response.set_etag(config_etag(stored_version()).strip('"'))
    return response


def _if_match_version() -> int | None:
    """The version ``If-Match`` names (strong comparison, RFC 9110); None without the
    header or with ``*``; -1 (never current: 412) for any other tag."""
    if not request.headers.get("If-Match", "").strip() or request.if_match.star_tag:
        return None
    for tag in request.if_match.as_set():  # strong tags only: a weak one never matches
        number = tag.removeprefix("media-config-")
        if number != tag and number.isascii() and number.isdigit():
            return int(number)
    return -1


@api_bp.get("/admin/media/stats")
@admin_required
def stats():
    """Requests, bytes, cache savings, top and heavy images, storage per user, series."""
    return jsonify(media_stats())


def page_context(**extra) -> dict:
    data = media_stats()
    config = media_config()
    return {"stats": data, "config": config,
            "requests_chart": hourly_chart(data["series"], "requests"),
            "bytes_chart": hourly_chart(data["series"], "bytes_served"),
            "form": {**{name: getattr(config, name) for name in FORM_BOOLS + FORM_INTS}},
            "errors": {}, "saved": False, **extra}


@bp.get("/admin/media")
@admin_required
def index():
    return htmx.render_page_or_block(TEMPLATE, "media", **page_context())


def _form_changes(form) -> tuple[dict, dict]:
    """The posted form as a PATCH body, and the raw values to show again on an error."""
    changes, raw = {}, {}
    for name in FORM_BOOLS:
        changes[name] = raw[name] = form.get(name) in ("on", "true", "1")
    for name in FORM_INTS:
        value = (form.get(name) or "").strip()
        raw[name] = value
        changes[name] = int(value) if value.lstrip("-").isdigit() else value
    return changes, raw


@bp.post("/admin/media/settings")
@admin_required
def save_settings():
    """The settings form (htmx): saved, or shown again with the error beside its field."""
    changes, raw = _form_changes(request.form)
    try:
        update_config(validate_changes(changes), request_context())
    except BadRequest as error:
        context = page_context(errors={error.extra.get("field"): error.message})
        context["form"].update(raw)
        return htmx.render_block_of(TEMPLATE, "settings", **context), 400
    return htmx.render_block_of(TEMPLATE, "settings", **page_context(saved=True))
