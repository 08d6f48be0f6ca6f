"""Page face of the purge: /admin/purge (pending items, next run, history, chart)."""

from __future__ import annotations

from flask import Blueprint

from app import htmx
from app.auth.login import admin_required, request_context
from app.deletion import delete_endpoint
from app.purge.actions import RUN_PURGE, purge_overview, run_purge_now
from app.purge.chart import runs_chart
from app.purge.present import run_to_dict
from app.purge.service import list_runs

bp = Blueprint("purge_pages", __name__)

HISTORY_ROWS = 20
CHART_RUNS = 30


def page_context() -> dict:
    runs, _ = list_runs(limit=max(HISTORY_ROWS, CHART_RUNS))
    charted = [run for run in reversed(runs[:CHART_RUNS]) if run.finished_at is not None]
    return {"overview": purge_overview(),
            "history": [run_to_dict(run) for run in runs[:HISTORY_ROWS]],
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
    body.update(page_context())
    return body, details, outcome
