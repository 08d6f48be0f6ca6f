"""JSON face of users: /api/v1/users (admin)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from app.api import json_body, page_args
from app.audit import service as audit
from app.auth.login import admin_required, request_context
from app.db import utcnow
from app.errors import BadRequest
from app.pagination import encode_cursor
from app.users.present import user_to_dict
from app.users.repository import get_users
from app.users.service import create_user

bp = Blueprint("users_api", __name__, url_prefix="/api/v1")

STATUSES = ("active", "inactive", "deleting", "all")


@bp.get("/users")
@admin_required
def index():
    """Users, by username; filter with status and q (name or e-mail)."""
    status = request.args.get("status", "all")
    if status not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}.", code="invalid_option")
    limit, cursor = page_args()
    after = None
    if cursor:
        from app.pagination import decode_cursor

        (after,) = decode_cursor(cursor, kinds=(str,))
    users = get_users().search(status=status, q=request.args.get("q", "").strip(), after=after,
                               limit=limit + 1)
    next_cursor = encode_cursor(users[limit - 1].username.lower()) if len(users) > limit else None
    return jsonify({"items": [user_to_dict(u) for u in users[:limit]],
                    "next_cursor": next_cursor})


@bp.post("/users")
@admin_required
def create():
    """Create a user (admin)."""
    data = json_body()
    fields = {name: data.get(name) for name in ("username", "email", "password")}
    if not all(isinstance(v, str) for v in fields.values()):
        raise BadRequest("username, email and password are required strings.",
                         code="invalid_user")
    role = data.get("role", "user")
    user = create_user(get_users(), **fields, role=role if isinstance(role, str) else "",
                       now=utcnow())
    audit.record("user_created", "ok", request_context(), target_type="user", target_id=user.id,
                 details={"role": user.role})
    return jsonify(user_to_dict(user)), 201
