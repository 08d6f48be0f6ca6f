"""``/healthz`` (the process answers) and ``/readyz`` (every dependency answers)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from app.extensions import db
from app.storage import get_storage

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


def _probe(check) -> dict:
    try:
        check()
        return {"status": "ok"}
    except Exception as exc:  # any failure is "down", with its reason, never a 500
        return {"status": "down", "error": f"{type(exc).__name__}: {exc}"[:300]}


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
    if current_app.config.get("REDIS_URL"):
        checks["redis"] = _probe(_check_redis)
    ready = all(c["status"] == "ok" for c in checks.values())
    return jsonify({"status": "ok" if ready else "unavailable", "checks": checks}), (
        200 if ready else 503)
