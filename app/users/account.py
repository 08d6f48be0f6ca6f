"""Page face of a user's own account: /account (password, sessions, trash retention, export)."""

from __future__ import annotations

import uuid

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext, lazy_gettext, ngettext
from flask_login import current_user, login_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from app.audit import service as audit
from app.auth import sessions
from app.auth.login import (
    current_session_id,
    login_required,
    request_context,
    session_lifetimes,
    sign_in,
    sign_out,
)
from app.auth.throttle import check_current_password
from app.core import htmx
from app.core.db import utcnow
from app.core.errors import BadRequest, Conflict, NotFound
from app.deletion import delete_endpoint
from app.deletion.targets import Handle, Snapshot
from app.users.forms import StrongPassword
from app.users.repository import get_users
from app.users.service import (
    MIN_PASSWORD,
    change_password,
    check_current,
    set_trash_retention,
)

bp = Blueprint("account_pages", __name__)

TEMPLATE = "account/index.html"
DEFAULT = "default"
CUSTOM = "custom"
RETENTION_PRESETS = (7, 30, 90)


class PasswordForm(FlaskForm):
    current_password = PasswordField(lazy_gettext("Current password"),
                                     validators=[DataRequired(), Length(max=1024)])
    new_password = PasswordField(lazy_gettext("New password"), validators=[
        DataRequired(), StrongPassword(lambda form: (current_user.username, current_user.email))])
    repeat_password = PasswordField(lazy_gettext("Repeat the new password"), validators=[
        DataRequired(), EqualTo("new_password",
                                message=lazy_gettext("The two passwords differ."))])


class RetentionForm(FlaskForm):
    """A few choices and a custom number of days (never a 92-option list).

    ``days`` is "default", a whole number of days (0 deletes at once), or "custom" with
    ``custom_days``; any number up to ``TRASH_RETENTION_MAX_DAYS`` is accepted either way.
    """

    days = StringField(lazy_gettext("Keep deleted photos in the trash for"))
    custom_days = StringField(lazy_gettext("Number of days"))

    def chosen_days(self, max_days: int) -> int | None:
        """The days chosen (None: the server default); a field error and ValueError if bad."""
        value = (self.days.data or "").strip()
        if value == DEFAULT:
            return None
        field, lowest = self.days, 0
        if value == CUSTOM:  # "Delete at once" has its own choice, with its warning
            value, field, lowest = (self.custom_days.data or "").strip(), self.custom_days, 1
        if not value.isdigit() or not lowest <= int(value) <= max_days:
            field.errors = [gettext("Choose a whole number of days from 1 to %(max)d.",
                                    max=max_days)]
            raise ValueError(value)
        return int(value)


def retention_presets(config) -> list[int]:
    top = config["TRASH_RETENTION_MAX_DAYS"]
    return [n for n in RETENTION_PRESETS if n <= top]


def retention_form(formdata=None) -> RetentionForm:
    form = RetentionForm(formdata=formdata)
    if formdata is None:
        days = current_user.trash_retention_days
        presets = retention_presets(current_app.config)
        if days is None:
            form.days.data = DEFAULT
        elif days == 0 or days in presets:
            form.days.data = str(days)
        else:
            form.days.data, form.custom_days.data = CUSTOM, str(days)
    return form


def page_context(**forms) -> dict:
    config = current_app.config
    return {"password_form": forms.get("password_form") or PasswordForm(formdata=None),
            "retention_form": forms.get("retention_form") or retention_form(),
            "retention_presets": retention_presets(config),
            "retention_default": config["TRASH_RETENTION_DAYS"],
            "retention_max": config["TRASH_RETENTION_MAX_DAYS"],
            "min_password": MIN_PASSWORD,
            "sessions": sessions.sessions_of(current_user, now=utcnow(),
                                             lifetimes=session_lifetimes()),
            "this_session": current_session_id(),
            "user": current_user}


def answer(block: str, status: int = 200, toast: str = "", **forms):
    if htmx.wants_full_page():
        return render_template(TEMPLATE, **page_context(**forms)), status
    return htmx.render_block_of(TEMPLATE, block, **page_context(**forms)) + toast, status


@bp.get("/account")
@login_required
def index():
    return render_template(TEMPLATE, **page_context())


@bp.post("/account/password")
@login_required
def password():
    form = PasswordForm()
    me = current_user._get_current_object()
    valid = form.validate_on_submit()
    # Every problem at once: a wrong current password is told next to the new ones' problems.
    # Limited like a sign-in: a stolen session cannot guess the password at leisure.
    if not valid and (form.current_password.errors or not form.current_password.data):
        return answer("password", 400, password_form=form)

    def change():
        if not valid:  # only the current password is left to check
            return check_current(me, form.current_password.data)
        return change_password(get_users(), me, current=form.current_password.data,
                               new=form.new_password.data)

    try:
        user = check_current_password(me, change)
    except (BadRequest, Conflict) as error:
        if error.code == "wrong_password":
            audit.record("password_change", "denied", request_context(), target_type="user",
                         target_id=me.id, details={"code": error.code})
        problems = error.extra.get("fields") or {"current_password": error.message}
        for name, problem in problems.items():
            getattr(form, name).errors = [problem]
        return answer("password", error.status, password_form=form)
    if not valid:
        return answer("password", 400, password_form=form)
    # The epoch moved: every other session and token is dead (their rows are swept);
    # this browser gets a new session id and keeps its CSRF token.
    sign_in(user, fresh_cookie=False)
    audit.record("password_change", "ok", request_context(), target_type="user",
                 target_id=user.id)
    toast = htmx.toast(gettext("Your password was changed. Other sessions and API tokens "
                               "were signed out."), "success")
    return answer("password", 200, toast, password_form=PasswordForm(formdata=None))


