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


def test_only_public_operations_drop_the_bearer_requirement(app, client):
    """The document demands a bearer token everywhere except where none is needed."""
    response = client.get("/api/v1/openapi.json")  # public itself: no credentials sent
    assert response.status_code == 200
    document = response.get_json()
    assert document["security"] == [{"bearer": []}]
    public = {(path, method) for path, operations in document["paths"].items()
              for method, operation in operations.items() if operation.get("security") == []}
    assert public == {("/auth/token", "post")}
    assert "security" not in document["paths"]["/auth/token"]["delete"]


def test_user_ids_are_documented_with_their_format(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    user_id = next(p for p in document["paths"]["/users/{user_id}"]["delete"]["parameters"]
                   if p["name"] == "user_id")
    assert user_id["schema"]["pattern"] == "^[0-9a-f]{32}$"
