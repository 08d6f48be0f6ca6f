"""Helpers every JSON blueprint shares, and the OpenAPI document."""

from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext

from app.core.errors import BadRequest
from app.core.pagination import Page, parse_limit

API_PREFIX = "/api/v1"


def json_body() -> dict:
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # "[[[[…" thousands deep: silent=True only catches ValueError
        data = None
    if not isinstance(data, dict):
        raise BadRequest(gettext("Send a JSON object in the request body."), code="invalid_json")
    return data


def list_response(page: Page, render) -> object:
    return jsonify({"items": [render(item) for item in page.items],
                    "next_cursor": page.next_cursor})


def page_args() -> tuple[int, str | None]:
    return parse_limit(request.args.get("limit")), request.args.get("cursor") or None
