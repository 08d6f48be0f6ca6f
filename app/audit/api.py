"""JSON face of the audit log: /api/v1/audit (admin)."""

from __future__ import annotations

import json

from flask import Blueprint, Response, jsonify, request, stream_with_context
from flask_babel import gettext

from app.api import page_args
from app.audit.query import event_to_dict, iter_events, search_events
from app.auth.login import admin_required
from app.core.errors import BadRequest

bp = Blueprint("audit_api", __name__, url_prefix="/api/v1")


def filters() -> dict:
    return {name: request.args.get(name) or None for name in ("actor", "action", "target")}


@bp.get("/audit")
@admin_required
def index():
    """Audit events, newest first; ?format=jsonl streams every match."""
    output = request.args.get("format", "json")
    if output not in ("json", "jsonl"):
        raise BadRequest(gettext("format must be json or jsonl."), code="invalid_option",
                         option="format")
    if output == "jsonl":
        lines = (json.dumps(event_to_dict(e), sort_keys=True) + "\n"
                 for e in iter_events(**filters()))
        return Response(stream_with_context(lines), mimetype="application/x-ndjson")
    limit, cursor = page_args()
    page = search_events(**filters(), limit=limit, cursor=cursor)
    return jsonify({"items": [event_to_dict(e) for e in page.items],
                    "next_cursor": page.next_cursor})
