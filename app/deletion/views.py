"""Admin page listing every ``@delete_endpoint`` with its options."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from app.auth.login import admin_required
from app.deletion.registry import delete_endpoints

bp = Blueprint("deletion_pages", __name__)


@bp.get("/admin/endpoints")
@admin_required
def endpoints():
    return render_template("deletion/endpoints.html", endpoints=delete_endpoints(current_app))
