"""Page face of authentication: /login, /logout."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext, ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from app.auth.login import public, sign_in, sign_out
from app.auth.throttle import checked_login
from app.core.errors import TooManyRequests
from app.users.repository import get_users
from app.users.service import LoginRefused

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    username = StringField(lazy_gettext("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(lazy_gettext("Password"),
                             validators=[DataRequired(), Length(max=1024)])


# Browsers read "\" as "/" and drop tabs and line breaks from URLs, so "/\evil.example" and
# "/\t/evil.example" lead off-site; CR/LF would also be refused by Werkzeug as a header (500).
_UNSAFE_IN_NEXT = re.compile(r"[\x00-\x1f\x7f\\]")


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never an open redirect, never a header Werkzeug refuses."""
    if target and target.startswith("/") and not target.startswith("//") \
            and not _UNSAFE_IN_NEXT.search(target) and not urlsplit(target).netloc:
        return target
    return url_for("images_pages.gallery")


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated and request.method == "GET":
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    error = None
    status = 200
    headers = {}
    wait = None
    if form.validate_on_submit():
        try:
            user = checked_login(get_users(), form.username.data, form.password.data)
        except LoginRefused as refused:
            error, status = refused.message, 401
        except TooManyRequests as refused:
            # The form stays, with how long to wait: no dead-end page.
            wait = refused.extra["retry_after"]
            error, status, headers = lockout_message(wait), 429, refused.headers
        else:
            sign_in(user)  # a fresh cookie and server-side session: no fixation
            return redirect(_safe_next(request.args.get("next")), code=303)
    elif request.method == "POST":
        error, status = gettext("Enter your username and password."), 400
    return render_template("auth/login.html", form=form, error=error, wait=wait), status, headers


def lockout_message(seconds: int) -> str:
    if seconds < 120:
        return ngettext("Too many failed attempts. Try again in %(num)d second.",
                        "Too many failed attempts. Try again in %(num)d seconds.", seconds)
    minutes = -(-seconds // 60)
    return ngettext("Too many failed attempts. Try again in %(num)d minute.",
                    "Too many failed attempts. Try again in %(num)d minutes.", minutes)


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    """Only POST signs out (CSRF-checked); GET (and HEAD) ask first, so a link cannot.

    Signing out deletes the server-side session, so a copy of the cookie is dead too.
    """
    if request.method != "POST":
        if current_user.is_authenticated:
            return render_template("auth/logout.html")
        return redirect(url_for("auth.login"))
    sign_out()
    flash(gettext("You have been signed out."), "info")
    return redirect(url_for("auth.login"), code=303)