@bp.post("/account/retention")
@login_required
def retention():
    form = retention_form(request.form)
    max_days = current_app.config["TRASH_RETENTION_MAX_DAYS"]
    if not form.validate_on_submit():
        return answer("retention", 400, retention_form=form)
    try:
        days = form.chosen_days(max_days)
    except ValueError:
        return answer("retention", 400, retention_form=form)
    user = set_trash_retention(get_users(), current_user._get_current_object(), days,
                               max_days=max_days)
    audit.record("trash_retention_changed", "ok", request_context(), target_type="user",
                 target_id=user.id, details={"days": days})
    login_user(user)  # the same epoch: this only refreshes the loaded user
    if days is None:
        message = gettext("Deleted photos now stay in the trash for the server default "
                          "(%(num)d days). Items already in the trash keep their dates.",
                          num=current_app.config["TRASH_RETENTION_DAYS"])
    elif days == 0:
        message = gettext("Photos you delete now skip the waiting time: the next purge "
                          "deletes them for good, and they cannot be restored after that.")
    else:
        message = ngettext("Deleted photos now stay in the trash for %(num)d day. Items "
                           "already in the trash keep their dates.",
                           "Deleted photos now stay in the trash for %(num)d days. Items "
                           "already in the trash keep their dates.", days)
    toast = htmx.toast(message, "warning" if days == 0 else "success")
    return answer("retention", 200, toast, retention_form=retention_form())


# -- sessions ----------------------------------------------------------------------------

# Ending sessions deletes rows of SQL only and loses nothing a new sign-in does not bring
# back: no confirmation (the account page's buttons send none). An ended session is
# ended for good (soft=False).
SESSIONS_PARTIAL = f"{TEMPLATE}#sessions"


def _live_sessions(actor) -> list:
    return sessions.sessions_of(actor, now=utcnow(), lifetimes=session_lifetimes())


def load_session_for(actor, session_id: str) -> Handle:
    """One of the actor's live sessions by its public id; anyone else's is 404."""
    try:
        row_id = uuid.UUID(session_id)
    except ValueError:
        raise NotFound(gettext("No such session.")) from None
    for row in _live_sessions(actor):
        if row.id == row_id:
            return Handle("session", str(row.id), state=row.created_at.isoformat())
    raise NotFound(gettext("No such session."))


def load_other_sessions_for(actor) -> Snapshot:
    """Every live session of the actor but this one."""
    this = current_session_id()
    return _sessions_snapshot(actor, [row for row in _live_sessions(actor) if row.id != this])


def load_all_sessions_for(actor) -> Snapshot:
    return _sessions_snapshot(actor, _live_sessions(actor))


def _sessions_snapshot(actor, rows) -> Snapshot:
    return Snapshot("sessions", actor.id, len(rows), 0, tuple(sorted(str(r.id) for r in rows)))


def preview_sign_out(target, options) -> dict:
    count = target.count if isinstance(target, Snapshot) else 1
    return {"images": 0, "objects": 0, "bytes": 0, "sessions": count}


END_SESSION = {"resource": "session", "load": load_session_for, "preview": preview_sign_out,
               "soft": False, "confirm": None, "action": "session_ended",
               "partial": SESSIONS_PARTIAL}
END_OTHER_SESSIONS = {**END_SESSION, "resource": "sessions", "action": "sessions_ended",
                      "load": load_other_sessions_for}
END_ALL_SESSIONS = {**END_OTHER_SESSIONS, "load": load_all_sessions_for}


def _signed_out_answer():
    """This browser's session ended: send it to the sign-in page (htmx or not)."""
    login = url_for("auth.login")
    flash(gettext("You have been signed out."), "info")
    if htmx.is_htmx():
        return make_response(("", 200, htmx.redirect_header(login)))
    return redirect(login, code=303)


def _sessions_answer(message: str):
    return make_response(answer("sessions", 200, htmx.toast(message, "success")))


@bp.post("/account/sessions/<session_id>/sign-out")
@delete_endpoint(**END_SESSION, description="Account page: sign out one of your sessions")
def end_session(session: Handle, options):
    row_id = uuid.UUID(session.id)
    if row_id == current_session_id():
        sign_out()
        return _signed_out_answer(), {"this_session": True}
    if not sessions.end_session(current_user.id, row_id):
        raise NotFound(gettext("No such session."))
    return _sessions_answer(gettext("That session was signed out.")), {"this_session": False}


@bp.post("/account/sessions/sign-out-others")
@delete_endpoint(**END_OTHER_SESSIONS,
                 description="Account page: sign out every other session")
def end_other_sessions(others: Snapshot, options):
    ended = sessions.end_sessions_of(current_user.id, keep=current_session_id())
    message = ngettext("Signed out %(num)d other session.", "Signed out %(num)d other "
                       "sessions.", ended)
    return _sessions_answer(message), {"ended": ended, "scope": "others"}


@bp.post("/account/sessions/sign-out-all")
@delete_endpoint(**END_ALL_SESSIONS,
                 description="Account page: sign out everywhere, this browser too")
def end_all_sessions(every: Snapshot, options):
    ended = sessions.end_sessions_of(current_user.id)
    sign_out()
    return _signed_out_answer(), {"ended": ended, "scope": "all"}
