"""Page face of users: /admin/users (list, search, create, deactivate, reactivate, delete)."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import gettext, lazy_gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Regexp

from app.auth.login import admin_required, request_context
from app.core import htmx
from app.core.db import utcnow
from app.core.errors import BadRequest, Conflict
from app.core.pagination import parse_limit
from app.deletion import delete_endpoint
from app.users.actions import (
    ACTIVATE_USER,
    DEACTIVATE_USER,
    DELETE_USER_FOREVER,
    activate_action,
    deactivate_action,
    load_user_for,
    permanent_delete_action,
)
from app.users.api import search_users
from app.users.deletion import deletion_consequences
from app.users.forms import StrongPassword, choice
from app.users.present import user_to_dict
from app.users.repository import User, get_users
from app.users.service import (
    MIN_PASSWORD,
    allowed_actions,
    check_protection,
    register_user,
    taken_problems,
)

bp = Blueprint("users_pages", __name__)

PAGE_SIZE = 50
FILTERS = (("all", lazy_gettext("All")), ("active", lazy_gettext("Active")),
           ("inactive", lazy_gettext("Inactive")))
TEMPLATE = "users/index.html"


class NewUserForm(FlaskForm):
    username = StringField(lazy_gettext("Username"), validators=[
        DataRequired(), Regexp(r"^[a-z0-9._-]{3,32}$", message=lazy_gettext(
            "3 to 32 characters: lower-case letters, digits, dot, dash or underscore."))])
    email = StringField(lazy_gettext("E-mail"), validators=[
        DataRequired(), Length(max=254),
        Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
               message=lazy_gettext("Enter an e-mail address such as name@example.com."))])
    password = PasswordField(lazy_gettext("Password"), validators=[
        DataRequired(), StrongPassword(lambda form: (form.username.data, form.email.data))])
    role = SelectField(lazy_gettext("Role"), choices=[
        choice("user", lazy_gettext("User")), choice("admin", lazy_gettext("Administrator"))],
        default="user")


def row_for(user: User) -> dict:
    return {"user": user_to_dict(user),
            "allowed": allowed_actions(get_users(), current_user, user)}


def current_row(user: User, changed: dict) -> dict:
    """The row of a user just acted on, as the store has it now. If the user vanished
    meanwhile (deleted by another admin), the row shows what the action answered, with
    no action left to offer, instead of failing a request whose action succeeded."""
    current = get_users().get(user.id)
    if current is None:
        return {"user": changed, "allowed": set()}
    return row_for(current)


def list_context(cursor: str | None = None) -> dict:
    status = request.args.get("status", "all")
    q = request.args.get("q", "")
    limit = parse_limit(request.args.get("limit") or str(PAGE_SIZE))
    users, next_cursor = search_users(status, q, limit, cursor)
    return {"rows": [row_for(u) for u in users], "next_cursor": next_cursor,
            "status": status, "q": q, "filters": FILTERS}


@bp.get("/admin/users")
@admin_required
def index():
    cursor = request.args.get("cursor") or None
    block = "rows" if cursor else "user_list"
    return htmx.render_page_or_block(TEMPLATE, block, form=NewUserForm(formdata=None),
                                     min_password=MIN_PASSWORD,
                                     **list_context(cursor))


@bp.post("/admin/users")
@admin_required
def create():
    form = NewUserForm()
    status = 200
    headers = {}
    toast = ""
    if form.validate_on_submit():
        try:
            user = register_user(get_users(), request_context(), username=form.username.data,
                                 email=form.email.data, password=form.password.data,
                                 role=form.role.data, now=utcnow())
        except BadRequest as error:
            for name, problem in error.extra.get("fields", {}).items():
                getattr(form, name).errors = [problem]
            status = 400
        except Conflict as error:
            problems = error.extra.get("fields") or {
                error.extra.get("field", "username"): error.message}
            for name, problem in problems.items():
                getattr(form, name).errors = [problem]
            status = 409
        else:
            toast = htmx.toast(gettext("Created administrator %(name)s.", name=user.username)
                               if user.role == "admin" else
                               gettext("Created user %(name)s.", name=user.username), "success")
            headers.update(htmx.trigger_header("users-changed"))
            form = NewUserForm(formdata=None)
    else:
        # Every problem at once: a name or address already taken is told with the rest.
        clashes = taken_problems(get_users(), (form.username.data or "").strip(),
                                 (form.email.data or "").strip())
        for name, problem in clashes.items():
            if not getattr(form, name).errors:
                getattr(form, name).errors = [problem]
        status = 400
    if htmx.wants_full_page():
        html = render_template(TEMPLATE, form=form, min_password=MIN_PASSWORD, **list_context())
    else:
        html = htmx.render_block_of(TEMPLATE, "create_form", form=form,
                                    min_password=MIN_PASSWORD) + toast
    return html, status, headers


@bp.get("/admin/users/<user_id:user_id>/confirm/<any(deactivate, delete):action>")
@admin_required
def confirm(user_id, action):
    """The orange (deactivate) or red (delete) modal; refused actions are a toast."""
    user = load_user_for(current_user, user_id)
    check_protection(get_users(), current_user, user, action)
    if user.status == "deleting":
        raise Conflict(gettext("%(name)s is already being deleted.", name=user.username),
                       code="deleting")
    template = "users/_deactivate_modal.html" if action == "deactivate" \
        else "users/_delete_modal.html"
    kept = deletion_consequences(user.id) if action == "deactivate" else None
    return render_template(template, user=user_to_dict(user), kept=kept)


@bp.patch("/admin/users/<user_id:user_id>/deactivate")
@delete_endpoint(**DEACTIVATE_USER, description="Users page: deactivate a user (orange modal)",
                 partial=f"{TEMPLATE}#row_changed")
def deactivate(user, options):
    body, details = deactivate_action(user, options, actor=current_user)
    return {"message": gettext("%(name)s was deactivated: they can no longer sign in.",
                               name=user.username),
            "row": current_row(user, body), "user": body}, details


@bp.patch("/admin/users/<user_id:user_id>/activate")
@delete_endpoint(**ACTIVATE_USER, description="Users page: reactivate a user",
                 partial=f"{TEMPLATE}#row_changed")
def activate(user, options):
    body, details = activate_action(user, options)
    return {"message": gettext("%(name)s was reactivated.", name=user.username),
            "row": current_row(user, body),
            "user": body}, details


@bp.delete("/admin/users/<user_id:user_id>")
@delete_endpoint(
    **DELETE_USER_FOREVER,
    description="Users page: delete a user and their images for good (red modal)",
    partial=f"{TEMPLATE}#row_gone",
    dry_run_partial=f"{TEMPLATE}#consequences",
)
def delete(user, options):
    return permanent_delete_action(user, options, actor=current_user)
