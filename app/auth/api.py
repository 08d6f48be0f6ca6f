"""JSON face of authentication: bearer tokens."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request
from flask_babel import gettext

from app.api import json_body
from app.auth.login import public
from app.auth.throttle import checked_login
from app.auth.tokens import find_live_token, issue_token, revoke_token
from app.core.db import utcnow
from app.core.errors import BadRequest, Unauthenticated
from app.deletion import delete_endpoint
from app.deletion.targets import Handle
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


def presented_token() -> str:
    """The bearer token this request signed in with; a request signed in otherwise (a
    session cookie) has none to revoke: 400."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if g.get("auth_method") != "token" or scheme.lower() != "bearer":
        raise BadRequest(gettext("Send the token to revoke as Authorization: Bearer <token>."),
                         code="invalid_request")
    return token.strip()


def load_presented_token(actor) -> Handle:
    row = find_live_token(presented_token(), utcnow())
    if row is None or row.user_id != actor.id:  # it died since this request signed in
        raise Unauthenticated(gettext("Sign in to continue."))
    return Handle("token", str(row.id), state=iso(row.expires_at))


def preview_revocation(token: Handle, options) -> dict:
    return {"images": 0, "objects": 0, "bytes": 0, "tokens": 1}


# A revoked token is dead for good (soft=False); signing in again issues another, so no
# confirmation is asked (SPEC section 5: DELETE /auth/token revokes it).
REVOKE_TOKEN = {"resource": "token", "load": load_presented_token,
                "preview": preview_revocation, "soft": False, "confirm": None,
                "action": "token_revoked"}


@bp.delete("/auth/token")
@delete_endpoint(**REVOKE_TOKEN, description="Revoke the bearer token this request carries")
def delete_token(token, options):
    """Revoke the bearer token this request carries."""
    revoke_token(presented_token(), utcnow())
    return {"message": gettext("The token was revoked.")}, {}
