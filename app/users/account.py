"""Page face of a user's own account: /account (password, trash retention, export)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user, login_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField
from wtforms.validators import DataRequired, EqualTo, Length

from app import htmx
from app.audit import service as audit
from app.auth.login import login_required, request_context
from app.errors import BadRequest, Conflict
from app.users.forms import choice
from app.users.repository import get_users
from app.users.service import MIN_PASSWORD, change_password, set_trash_retention

bp = Blueprint("account_pages", __name__)

TEMPLATE = "account/index.html"
DEFAULT = "default"


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired(),
                                                                     Length(max=1024)])
    new_password = PasswordField("New password", validators=[
        DataRequired(), Length(min=MIN_PASSWORD, max=1024,
                               message=f"At least {MIN_PASSWORD} characters.")])
    repeat_password = PasswordField("Repeat the new password", validators=[
        DataRequired(), EqualTo("new_password", message="The two passwords differ.")])


class RetentionForm(FlaskForm):
    days = SelectField("Keep deleted images in the trash for", choices=[])


def retention_form(formdata=None) -> RetentionForm:
    config = current_app.config
    form = RetentionForm(formdata=formdata)
    form.days.choices = [choice(DEFAULT,
                                f"Server default ({config['TRASH_RETENTION_DAYS']} days)")]
    form.days.choices += [choice(str(n), "Delete at once" if n == 0 else f"{n} day{'s' * (n != 1)}")
                          for n in range(0, config["TRASH_RETENTION_MAX_DAYS"] + 1)]
    if formdata is None:
        days = current_user.trash_retention_days
        form.days.data = DEFAULT if days is None else str(days)
    return form


def page_context(**forms) -> dict:
    return {"password_form": forms.get("password_form") or PasswordForm(formdata=None),
            "retention_form": forms.get("retention_form") or retention_form(),
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
    if not form.validate_on_submit():
        return answer("password", 400, password_form=form)
    try:
        user = change_password(get_users(), current_user._get_current_object(),
                               current=form.current_password.data, new=form.new_password.data)
    except (BadRequest, Conflict) as error:
        problems = error.extra.get("fields") or {"current_password": error.message}
        for name, problem in problems.items():
            getattr(form, name).errors = [problem]
        return answer("password", error.status, password_form=form)
    # The epoch moved: every other session and token is dead; this one signs in again.
    login_user(user)
    audit.record("password_changed", "ok", request_context(), target_type="user",
                 target_id=user.id)
    toast = htmx.toast("Your password was changed. Other sessions and API tokens were "
                       "signed out.", "success")
    return answer("password", 200, toast, password_form=PasswordForm(formdata=None))


@bp.post("/account/retention")
@login_required
def retention():
    form = retention_form(request.form)
    if not form.validate_on_submit():
        return answer("retention", 400, retention_form=form)
    days = None if form.days.data == DEFAULT else int(form.days.data)
    user = set_trash_retention(get_users(), current_user._get_current_object(), days,
                               max_days=current_app.config["TRASH_RETENTION_MAX_DAYS"])
    audit.record("trash_retention_changed", "ok", request_context(), target_type="user",
                 target_id=user.id, details={"days": days})
    login_user(user)  # the same epoch: this only refreshes the loaded user
    label = "the server default" if days is None else f"{days} day(s)"
    toast = htmx.toast(f"Deleted images now stay in the trash for {label}. Items already "
                       "in the trash keep their dates.", "success")
    return answer("retention", 200, toast, retention_form=retention_form())
