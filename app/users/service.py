"""User rules: creation, authentication, the founder, protection, (de)activation, account.

Plain arguments in (a repository, ids, a clock), domain errors out; no request here.
Permanent deletion is a saga of its own in ``app.users.deletion``.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from flask_babel import gettext, lazy_gettext

from app.audit import service as audit
from app.auth.passwords import MIN_LENGTH, hash_password, password_problem, verify_password
from app.core.errors import BadRequest, Conflict, Forbidden, NotFound
from app.users.repository import User, UserRepository

USERNAME_RE = re.compile(r"^[a-z0-9._-]{3,32}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = MIN_LENGTH  # the rule itself is app.auth.passwords.password_problem
ROLES = ("admin", "user")


def validate_new_user(username: str, email: str, password: str, role: str) -> dict[str, str]:
    """Field -> problem, empty when the input is acceptable."""
    problems = {}
    if not USERNAME_RE.fullmatch(username or ""):
        problems["username"] = gettext("3 to 32 characters: lower-case letters, digits, "
                                       "dot, dash or underscore.")
    if not EMAIL_RE.fullmatch(email or "") or len(email) > 254:
        problems["email"] = gettext("A valid e-mail address.")
    weak = password_problem(password, username=username or "", email=email or "")
    if weak:
        problems["password"] = weak
    if role not in ROLES:
        problems["role"] = gettext("Either admin or user.")
    return problems


def create_user(users: UserRepository, *, username: str, email: str, password: str,
                role: str = "user", now: datetime, is_founder: bool = False) -> User:
    username = (username or "").strip()
    email = (email or "").strip()
    problems = validate_new_user(username, email, password, role)
    if problems:
        raise BadRequest(gettext("The user could not be created: %(problems)s", problems="; ".join(
            f"{k}: {v}" for k, v in problems.items())), code="invalid_user", fields=problems)
    try:
        return users.insert(username=username, email=email,
                            password_hash=hash_password(password), role=role,
                            is_founder=is_founder, now=now)
    except Conflict as error:
        if error.code != "duplicate":
            raise
        raise duplicate(users.taken(username, email) or [error.extra.get("field", "username")]
                        ) from None


def taken_problems(users: UserRepository, username: str, email: str) -> dict[str, str]:
    """Field -> "already taken", for each of a new user's username and e-mail in use."""
    return {field: _TAKEN[field]() for field in users.taken(username, email)}


_TAKEN = {"username": lambda: gettext("That username is already taken."),
          "email": lambda: gettext("That e-mail address is already taken.")}


def duplicate(fields: list[str]) -> Conflict:
    """409 ``duplicate`` naming every taken field (``field`` is the first, as before)."""
    sentence = (gettext("That username and that e-mail address are already taken.")
                if len(fields) > 1 else _TAKEN[fields[0]]())
    return Conflict(sentence, code="duplicate", field=fields[0],
                    fields={field: _TAKEN[field]() for field in fields})


def register_user(users: UserRepository, ctx, *, username: str, email: str, password: str,
                  role: str = "user", now: datetime) -> User:
    """An account made by someone (an admin on a page or the API, an operator's CLI):
    created, then audited as ``user_created``."""
    user = create_user(users, username=username, email=email, password=password, role=role,
                       now=now)
    audit.record("user_created", "ok", ctx, target_type="user", target_id=user.id,
                 details={"role": user.role})
    return user


class LoginRefused(Exception):
    """Why a sign-in failed; ``user_id`` names the account when the name exists."""

    def __init__(self, message: str, code: str, user_id: str | None = None):
        super().__init__(message)
        self.message, self.code, self.user_id = message, code, user_id


def authenticate(users: UserRepository, username: str, password: str) -> User:
    """The user whose credentials these are, or LoginRefused saying why."""
    user = users.by_username((username or "").strip()) if username else None
    if not verify_password(user.password_hash if user else None, password or ""):
        raise LoginRefused(gettext("Wrong username or password."), "invalid_credentials",
                           user.id if user else None)
    if user.status == "inactive":
        raise LoginRefused(gettext("This account has been deactivated. Ask an administrator "
                                   "to reactivate it."), "account_inactive", user.id)
    if user.status != "active":
        raise LoginRefused(gettext("This account is being deleted."), "account_deleting",
                           user.id)
    return user


