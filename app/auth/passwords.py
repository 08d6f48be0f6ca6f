"""Password hashing with Argon2id (argon2-cffi).

The cost is a setting (``ARGON2_MEMORY_KIB``, ``ARGON2_TIME_COST``; argon2-cffi's
recommended 64 MiB × 3 by default). Every hash records its own parameters, so old
hashes still verify after the cost changes.
"""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

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
