"""Who is asking: session cookies and bearer tokens, checked on every request.

Also the CSRF gate: the check runs after authentication, so a request without valid
credentials answers 401 before a missing CSRF token answers 400 (SPEC section 4).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import replace
from datetime import timedelta

from flask import current_app, flash, g, jsonify, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext
from flask_login import current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError

from app.audit import service as audit
from app.audit.service import Context
from app.auth import sessions
from app.auth.tokens import digest as digest_token
from app.auth.tokens import find_live_token
from app.core import access_cache as media_access
from app.core import htmx
from app.core.db import end_read, utcnow
from app.core.errors import CROSS_SITE, DomainError, Forbidden, Unauthenticated, wants_json
from app.core.extensions import csrf, db, login_manager
from app.users.repository import get_users

log = logging.getLogger(__name__)

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# The key of the server-side session's random id in Flask's signed cookie.
SESSION_ID_KEY = "sid"


def session_lifetimes() -> sessions.Lifetimes:
    config = current_app.config
    return sessions.Lifetimes(idle=timedelta(minutes=config["SESSION_IDLE_MINUTES"]),
                              absolute=timedelta(minutes=config["SESSION_ABSOLUTE_MINUTES"]))


def _load_session_user(value: str):
    """The cookie names a user and epoch; the server-side row must still be live."""
    user_id, _, epoch = value.partition(":")
    session_id = session.get(SESSION_ID_KEY)
    if not session_id or not isinstance(session_id, str):
        return None
    now, lifetimes = utcnow(), session_lifetimes()
    key = ("session", sessions.digest(session_id))
    found = media_access.remember(key, lambda: _live_session(session_id, now, lifetimes))
    if found is not None and lifetimes.ends_at(found[0].created_at,
                                               found[0].last_seen_at) <= now:
        # Lapsed as this process last saw it; another process may have seen it since.
        found = _live_session(session_id, now, lifetimes)
    row, user = found if found is not None else (None, None)
    if row is None or row.user_id != user_id or str(user.auth_epoch) != epoch:
        return None
    if now - row.last_seen_at >= sessions.TOUCH_EVERY:
        sessions.touch(row, now=now, lifetimes=lifetimes)
        end_read()
        row = replace(row, last_seen_at=now)
        media_access.put(key, (row, user))
    g.auth_method = "session"
    g.user_session = row
    return user


def _live_session(session_id: str, now, lifetimes):
    """(the session, its user) while both are live and agree on the epoch; else None."""
    row = sessions.find_live_session(session_id, now=now, lifetimes=lifetimes)
    user = get_users().get(row.user_id) if row is not None else None
    end_read()  # no transaction stays open behind an auth lookup
    if user is None or not user.is_active or row.auth_epoch != user.auth_epoch:
        if user is not None and user.status == "inactive":
            # Said on the sign-in page instead of "Your session has ended".
            g.session_end_reason = "deactivated"
        return None
    return sessions.snapshot(row), user


def sign_in(user, *, fresh_cookie: bool = True) -> None:
    """A new server-side session for ``user``, its random id in the cookie.

    At sign-in the cookie starts empty (no fixation); after a password change it keeps
    its other keys (the page's CSRF token) and only the session id changes.
    """
    if fresh_cookie:
        sessions.end_session_by_cookie(session.get(SESSION_ID_KEY))  # signing in again
        session.clear()
    session_id, row = sessions.start_session(
        user, now=utcnow(), lifetimes=session_lifetimes(), ip=request.remote_addr,
        user_agent=request.headers.get("User-Agent"))
    session[SESSION_ID_KEY] = session_id
    login_user(user)
    g.auth_method = "session"
    g.user_session = row


def sign_out() -> None:
    """End this browser's session on the server too, then forget the cookie."""
    sessions.end_session_by_cookie(session.get(SESSION_ID_KEY))
    logout_user()
    session.clear()


def current_session_id():
    """The public id of the session this request signed in with (None for tokens)."""
    row = g.get("user_session") if uses_cookie_session() else None
    return row.id if row is not None else None


def _load_token_user(req):
    header = req.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    token, now = token.strip(), utcnow()
    found = media_access.remember(("token", digest_token(token)),
                                  lambda: _token_user(token, now))
    if found is None or found[1] <= now:
        return None
    g.auth_method = "token"
    return found[0]


def may_be_signed_in(req) -> bool:
    """Whether ``req`` carries anything the loaders above could sign in with: the session
    cookie (the user loader needs its id; a remember cookie alone signs nobody in) or an
    ``Authorization`` header. Without either it is anonymous, known without loading an
    empty session through Flask-Login (``app.media.guard`` asks on every image request)."""
    return ("Authorization" in req.headers
            or current_app._get_current_object().config["SESSION_COOKIE_NAME"] in req.cookies)


def _token_user(token: str, now):
    """(the user, when the token expires) while both are live; else None."""
    row = find_live_token(token, now)
    if row is None:
        return None
    user = get_users().get(row.user_id)
    if user is None or not user.is_active or user.auth_epoch != row.auth_epoch:
        return None
    return user, row.expires_at


def unauthenticated_response(message: str | None = None, code: str = "unauthenticated"):
    next_path = request.full_path.rstrip("?") if request.method == "GET" else None
    login_url = url_for("auth.login", next=next_path)
    if wants_json():
        response = jsonify({"error": message or gettext("Sign in to continue."), "code": code})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="papelera"'
        return response
    if session.get(SESSION_ID_KEY):  # a session this browser had has ended: say so
        session.pop(SESSION_ID_KEY)
        if g.get("session_end_reason") == "deactivated":
            flash(gettext("This account has been deactivated. Ask an administrator "
                          "to reactivate it."), "error")
        else:
            flash(gettext("Your session has ended. Sign in again to continue."), "info")
    if htmx.is_htmx():
        response = current_app.make_response(("", 401))
        response.headers.update(htmx.redirect_header(url_for("auth.login")))
        return response
    response = current_app.make_response(("", 302))
    response.headers["Location"] = login_url
    return response




def public(view):
    """Mark a view as reachable without credentials (its form still needs CSRF)."""
    view.is_public = True
    return view


def login_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            raise Unauthenticated(gettext("Sign in to continue."))
        return view(*args, **kwargs)

    return wrapper


def admin_required(view):
    """Admins only; a signed-in non-admin is refused (403) and the attempt is audited."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            raise Unauthenticated(gettext("Sign in to continue."))
        if not current_user.is_admin:
            raise denied(Forbidden(gettext("Only administrators may do this.")),
                         action="admin_access",
                         target_type="endpoint", target_id=request.endpoint)
        return view(*args, **kwargs)

    return wrapper


def denied(error: DomainError, *, action: str, target_type: str | None = None,
           target_id=None) -> DomainError:
    """Audit a signed-in caller's refused attempt (outcome ``denied``); return ``error``
    to raise. Routes outside ``@delete_endpoint`` refuse through here, so the log tells
    who tried what. Callers without valid credentials never reach it (SPEC section 3).
    If the log cannot be written the refusal still stands."""
    try:
        audit.record(action, "denied", request_context(), target_type=target_type,
                     target_id=target_id,
                     details={"code": error.code, "method": request.method,
                              "path": request.path[:256]})
    except Exception:
        db.session.rollback()
        log.exception("could not audit a denied %s", action)
    return error


def uses_cookie_session() -> bool:
    return current_user.is_authenticated and g.get("auth_method") == "session"


# What a browser says of a write's origin (Fetch Metadata). Only the app's own pages
# may write with its cookie; "none" (typed or bookmarked) never comes with a POST.
_FOREIGN_FETCH_SITES = frozenset({"cross-site", "same-site"})


def check_csrf() -> None:
    """Raise CSRFError unless the request carries a valid token (header or form field)
    and, when the browser says where it comes from, comes from this site's own pages
    (defence in depth: a leaked token alone is not enough)."""
    if request.headers.get("Sec-Fetch-Site", "").lower() in _FOREIGN_FETCH_SITES:
        raise CSRFError(CROSS_SITE)
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


class SessionCookie(SecureCookieSessionInterface):
    """Flask's signed session cookie, with its signer built once per key set.

    Flask builds an ``itsdangerous`` serializer for every request, cookie or none (which
    also serialises ``{}`` to learn that it writes text): 5 % of a cached image's time.
    The keys are read on every request, so a changed ``SECRET_KEY`` (or its fallbacks)
    still signs and checks with the new set at once."""

    def __init__(self) -> None:
        self._signer = (None, None)

    def get_signing_serializer(self, app):
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached_keys, signer = self._signer
        if cached_keys != keys:
            signer = super().get_signing_serializer(app)
            self._signer = (keys, signer)
        return signer

    def save_session(self, app, session, response) -> None:
        """What Flask does for a session that is empty and was not emptied (no cookie to
        set or delete; ``Vary: Cookie`` if it was read), without first reading the seven
        cookie settings it would not use (3 % of a cached image's time)."""
        if not session and not session.modified:
            if session.accessed:
                response.vary.add("Cookie")
            return
        super().save_session(app, session, response)


def init_app(app) -> None:
    """Flask-Login asks these: the session cookie's user, a bearer token's user, and
    what to answer a request that needs either."""
    app.session_interface = SessionCookie()
    login_manager.user_loader(_load_session_user)
    login_manager.request_loader(_load_token_user)
    login_manager.unauthorized_handler(unauthenticated_response)