def bootstrap_founder(users: UserRepository, *, username: str, password: str | None,
                      email: str | None, now: datetime) -> tuple[User, str | None] | None:
    """Create the first admin (the founder) when no admin exists.

    Returns the user and the generated password (None when one was given), or None
    when an admin already exists.
    """
    if users.has_admin():
        return None
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(12)
    user = create_user(users, username=username, email=email or f"{username}@localhost.localdomain",
                       password=password, role="admin", now=now, is_founder=True)
    return user, generated


# -- protection rules (SPEC section 5, checked in this order) ---------------------------

ACTIONS = ("deactivate", "delete", "activate")

# Whole sentences per action, so each language words them its own way.
_SELF_ACTION = {"deactivate": lazy_gettext("You cannot deactivate your own account."),
                "delete": lazy_gettext("You cannot delete your own account."),
                "activate": lazy_gettext("You cannot reactivate your own account.")}
_FOUNDER = {"deactivate": lazy_gettext("The founder's account cannot be deactivated."),
            "delete": lazy_gettext("The founder's account cannot be deleted.")}
_ADMIN = {"deactivate": lazy_gettext("Only the founder may deactivate another administrator."),
          "delete": lazy_gettext("Only the founder may delete another administrator."),
          "activate": lazy_gettext("Only the founder may reactivate another administrator.")}
_LAST_ADMIN = {
    "deactivate": lazy_gettext("%(name)s is the last active administrator and cannot be "
                               "deactivated."),
    "delete": lazy_gettext("%(name)s is the last active administrator and cannot be deleted."),
}


def check_protection(users: UserRepository, actor: User, target: User, action: str) -> None:
    """Raise Forbidden/Conflict when ``actor`` may not ``action`` ``target``.

    self_action 403 → founder_protected 403 → admin_protected 403 → last_admin 409.
    Reactivation only follows the rule about admins: there is nothing to protect a
    founder or the last admin from when they come back.
    """
    if action not in ACTIONS:
        raise ValueError(action)
    if actor.id == target.id:
        raise Forbidden(str(_SELF_ACTION[action]), code="self_action")
    if action != "activate" and target.is_founder:
        raise Forbidden(str(_FOUNDER[action]), code="founder_protected")
    if target.role == "admin" and not actor.is_founder:
        raise Forbidden(str(_ADMIN[action]), code="admin_protected")
    if action != "activate":
        ensure_not_last_admin(users, target, action)


def ensure_not_last_admin(users: UserRepository, target: User,
                          action: str = "deactivate") -> None:
    """The invariant: at least one active admin remains after any change to ``target``."""
    if target.role == "admin" and target.status == "active" and users.count_active_admins() <= 1:
        raise Conflict(_LAST_ADMIN[action] % {"name": target.username}, code="last_admin")


def allowed_actions(users: UserRepository, actor: User, target: User) -> set[str]:
    """What the admin page may offer for ``target`` (the backend checks again anyway)."""
    allowed = set()
    for action in ACTIONS:
        try:
            check_protection(users, actor, target, action)
        except (Forbidden, Conflict):
            continue
        allowed.add(action)
    if target.status != "active":
        allowed.discard("deactivate")
    if target.status != "inactive":
        allowed.discard("activate")
    if target.status == "deleting":
        allowed.discard("delete")
    return allowed


# -- deactivation and reactivation -------------------------------------------------------

def _deleting(user: User) -> Conflict:
    return Conflict(gettext("%(name)s is being deleted; this cannot be changed any more.",
                            name=user.username), code="deleting")


