"""JSON face of users: /api/v1/users (admin), and a user's export (admin or self)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, stream_with_context
from flask_babel import gettext
from flask_login import current_user

from app.api import json_body, page_args
from app.audit import service as audit
from app.auth.login import admin_required, denied, login_required, request_context
from app.core.db import utcnow
from app.core.errors import BadRequest, NotFound
from app.core.pagination import decode_cursor, encode_cursor
from app.deletion import delete_endpoint
from app.storage import get_storage
from app.users.actions import (
    ACTIVATE_USER,
    DEACTIVATE_USER,
    REMOVE_USER,
    activate_action,
    deactivate_action,
    permanent_delete_action,
)
from app.users.export import export_document, owned_images, stream_zip
from app.users.present import user_to_dict
from app.users.repository import get_users
from app.users.service import register_user

bp = Blueprint("users_api", __name__, url_prefix="/api/v1")

STATUSES = ("active", "inactive", "deleting", "all")


def search_users(status: str, q: str, limit: int, cursor: str | None):
    """One page of users by username: ``(users, next_cursor)``; shared with the admin page."""
    if status not in STATUSES:
        raise BadRequest(gettext("status must be one of %(values)s.", values=", ".join(STATUSES)),
                         code="invalid_option")
    after = decode_cursor(cursor, kinds=(str,))[0] if cursor else None
    users = get_users().search(status=status, q=q.strip(), after=after, limit=limit + 1)
    next_cursor = encode_cursor(users[limit - 1].username.lower()) if len(users) > limit else None
    return users[:limit], next_cursor


@bp.get("/users")
@admin_required
def index():
    """Users, by username; filter with status (active, inactive, all) and q (name or e-mail)."""
    limit, cursor = page_args()
    users, next_cursor = search_users(request.args.get("status", "all"),
                                      request.args.get("q", ""), limit, cursor)
    return jsonify({"items": [user_to_dict(u) for u in users], "next_cursor": next_cursor})


@bp.post("/users")
@admin_required
def create():
    """Create a user (admin). Usernames: [a-z0-9._-]{3,32}, unique ignoring case."""
    data = json_body()
    fields = {name: data.get(name) for name in ("username", "email", "password")}
    if not all(isinstance(v, str) for v in fields.values()):
        raise BadRequest(gettext("username, email and password are required strings."),
                         code="invalid_user")
    role = data.get("role", "user")
    user = register_user(get_users(), request_context(), **fields,
                         role=role if isinstance(role, str) else "", now=utcnow())
    return jsonify(user_to_dict(user)), 201


@bp.delete("/users/<user_id:user_id>")
@delete_endpoint(
    **REMOVE_USER,
    description="Deactivate a user (reversible); permanent=true&force=true deletes the user "
                "with their images, confirmed with their username",
)
def delete(user, options):
    if options.permanent:
        return permanent_delete_action(user, options, actor=current_user)
    return deactivate_action(user, options, actor=current_user)


@bp.patch("/users/<user_id:user_id>/deactivate")
@delete_endpoint(**DEACTIVATE_USER,
                 description="Deactivate a user: no sign-in, sessions and tokens end, data kept")
def deactivate(user, options):
    return deactivate_action(user, options, actor=current_user)


@bp.patch("/users/<user_id:user_id>/activate")
@delete_endpoint(**ACTIVATE_USER, description="Reactivate a deactivated user")
def activate(user, options):
    return activate_action(user, options)


@bp.get("/users/<user_id:user_id>/export")
@login_required
def export(user_id):
    """The user's profile and image metadata as JSON; include=files streams a zip."""
    if user_id != current_user.id and not current_user.is_admin:
        raise denied(NotFound(gettext("No such user.")), action="export", target_type="user",
                     target_id=user_id)
    include = request.args.get("include", "")
    if include not in ("", "files"):
        raise BadRequest(gettext("include may only be files."), code="invalid_option",
                         option="include")
    user = get_users().get(user_id)
    if user is None:
        raise NotFound(gettext("No such user."))
    images = owned_images(user.id)
    document = export_document(user, images, utcnow())
    audit.record("export", "ok", request_context(), target_type="user", target_id=user.id,
                 details={"images": len(images), "files": include == "files"})
    name = f"papelera-{user.username}-{utcnow():%Y%m%d}"
    if include != "files":
        response = jsonify(document)
        response.headers["Content-Disposition"] = f'attachment; filename="{name}.json"'
        return response
    chunks = (chunk for chunk in stream_zip(document, images, get_storage()) if chunk)
    return Response(stream_with_context(chunks), mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}.zip"'})
