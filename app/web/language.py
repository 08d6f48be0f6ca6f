"""The language switcher: POST /account/language, for visitors and signed-in users.

A signed-in user's choice is saved on their user document (so it follows them to any
browser); everyone's choice is also kept in a cookie, so the sign-in page already
speaks it. Public (the sign-in page has the switcher) but CSRF-checked like any form.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, request
from flask_babel import gettext
from flask_login import current_user, login_user

from app.auth.login import public
from app.auth.views import _safe_next
from app.core import htmx
from app.core.errors import BadRequest
from app.core.i18n import COOKIE, LANGUAGES
from app.users.repository import get_users

bp = Blueprint("language", __name__)

COOKIE_MAX_AGE = 365 * 24 * 3600


@bp.post("/account/language")
@public
def choose():
    language = request.form.get("language", "")
    if language not in LANGUAGES:
        raise BadRequest(gettext("Choose English or Spanish."), code="invalid_language")
    if current_user.is_authenticated:
        user = get_users().set_language(current_user.id, language)
        if user is not None:
            login_user(user)  # the same epoch: this only refreshes the loaded user
    target = _safe_next(request.form.get("next"))
    if htmx.is_htmx():
        response = current_app.make_response(("", 204))
        response.headers.update(htmx.redirect_header(target))
    else:
        response = redirect(target, code=303)
    response.set_cookie(COOKIE, language, max_age=COOKIE_MAX_AGE, httponly=True,
                        samesite="Lax", secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response
