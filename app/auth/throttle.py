"""Failed logins, counted per client IP by Flask-Limiter; successes cost nothing."""

from __future__ import annotations

import logging

from flask import current_app, g

from app.audit import service as audit
from app.auth.login import request_context
from app.extensions import limiter
from app.users.service import LoginRefused

log = logging.getLogger(__name__)


def _limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


# The limit is checked before the view runs (429 with Retry-After once exceeded) and a
# hit is only counted when the view marked the attempt as failed.
login_limit = limiter.shared_limit(
    _limit, scope="login", methods=["POST"],
    deduct_when=lambda response: g.get("login_failed", False),
)


def count_failed_login(username: str, refused: LoginRefused) -> None:
    """Count the attempt against the IP, log it, and audit it when the account exists.

    Attempts on unknown names stay out of the audit chain: nobody is behind them, and
    writing them would let anyone grow the chain.
    """
    g.login_failed = True
    log.info("login failed", extra={"username": (username or "")[:64]})
    if refused.user_id is not None:
        audit.record("login_failed", "denied", request_context(), target_type="user",
                     target_id=refused.user_id, details={"code": refused.code})
