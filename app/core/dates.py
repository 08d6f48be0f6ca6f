"""Dates as people read them: "3 hours ago" next to the exact time, in the page's language.

Templates get two filters, both taking a datetime or an ISO-8601 string (what the
presenters hand out): ``ago`` ("3 hours ago", via ``flask_babel.format_timedelta``) and
``when`` (the date and time in the locale's medium format, UTC). ``_when.html`` puts both
into one ``<time>`` element.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask_babel import format_datetime, format_timedelta


def _parse(value) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def ago(value, now: datetime | None = None) -> str:
    moment = _parse(value)
    if moment is None:
        return ""
    now = now or datetime.now(UTC)
    return format_timedelta(moment - now, add_direction=True, threshold=1)


def when(value) -> str:
    moment = _parse(value)
    return format_datetime(moment, "medium") if moment else ""


def iso(value) -> str:
    moment = _parse(value)
    return moment.isoformat() if moment else ""


def init_app(app) -> None:
    app.add_template_filter(ago, "ago")
    app.add_template_filter(when, "when")
    app.add_template_filter(iso, "isotime")
