"""JSON log lines, each with the request id (``X-Request-ID``) the audit events carry."""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import secrets
import sys
from datetime import UTC, datetime

from flask import g, has_request_context, request

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = record.__dict__
        entry = {
            "at": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        # The access log passes the request's fields itself (one lookup each, not three
        # context-local lookups per line); any other line inside a request gets them here.
        if "request_id" not in fields and has_request_context():
            entry["request_id"] = g.get("request_id")
            entry["method"] = request.method
            entry["path"] = request.path
        for key, value in fields.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _ENCODER.encode(entry)


# What ``json.dumps(entry, default=str)`` writes; ``dumps`` with an argument builds a new
# encoder for every line.
_ENCODER = json.JSONEncoder(default=str)
_second = (None, "")  # the last whole second written, and its text


def _timestamp(created: float) -> str:
    """``2026-12-07T04:05:06.123456Z``: a second's text is written once, then only its
    microseconds (a line's timestamp cost as much as the rest of its fields)."""
    global _second
    whole = int(created)
    micro = round((created - whole) * 1e6)  # as datetime rounds: half to even
    if micro == 1_000_000:
        whole, micro = whole + 1, 0
    seconds, text = _second
    if seconds != whole:
        text = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second = (whole, text)  # one tuple: a thread reads both halves or neither
    return f"{text}.{micro:06d}Z"


def configure_logging(level: int = logging.INFO) -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    # Our access log replaces werkzeug's; alembic's plugin set-up is noise at INFO.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # Two lines per job every few seconds (the webhook outbox, the metrics flush) would
    # drown the access log; a job's failure is still a warning or an error.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


class _RequestIds:
    """32 hex digits: 80 random bits drawn once per process (again after a fork), then a
    48-bit counter. Unique across workers and restarts as a random UUID is, without
    ``uuid4``'s ``getrandom`` system call on every request (8 % of a cached /media hit's
    samples under gunicorn, py-spy)."""

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        self.prefix = secrets.token_hex(10)
        self.counter = itertools.count(secrets.randbelow(1 << 32))

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter) & 0xFFFFFFFFFFFF:012x}"


_ids = _RequestIds()
os.register_at_fork(after_in_child=_ids.reseed)


def new_request_id() -> str:
    return _ids.next()


def assign_request_id() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _SAFE_ID.match(incoming) else new_request_id()


_ACCESS = logging.getLogger("papelera.access")


def log_request(response):
    request_id = g.get("request_id", "")
    response.headers["X-Request-ID"] = request_id
    if _ACCESS.isEnabledFor(logging.INFO):
        req = request._get_current_object()
        # Made and handed to the handlers as ``_ACCESS.info`` would, less its search of
        # the call stack for where it was called from: known, and no field here shows it.
        _ACCESS.handle(_ACCESS.makeRecord(
            _ACCESS.name, logging.INFO, __file__, 0, "request", (), None, extra={
                "request_id": request_id, "method": req.method, "path": req.path,
                "status": response.status_code, "remote_addr": req.remote_addr}))
    return response
