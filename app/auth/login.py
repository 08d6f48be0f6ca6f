"""Who is asking: session cookies and bearer tokens, checked on every request.

Also the CSRF gate: the check runs after authentication, so a request without valid
credentials answers 401 before a missing CSRF token answers 400 (SPEC section 4).
"""

from __future__ import annotations

import functools

from flask import current_app, g, jsonify, request, url_for
from flask_login import current_user

from app import htmx
from app.audit.service import Context
from app.auth.tokens import find_live_token
from app.db import end_read, utcnow
from app.errors import Forbidden, Unauthenticated, wants_json
from app.extensions import csrf, login_manager
from app.users.repository import get_users

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@login_manager.user_loader
def _load_session_user(value: str):
    user_id, _, epoch = value.partition(":")
    user = get_users().get(user_id)
    end_read()  # whatever the lookup read, no transaction stays open behind it
    if user is None or not user.is_active or str(user.auth_epoch) != epoch:
        return None
    g.auth_method = "session"
    return user


@login_manager.request_loader
def _load_token_user(req):
    header = req.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    row = find_live_token(token.strip(), utcnow())
    if row is None:
        return None
    user = get_users().get(row.user_id)
    if user is None or not user.is_active or user.auth_epoch != row.auth_epoch:
        return None
    g.auth_method = "token"
    return user


def unauthenticated_response(message: str = "Sign in to continue.",
                             code: str = "unauthenticated"):
    next_path = request.full_path.rstrip("?") if request.method == "GET" else None
    login_url = url_for("auth.login", next=next_path)
    if wants_json():
        response = jsonify({"error": message, "code": code})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="papelera"'
        return response
    if htmx.is_htmx():
        response = current_app.make_response(("", 401))
        response.headers.update(htmx.redirect_header(url_for("auth.login")))
        return response
    response = current_app.make_response(("", 302))
    response.headers["Location"] = login_url
    return response


login_manager.unauthorized_handler(unauthenticated_response)


def public(view):
    """Mark a view as reachable without credentials (its form still needs CSRF)."""
    view.is_public = True
    return view


def login_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            raise Unauthenticated("Sign in to continue.")
        return view(*args, **kwargs)

    return wrapper


def admin_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            raise Unauthenticated("Sign in to continue.")
        if not current_user.is_admin:
            raise Forbidden("Only administrators may do this.")
        return view(*args, **kwargs)

    return wrapper


def uses_cookie_session() -> bool:
    return current_user.is_authenticated and g.get("auth_method") == "session"


def check_csrf() -> None:
    """Raise CSRFError unless the request carries a valid token (header or form field)."""
    csrf.protect()


def csrf_gate():
    """before_request: CSRF for cookie-authenticated writes and public forms.

    Bearer-token requests need none (no ambient credential to abuse). Decorated delete
    endpoints check it themselves, in their own order, so it is audited.
    """
    if request.method not in UNSAFE_METHODS or request.endpoint is None:
        return None
    view = current_app.view_functions.get(request.endpoint)
    if view is None or getattr(view, "csrf_exempt", False) or getattr(
            view, "delete_endpoint", None):
        return None
    if uses_cookie_session() or (getattr(view, "is_public", False) and not wants_json()):
        check_csrf()
    return None


def request_context() -> Context:
    """The audit context of the current request."""
    user = current_user if current_user.is_authenticated else None
    return Context(
        actor_id=user.id if user else None,
        actor_role=user.role if user else None,
        ip=request.remote_addr,
        user_agent=request.headers.get("User-Agent"),
        request_id=g.get("request_id"),
    )


