"""``/healthz`` (the process answers) and ``/readyz`` (every dependency answers)."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from app.core.extensions import db
from app.installation import installation_status
from app.storage import get_storage

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


def _probe(check) -> dict:
    try:
        check()
        return {"status": "ok"}
    except Exception as exc:  # any failure is "down", never a 500
        # The driver's message names hosts, users and buckets: it goes to the log only.
        log.warning("readiness check failed: %s", exc)
        db.session.rollback()
        return {"status": "down", "error": f"unreachable ({type(exc).__name__})"}


def _installation() -> dict:
    """Read-only: a GET that anyone may send writes nothing (the ids are written at start
    and by the first destructive action)."""
    try:
        status = installation_status()
    except Exception as exc:
        log.warning("installation check failed: %s", exc)
        db.session.rollback()
        return {"status": "down", "error": "cannot be checked while a store is unreachable "
                                           f"({type(exc).__name__})"}
    if status.ok or status.state == "new":  # "new": safe, the ids get written on first use
        return {"status": "ok"}
    return {"status": "down", "error": status.reason}


def _check_sql():
    db.session.execute(text("SELECT 1"))
    db.session.rollback()


def _check_mongo():
    current_app.extensions["papelera.mongo"].ping()


def _check_redis():
    import redis

    redis.Redis.from_url(current_app.config["REDIS_URL"], socket_timeout=2).ping()


@bp.get("/readyz")
def readyz():
    checks = {"database": _probe(_check_sql), "users": _probe(_check_mongo),
              "storage": _probe(get_storage().check)}
    if current_app.config["REDIS_URL"]:
        checks["redis"] = _probe(_check_redis)
    checks["installation"] = _installation()
    ready = all(c["status"] == "ok" for c in checks.values())
    return jsonify({"status": "ok" if ready else "unavailable", "checks": checks}), (
        200 if ready else 503)
