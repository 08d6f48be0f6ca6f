"""``GET /api/v1/openapi.json``, built with apispec from the URL map and the registry."""

from __future__ import annotations

import re

from apispec import APISpec
from flask import Blueprint, current_app, jsonify

from app.api import API_PREFIX
from app.api.schemas import OPERATIONS, SCHEMAS, ref
from app.deletion.decorator import CONFIRM_HEADER
from app.users.ids import USER_ID_PATTERN

bp = Blueprint("openapi", __name__, url_prefix=API_PREFIX)

ERRORS = {
    "400": "Bad input: invalid option, missing confirmation, bad cursor, CSRF failure",
    "401": "No valid credentials",
    "403": "Not allowed (role or protection rule)",
    "404": "No such resource (or not yours)",
    "409": "Conflict with the resource's state",
    "412": "If-Match does not match the current etag",
}


def _path_and_params(rule) -> tuple[str, list[dict]]:
    params = []
    for converter, name in re.findall(r"<(?:(\w+):)?(\w+)>", rule.rule):
        schema = {"type": "string"}
        if converter == "uuid":
            schema["format"] = "uuid"
        elif converter == "user_id":
            schema["pattern"] = f"^{USER_ID_PATTERN}$"
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
    return path[len(API_PREFIX):] or "/", params


def _switch(name: str, text: str) -> dict:
    return {"name": name, "in": "query", "required": False, "description": text,
            "schema": {"type": "string", "enum": ["true", "false"], "default": "false"}}


def _error(text: str) -> dict:
    return {"description": text,
            "content": {"application/json": {"schema": ref("Error")}}}


def _operation(endpoint, view, params) -> dict:
    spec = getattr(view, "delete_endpoint", None)
    shapes = OPERATIONS.get(endpoint, {})
    doc = (view.__doc__ or view.__name__).strip().splitlines()[0]
    success = {"description": "Done" if spec else "OK"}
    if "response" in shapes:
        success["content"] = {"application/json": {"schema": shapes["response"]}}
    for media_type, schema in shapes.get("other_content", {}).items():  # e.g. a stream
        success.setdefault("content", {})[media_type] = {"schema": schema}
    status = str(shapes.get("status", spec.status_code if spec else 200))
    operation = {"summary": spec.description if spec else doc,
                 "parameters": list(params) + shapes.get("params", []),
                 "responses": {status: success, "400": _error(ERRORS["400"]),
                               "401": _error(ERRORS["401"])}}
    if "request" in shapes:
        operation["requestBody"] = shapes["request"]
    if getattr(view, "is_public", False):
        operation["security"] = []  # e.g. POST /auth/token: the password is the credential
    if spec is None:
        return operation
    operation["x-delete-endpoint"] = {"resource": spec.resource, "soft": spec.soft,
                                      "allow_permanent": spec.allow_permanent,
                                      "confirm": spec.confirm_text, "roles": spec.roles_text}
    operation["parameters"] += [_switch("dry_run", "Answer what would happen; change nothing"),
                                _switch("force", "Proceed despite dependencies")]
    if spec.allow_permanent and spec.soft:
        operation["parameters"].append(_switch("permanent", "Delete now instead of trashing"))
    named = {p["name"] for p in operation["parameters"]}
    operation["parameters"] += [{"name": name, "in": "query", "required": False,
                                 "schema": {"type": "string"}}
                                for name in spec.params if name not in named]
    if spec.confirm is not None:
        operation["parameters"].append({
            "name": CONFIRM_HEADER, "in": "header", "required": True,
            "description": f"Confirmation: {spec.confirm_text}", "schema": {"type": "string"}})
    operation["parameters"].append({"name": "If-Match", "in": "header", "required": False,
                                    "schema": {"type": "string"}})
    success["description"] = "Done; with dry_run=true, what would be done (DryRun)"
    if "content" in success:
        done = success["content"]["application/json"]["schema"]
        success["content"]["application/json"]["schema"] = {"oneOf": [done, ref("DryRun")]}
    operation["responses"].update({code: _error(text) for code, text in ERRORS.items()})
    return operation


def build_spec(app) -> dict:
    spec = APISpec(title="Papelera API", version="1.0.0", openapi_version="3.0.3",
                   info={"description": "Self-hosted image library with a safe trash."},
                   servers=[{"url": API_PREFIX}])
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for name, schema in SCHEMAS.items():
        spec.components.schema(name, schema)
    paths: dict[str, dict] = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API_PREFIX) or rule.endpoint == "openapi.document":
            continue
        view = app.view_functions[rule.endpoint]
        path, params = _path_and_params(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(rule.endpoint, view, params)
    for path, operations in sorted(paths.items()):
        spec.path(path=path, operations=operations)
    document = spec.to_dict()
    document["security"] = [{"bearer": []}]
    return document


@bp.get("/openapi.json")
def document():
    """This document."""
    cache = current_app.extensions.setdefault("papelera.openapi", {})
    if "doc" not in cache:
        cache["doc"] = build_spec(current_app)
    return jsonify(cache["doc"])
