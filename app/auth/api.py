"""JSON face of authentication: bearer tokens."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request
from flask_babel import gettext
from flask_login import current_user

from app.api import json_body
from app.audit import service as audit
from app.auth.login import login_required, public, request_context
from app.auth.throttle import checked_login
from app.auth.tokens import issue_token, revoke_token
from app.db import utcnow
from app.errors import BadRequest, Unauthenticated
from app.images.present import iso
from app.users.repository import get_users
from app.users.service import LoginRefused

bp = Blueprint("auth_api", __name__, url_prefix="/api/v1")


@bp.post("/auth/token")
@public
def create_token():
    """Trade a username and password for a bearer token."""
    data = json_body()
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise BadRequest(gettext('Send {"username": "…", "password": "…"}.'),
                         code="invalid_request")
    try:
        user = checked_login(get_users(), username, password)
    except LoginRefused as refused:
        raise Unauthenticated(refused.message, code=refused.code) from None
    token, row = issue_token(user, ttl_hours=current_app.config["TOKEN_TTL_HOURS"], now=utcnow())
    return jsonify({"token": token, "expires_at": iso(row.expires_at)}), 201


create_token.csrf_exempt = True  # no ambient credential is used: the password is the proof


@bp.delete("/auth/token")
@login_required
def delete_token():
    """Revoke the bearer token this request carries."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if g.get("auth_method") != "token" or scheme.lower() != "bearer":
        raise BadRequest(gettext("Send the token to revoke as Authorization: Bearer <token>."),
                         code="invalid_request")
    revoke_token(token.strip(), utcnow())
    audit.record("token_revoked", "ok", request_context(), target_type="user",
                 target_id=current_user.id)
    return jsonify({"message": gettext("The token was revoked.")})
