"""Page face of the purge: /admin/purge (pending items, next run, history, chart)."""

from __future__ import annotations

from babel.dates import get_day_names
from flask import Blueprint
from flask_babel import get_locale, gettext

from app.auth.login import admin_required, request_context
from app.core import htmx
from app.deletion import delete_endpoint
from app.purge.actions import RUN_PURGE, purge_overview, run_purge_now
from app.purge.chart import runs_chart
from app.purge.present import history_rows, run_to_dict
from app.purge.service import list_runs
from app.users.repository import get_users

bp = Blueprint("purge_pages", __name__)

HISTORY_ROWS = 20
CHART_RUNS = 30


def describe_schedule(cron: str) -> str | None:
    """The common cron shapes in words ("Every day at 02:30"); None for the others."""
    fields = cron.split()
    if len(fields) != 5 or not all(f.isdigit() or f == "*" for f in fields):
        return None
    minute, hour, day, month, weekday = fields
    if minute == "*" or day != "*" or month != "*":
        return None
    if hour == "*":
        if weekday != "*":
            return None
        return gettext("Every hour at minute %(minute)s", minute=int(minute))
    time = f"{int(hour):02d}:{int(minute):02d}"
    if weekday == "*":
        return gettext("Every day at %(time)s", time=time)
    if int(weekday) <= 7:
        # cron counts from Sunday (0 or 7), Babel from Monday (0).
        day = get_day_names("wide", locale=get_locale())[(int(weekday) - 1) % 7]
        return gettext("Every %(day)s at %(time)s", day=day, time=time)
    return None


def owner_names(items) -> dict:
    """Usernames of the owners on the page (one query), None for a removed account."""
    owners = {item["owner_id"] for item in items}
    names = get_users().names(owners)
    return {owner: names.get(owner) for owner in owners}


def page_context() -> dict:
    runs, _ = list_runs(limit=max(HISTORY_ROWS, CHART_RUNS))
    charted = [run for run in reversed(runs[:CHART_RUNS]) if run.finished_at is not None]
    overview = purge_overview()
    return {"overview": overview,
            "schedule": describe_schedule(overview["cron"]),
            "owners": owner_names(overview["items"]),
            "history": history_rows([run_to_dict(run) for run in runs[:HISTORY_ROWS]]),
            "chart": runs_chart(charted)}


@bp.get("/admin/purge")
@admin_required
def index():
    return htmx.render_page_or_block("purge/index.html", "purge", **page_context())


@bp.delete("/admin/purge")
@delete_endpoint(**RUN_PURGE,
                 description="Purge page: run the purge now, for at most PURGE_TIME_BUDGET_S",
                 partial="purge/index.html#purge")
def run_now(queue, options):
    body, details, outcome = run_purge_now(request_context())
    body.update(page_context(), badge_oob=True)
    return body, details, outcome
