"""Admin face of media: ``/admin/media`` (stats, charts, settings form) and
``GET/PATCH /api/v1/admin/media/config``, ``GET /api/v1/admin/media/stats``."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from flask import Blueprint, jsonify, request
from flask_babel import gettext, ngettext

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

MINUTE, HOUR, DAY = 60, 3600, 86400
KB, MB = 1024, 1024 * 1024
DURATION_UNITS = (("minutes", MINUTE), ("hours", HOUR), ("days", DAY))
SIZE_UNITS = (("KB", KB), ("MB", MB))


@dataclass(frozen=True)
class Amount:
    """A setting stored in seconds or bytes, typed by people as a number and a unit.

    The form posts ``<name>`` and ``<name>_unit``; without the unit the number is in
    the stored unit (what scripts posting seconds and bytes did before)."""

    name: str
    units: tuple[tuple[str, int], ...]
    low: int
    high: int

    def split(self, stored: int) -> tuple[str, str]:
        """The stored value as (number, unit): the largest unit it is a whole number of,
        else the smallest unit, with decimals."""
        for unit, size in reversed(self.units):
            if stored and stored % size == 0:
                return str(stored // size), unit
        unit, size = self.units[0]
        return format(round(stored / size, 3), "g"), unit

    def join(self, text: str, unit: str | None) -> int | None:
        """The stored value of what was typed, or None when it is not one in range."""
        size = dict(self.units).get(unit, 1) if unit else 1
        try:
            number = Decimal((text or "").strip().replace(",", "."))
        except InvalidOperation:
            return None
        if not number.is_finite():
            return None
        value = int((number * size).to_integral_value())
        return value if self.low <= value <= self.high else None


def duration_words(seconds: int) -> str:
    """"7 days", "1 hour", "30 seconds": a bound as people read it."""
    if seconds and seconds % DAY == 0:
        return ngettext("%(num)d day", "%(num)d days", seconds // DAY)
    if seconds and seconds % HOUR == 0:
        return ngettext("%(num)d hour", "%(num)d hours", seconds // HOUR)
    if seconds and seconds % MINUTE == 0:
        return ngettext("%(num)d minute", "%(num)d minutes", seconds // MINUTE)
    return ngettext("%(num)d second", "%(num)d seconds", seconds)


AMOUNTS = {
    "cache_ttl_s": Amount("cache_ttl_s", DURATION_UNITS, 1, 7 * DAY),
    "cache_max_bytes": Amount("cache_max_bytes", SIZE_UNITS, 0, 100 * MB),
    "browser_max_age_s": Amount("browser_max_age_s", DURATION_UNITS, 0, 365 * DAY),
    "events_retention_days": Amount("events_retention_days", (("days", 1),), 1, 365),
}


def range_error(name: str) -> str:
    """The inline error of one field, in words (never the setting's key)."""
    amount = AMOUNTS[name]
    if name == "cache_max_bytes":
        return gettext("Enter a size from 0 to 100 MB.")
    if name == "events_retention_days":
        return gettext("Enter a whole number of days from 1 to 365.")
    return gettext("Enter a time from %(low)s to %(high)s.",
                   low=duration_words(amount.low), high=duration_words(amount.high))


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
    form = {name: getattr(config, name) for name in FORM_BOOLS}
    for name, amount in AMOUNTS.items():
        form[name], form[f"{name}_unit"] = amount.split(getattr(config, name))
    return {"stats": data, "config": config,
            "requests_chart": hourly_chart(data["series"], "requests"),
            "bytes_chart": hourly_chart(data["series"], "bytes_served"),
            "form": form, "amounts": AMOUNTS,
            "errors": {}, "saved": False, **extra}


@bp.get("/admin/media")
@admin_required
def index():
    return htmx.render_page_or_block(TEMPLATE, "media", **page_context())


def _form_changes(form) -> tuple[dict, dict, dict]:
    """The posted form as a PATCH body, the typed values to show again, and an error
    per field that is not a value in range."""
    changes, raw, errors = {}, {}, {}
    for name in FORM_BOOLS:
        changes[name] = raw[name] = form.get(name) in ("on", "true", "1")
    for name, amount in AMOUNTS.items():
        text, unit = form.get(name) or "", form.get(f"{name}_unit")
        raw[name], raw[f"{name}_unit"] = text.strip(), unit or amount.units[0][0]
        value = amount.join(text, unit)
        if value is None:
            errors[name] = range_error(name)
        else:
            changes[name] = value
    return changes, raw, errors


@bp.post("/admin/media/settings")
@admin_required
def save_settings():
    """The settings form (htmx): saved, or shown again with the error beside its field,
    once (no toast)."""
    changes, raw, errors = _form_changes(request.form)
    if not errors:
        try:
            update_config(validate_changes(changes), request_context())
        except BadRequest as error:  # a rule of the validator the form does not know
            errors = {error.extra.get("field"): gettext("This value is not allowed.")}
    if errors:
        context = page_context(errors=errors)
        context["form"].update(raw)
        return htmx.render_block_of(TEMPLATE, "settings", **context), 400
    return htmx.render_block_of(TEMPLATE, "settings", **page_context(saved=True))
