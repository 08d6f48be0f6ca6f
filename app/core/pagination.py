"""Opaque keyset cursors and the ``limit`` rule shared by every list."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext
from sqlalchemy import literal, tuple_

from app.core.errors import BadRequest

DEFAULT_LIMIT, MAX_LIMIT = 50, 200


@dataclass
class Page:
    items: list[Any]
    next_cursor: str | None


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(gettext("limit must be a whole number."), code="invalid_limit") from None
    if not 1 <= value <= MAX_LIMIT:
        raise BadRequest(gettext("limit must be between 1 and %(max)d.", max=MAX_LIMIT),
                         code="invalid_limit")
    return value


def page_from_rows(rows: list, limit: int, key) -> Page:
    """``rows`` holds up to ``limit + 1`` items: the extra one only says there is more."""
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(*key(rows[-1])) if has_more and rows else None
    return Page(items=rows, next_cursor=next_cursor)


def beyond(columns: tuple, values: tuple, *, descending: bool = True):
    """The keyset condition past ``values``: ``(c1, c2) < (v1, v2)`` for a newest-first
    list (``>`` ascending), as one row value. Written with ``OR`` it cannot bound an
    index on either engine (an offset scan in disguise, scale review F4); as a row value
    both PostgreSQL and SQLite seek to it. Each value is bound with its column's type."""
    left = tuple_(*columns)
    right = tuple_(*(literal(value, column.type) for column, value in zip(columns, values,
                                                                          strict=True)))
    return left < right if descending else left > right


def encode_cursor(*values) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else str(v) for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kinds: tuple = (datetime, uuid.UUID)) -> tuple:
    """Undo encode_cursor; anything malformed is a 400, never a 500."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        plain = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(plain, list) or len(plain) != len(kinds):
            raise ValueError
        values = []
        for kind, raw in zip(kinds, plain, strict=True):
            if not isinstance(raw, str):  # encode_cursor writes strings only
                raise ValueError
            if kind is datetime:
                value = datetime.fromisoformat(raw)
                if value.tzinfo is None:
                    raise ValueError
                values.append(value)
            else:
                values.append(kind(raw))
        return tuple(values)
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError):
        raise BadRequest(gettext("The cursor is not valid."), code="invalid_cursor") from None
