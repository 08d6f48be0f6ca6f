"""The OpenAPI document describes every JSON route, with its shapes."""

from __future__ import annotations

from app.api.schemas import OPERATIONS


def test_every_json_route_is_described(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    api_endpoints = {rule.endpoint for rule in app.url_map.iter_rules()
                     if rule.rule.startswith("/api/v1") and rule.endpoint != "openapi.document"}
    assert api_endpoints == set(OPERATIONS), "describe new JSON routes in app/api/schemas.py"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["summary"], (method, path)
            assert any(code.startswith("2") for code in operation["responses"]), (method, path)
            assert operation["responses"]["401"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"}
    upload = document["paths"]["/images"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert "201" in upload["responses"]
    delete = document["paths"]["/images/{image_id}"]["delete"]
    names = {p["name"] for p in delete["parameters"]}
    assert {"image_id", "permanent", "dry_run", "X-Confirm-Delete", "If-Match"} <= names
    assert {"Image", "User", "Error", "DryRun", "Deletion"} <= set(
        document["components"]["schemas"])


def test_answers_match_the_documented_image_shape(alice_api, client):
    document = client.get("/api/v1/openapi.json").get_json()
    required = set(document["components"]["schemas"]["Image"]["required"])
    image = alice_api.upload().get_json()
    assert required <= set(image)
