"""User rules: creation, authentication, the founder, and (later) deactivation."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from app.auth.passwords import hash_password, verify_password
from app.errors import BadRequest
from app.users.repository import User, UserRepository

USERNAME_RE = re.compile(r"^[a-z0-9._-]{3,32}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8
ROLES = ("admin", "user")


def validate_new_user(username: str, email: str, password: str, role: str) -> dict[str, str]:
    """Field -> problem, empty when the input is acceptable."""
    problems = {}
    if not USERNAME_RE.match(username or ""):
        problems["username"] = ("3 to 32 characters: lower-case letters, digits, "
                                "dot, dash or underscore.")
    if not EMAIL_RE.match(email or "") or len(email) > 254:
        problems["email"] = "A valid e-mail address."
    if len(password or "") < MIN_PASSWORD:
        problems["password"] = f"At least {MIN_PASSWORD} characters."
    if role not in ROLES:
        problems["role"] = "Either admin or user."
    return problems


def create_user(users: UserRepository, *, username: str, email: str, password: str,
                role: str = "user", now: datetime, is_founder: bool = False) -> User:
    username = (username or "").strip()
    email = (email or "").strip()
    problems = validate_new_user(username, email, password, role)
    if problems:
        raise BadRequest("The user could not be created: " + "; ".join(
            f"{k}: {v}" for k, v in problems.items()), code="invalid_user", fields=problems)
    return users.insert(username=username, email=email, password_hash=hash_password(password),
                        role=role, is_founder=is_founder, now=now)


class LoginRefused(Exception):
    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.message, self.code = message, code


def authenticate(users: UserRepository, username: str, password: str) -> User:
    """The user whose credentials these are, or LoginRefused saying why."""
    user = users.by_username((username or "").strip()) if username else None
    if not verify_password(user.password_hash if user else None, password or ""):
        raise LoginRefused("Wrong username or password.", "invalid_credentials")
    if user.status == "inactive":
        raise LoginRefused("This account has been deactivated. Ask an administrator to "
                           "reactivate it.", "account_inactive")
    if user.status != "active":
        raise LoginRefused("This account is being deleted.", "account_deleting")
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
