"""JSON face of the purge: /api/v1/admin/purge (admin)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from app.api import list_response, page_args
from app.auth.login import admin_required, request_context
from app.deletion import delete_endpoint
from app.purge.actions import (
    RUN_PURGE,
    purge_overview,
    run_purge_now,
    runs_page,
)
from app.purge.present import run_to_dict

bp = Blueprint("purge_api", __name__, url_prefix="/api/v1")


@bp.get("/admin/purge")
@admin_required
def status():
    """What is in the trash, what is due, when the purge runs next, and its last run."""
    return jsonify(purge_overview())


@bp.delete("/admin/purge")
@delete_endpoint(**RUN_PURGE,
                 description="Run the purge now, for at most PURGE_TIME_BUDGET_S (409 if one runs)")
def run(queue, options):
    return run_purge_now(request_context())


@bp.get("/admin/purge/runs")
@admin_required
def runs():
    """Purge runs, newest first."""
    limit, cursor = page_args()
    return list_response(runs_page(limit=limit, cursor=cursor), run_to_dict)
