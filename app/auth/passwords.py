"""Password hashing with Argon2id (argon2-cffi), and what a new password must be.

The cost is a setting (``ARGON2_MEMORY_KIB``, ``ARGON2_TIME_COST``; argon2-cffi's
recommended 64 MiB × 3 by default). Every hash records its own parameters, so old
hashes still verify after the cost changes.
"""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import gettext
from zxcvbn import zxcvbn

_state: dict = {"hasher": PasswordHasher(), "dummy": None}


def configure_hasher(memory_kib: int | None = None, time_cost: int | None = None) -> None:
    defaults = PasswordHasher()
    _state["hasher"] = PasswordHasher(memory_cost=memory_kib or defaults.memory_cost,
                                      time_cost=time_cost or defaults.time_cost)
    # Made now, not at the first unknown name, which would otherwise take twice as long.
    _state["dummy"] = None
    _dummy_hash()


def hash_password(password: str) -> str:
    return _state["hasher"].hash(password)


def _dummy_hash() -> str:
    # Verified against when the username does not exist, so both paths cost the same.
    if _state["dummy"] is None:
        _state["dummy"] = hash_password("papelera-timing-equaliser")
    return _state["dummy"]


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _state["hasher"].verify(password_hash or _dummy_hash(), password) \
            and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


# -- what a new password must be (the one rule: account page, admin page, API, CLI) ------

MIN_LENGTH = 8
MAX_LENGTH = 1024
# zxcvbn's score: 0 and 1 are guessed within about a million tries (a leaked-password
# list, a keyboard walk, a name and a year); 2 and up are refused by nobody.
MIN_SCORE = 2
# zxcvbn's dictionaries are English; these are the words a Spanish speaker or a user of
# this app reaches for first, checked like the user's own name.
_LOCAL_WORDS = ("papelera", "contraseña", "contrasena", "clave", "secreto", "hola", "fotos",
                "foto", "admin", "administrador", "usuario", "familia", "casa")
_SCORED_LENGTH = 72  # zxcvbn's own limit; a longer password is judged by its start


def password_problem(password: str | None, *, username: str = "",
                     email: str = "") -> str | None:
    """Why ``password`` may not be a new password (a sentence in the request's language),
    or None. Too short, the username or e-mail itself, or too easy to guess: a common
    password, a name, a date or a simple pattern (zxcvbn's estimate, with the username,
    the e-mail and a few Spanish words counted as known)."""
    password = password or ""
    if len(password) < MIN_LENGTH:
        return gettext("At least %(num)d characters.", num=MIN_LENGTH)
    if len(password) > MAX_LENGTH:
        return gettext("At most %(num)d characters.", num=MAX_LENGTH)
    own = [word for word in (username, email, email.partition("@")[0]) if word]
    if any(password.strip().casefold() == word.casefold() for word in own):
        return gettext("Choose a password that is not your username or e-mail address.")
    if zxcvbn(password[:_SCORED_LENGTH], user_inputs=[*own, *_LOCAL_WORDS])["score"] < MIN_SCORE:
        return gettext("Too easy to guess: avoid common passwords, names, dates and simple "
                       "patterns. A few unrelated words work well.")
    return None