def deactivate_user(users: UserRepository, target: User, *, actor_id: str,
                    now: datetime) -> User:
    """``status=inactive``, who and when, and a new ``auth_epoch`` (sessions and tokens die).

    Deactivating an inactive user changes nothing and answers the user as it is. The write
    only applies to the version ``target`` was loaded with (the one the protection rules and
    ``If-Match`` saw): a user changed meanwhile is a 409. The last-admin rule holds the
    store across check, write and re-check (exact on the embedded store); elsewhere the
    re-check after the write undoes the loser of two racing changes, epoch included.
    """
    with users.exclusive():
        ensure_not_last_admin(users, target)
        updated = users.update(target.id, {"status": "active", "version": target.version},
                               {"status": "inactive", "deactivated_at": now,
                                "deactivated_by": actor_id}, bump_epoch=True)
        if updated is None:
            return _unchanged(users, target, "inactive")
        if updated.role == "admin" and users.count_active_admins() == 0:
            users.update(target.id, {"status": "inactive", "version": updated.version},
                         {"status": "active", "deactivated_at": target.deactivated_at,
                          "deactivated_by": target.deactivated_by,
                          "auth_epoch": target.auth_epoch})
            raise Conflict(_LAST_ADMIN["deactivate"] % {"name": target.username},
                           code="last_admin")
    return updated


def activate_user(users: UserRepository, target: User) -> User:
    """Back to ``active``. The epoch does not move back: old sessions and tokens stay dead."""
    updated = users.update(target.id, {"status": "inactive", "version": target.version},
                           {"status": "active", "deactivated_at": None,
                            "deactivated_by": None})
    if updated is None:
        return _unchanged(users, target, "active")
    return updated


def _unchanged(users: UserRepository, target: User, wanted: str) -> User:
    """When a guarded change found nothing to change: the user as they are if they are
    already ``wanted``; a 409 if they are being deleted or changed since ``target`` was read."""
    current = users.get(target.id)
    if current is None:
        raise NotFound(gettext("No such user."))
    if current.status == "deleting":
        raise _deleting(current)
    if current.status != wanted:
        raise changed_meanwhile(current)
    return current


def changed_meanwhile(current: User) -> Conflict:
    return Conflict(gettext("%(name)s changed while this was being done; reload and try "
                            "again.", name=current.username), code="conflict",
                    etag=current.etag)


# -- the account page --------------------------------------------------------------------

def check_current(user: User, current: str | None) -> None:
    """BadRequest ``wrong_password`` unless ``current`` is the user's password."""
    if not verify_password(user.password_hash, current or ""):
        raise BadRequest(gettext("The current password is not correct."), code="wrong_password",
                         fields={"current_password": gettext(
                             "This is not your current password.")})


def change_password(users: UserRepository, user: User, *, current: str, new: str) -> User:
    """Check the current password, store the new one and move ``auth_epoch``.

    Every other session and every token dies; the caller signs the session in again.
    """
    weak = password_problem(new, username=user.username, email=user.email or "")
    problems = {"new_password": weak} if weak else {}
    try:
        check_current(user, current)
    except BadRequest as error:  # told together with what is wrong with the new one
        error.extra["fields"].update(problems)
        raise
    if weak:
        raise BadRequest(gettext("The new password is not acceptable: %(problem)s",
                                 problem=weak), code="invalid_password", fields=problems)
    updated = users.update(user.id, {"status": "active", "password_hash": user.password_hash},
                           {"password_hash": hash_password(new)}, bump_epoch=True)
    if updated is None:
        raise Conflict(gettext("Your account changed meanwhile; reload the page and try "
                               "again."), code="conflict")
    return updated


def set_trash_retention(users: UserRepository, user: User, days: int | None, *,
                        max_days: int) -> User:
    """How long this user's deleted images stay in the trash; None = the server default.

    It applies to images trashed from now on: items already in the trash keep the date
    they were promised.
    """
    if days is not None and (isinstance(days, bool) or not 0 <= days <= max_days):
        raise BadRequest(gettext("Choose between 0 and %(max)d days, or the server default.",
                                 max=max_days), code="invalid_retention",
                         fields={"days": gettext("0 to %(max)d.", max=max_days)})
    updated = users.update(user.id, {"status": "active"}, {"trash_retention_days": days})
    if updated is None:
        raise NotFound(gettext("No such user."))
    return updated
