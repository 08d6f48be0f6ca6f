"""Helpers every JSON blueprint shares, and the shapes the OpenAPI document states
(``schemas.py``; the document itself is served by ``app/web/openapi.py``)."""

from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext

from app.core.errors import BadRequest
from app.core.pagination import Page, parse_limit

API_PREFIX = "/api/v1"


def json_body(*, empty: dict | None = None) -> dict:
    """The request's JSON object: the one parser every JSON route reads its body with.

    Anything else is 400 ``invalid_json``: not JSON, another JSON type, the wrong content
    type, or nesting past what the parser takes ("[[[[…" a thousand deep raises
    RecursionError, which ``silent=True`` does not catch). ``empty`` is what a request
    with no body at all means (by default a body is required)."""
    if empty is not None and not request.get_data(cache=True):
        return dict(empty)
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        data = None
    if not isinstance(data, dict):
        raise BadRequest(gettext("Send a JSON object in the request body."), code="invalid_json")
    return data


def list_response(page: Page, render) -> object:
    return jsonify({"items": [render(item) for item in page.items],
                    "next_cursor": page.next_cursor})


def page_args() -> tuple[int, str | None]:
    return parse_limit(request.args.get("limit")), request.args.get("cursor") or None
