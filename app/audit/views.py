"""Admin page of the audit log."""

from __future__ import annotations

from flask import Blueprint, request

from app import htmx
from app.audit.query import event_to_dict, search_events
from app.auth.login import admin_required
from app.pagination import parse_limit

bp = Blueprint("audit_pages", __name__)


@bp.get("/admin/audit")
@admin_required
def index():
    filters = {name: request.args.get(name, "").strip() or None
               for name in ("actor", "action", "target")}
    cursor = request.args.get("cursor") or None
    page = search_events(**filters, limit=parse_limit(request.args.get("limit") or "100"),
                         cursor=cursor)
    block = "more" if cursor else "events"
    return htmx.render_page_or_block("audit/index.html", block,
                                     events=[event_to_dict(e) for e in page.items],
                                     next_cursor=page.next_cursor, filters=filters)
