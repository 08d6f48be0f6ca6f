"""The shapes of the JSON API (SPEC section 5), for the OpenAPI document.

Request bodies, success answers and list parameters of every ``/api/v1`` endpoint, keyed
by endpoint name; ``tests/test_openapi.py`` fails when a JSON route is missing here.
"""

from __future__ import annotations


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def list_of(name: str) -> dict:
    return {"type": "object", "required": ["items", "next_cursor"], "properties": {
        "items": {"type": "array", "items": ref(name)},
        "next_cursor": {"type": "string", "nullable": True,
                        "description": "Opaque; null on the last page"}}}


TIME = {"type": "string", "format": "date-time"}
NULLABLE_TIME = {**TIME, "nullable": True}

SCHEMAS: dict[str, dict] = {
    "Error": {"type": "object", "required": ["error", "code"], "properties": {
        "error": {"type": "string", "description": "A sentence for people"},
        "code": {"type": "string", "description": "A machine code, e.g. not_found"}}},
    "Image": {"type": "object", "required": [
        "id", "file_name", "content_type", "size_bytes", "width", "height", "created_at",
        "etag", "url", "thumbnail_url"], "properties": {
        "id": {"type": "string", "format": "uuid"},
        "file_name": {"type": "string"},
        "content_type": {"type": "string", "enum": ["image/jpeg", "image/png", "image/gif",
                                                    "image/webp"]},
        "size_bytes": {"type": "integer"}, "width": {"type": "integer"},
        "height": {"type": "integer"}, "created_at": TIME,
        "etag": {"type": "string"},
        "url": {"type": "string", "description": "Signed, short-lived"},
        "thumbnail_url": {"type": "string", "description": "Signed, short-lived"},
        "is_deleted": {"type": "boolean", "description": "Only on trashed images"},
        "deleted_at": TIME, "purge_at": TIME,
        "days_left": {"type": "integer", "description": "Whole days until purge_at, rounded up"},
        "expires_soon": {"type": "boolean", "description": "Purged within 3 days"},
        "duplicate_of": {"type": "string", "format": "uuid", "description":
                         "Upload answers only: an image of the caller's library with the "
                         "same SHA-256 (the upload is stored all the same)"}}},
    "Deletion": {"type": "object", "required": ["message", "deletion"], "properties": {
        "message": {"type": "string"},
        "deletion": {"type": "object", "required": ["id", "type"], "properties": {
            "id": {"type": "string"}, "type": {"type": "string", "enum": ["soft", "permanent"]},
            "deleted_at": TIME, "recoverable_until": NULLABLE_TIME,
            "deleted_by": {"type": "string", "nullable": True}}}}},
    "DryRun": {"type": "object", "required": ["dry_run", "action", "target", "etag",
                                              "consequences"], "properties": {
        "dry_run": {"type": "boolean", "enum": [True]}, "action": {"type": "string"},
        "target": {"type": "object", "properties": {"type": {"type": "string"},
                                                    "id": {"type": "string"}}},
        "etag": {"type": "string"},
        "consequences": {"type": "object", "properties": {
            "images": {"type": "integer"}, "objects": {"type": "integer"},
            "bytes": {"type": "integer"}}}}},
    "User": {"type": "object", "required": ["id", "username", "email", "role", "is_founder",
                                            "status", "is_active", "deactivated_at"],
             "properties": {
        "id": {"type": "string"}, "username": {"type": "string"},
        "email": {"type": "string"}, "role": {"type": "string", "enum": ["admin", "user"]},
        "is_founder": {"type": "boolean"},
        "status": {"type": "string", "enum": ["active", "inactive", "deleting"]},
        "is_active": {"type": "boolean"}, "deactivated_at": NULLABLE_TIME,
        "created_at": TIME,
        "trash_retention_days": {"type": "integer", "nullable": True}}},
    "AuditEvent": {"type": "object", "properties": {
        "id": {"type": "integer"}, "at": TIME, "actor_id": {"type": "string", "nullable": True},
        "actor_role": {"type": "string", "nullable": True}, "action": {"type": "string"},
        "outcome": {"type": "string"}, "target_type": {"type": "string", "nullable": True},
        "target_id": {"type": "string", "nullable": True},
        "ip": {"type": "string", "nullable": True},
        "user_agent": {"type": "string", "nullable": True},
        "request_id": {"type": "string", "nullable": True}, "details": {"type": "object"},
        "prev_hash": {"type": "string"}, "hash": {"type": "string"}}},
    "PurgeRun": {"type": "object", "properties": {
        "id": {"type": "integer"}, "trigger": {"type": "string"},
        "status": {"type": "string"}, "started_at": TIME, "finished_at": NULLABLE_TIME,
        "claimed": {"type": "integer"}, "deleted": {"type": "integer"},
        "bytes_freed": {"type": "integer"}, "errors": {"type": "integer"}}},
    "ShareLink": {"type": "object", "required": ["id", "url", "created_at", "expires_at"],
                  "properties": {
        "id": {"type": "string", "description": "The link's id (its sid)"},
        "url": {"type": "string", "format": "uri",
                "description": "/media/<id>?exp=&sid=&sig=; a browser gets a page"},
        "created_at": TIME, "expires_at": TIME,
        "revoked_at": {**TIME, "description": "Only in a revocation's answer"}}},
    "IpBlock": {"type": "object", "required": ["ip", "reason", "image_id", "count",
                                               "blocked_at", "expires_at"], "properties": {
        "ip": {"type": "string"}, "reason": {"type": "string"},
        "image_id": {"type": "string", "nullable": True}, "count": {"type": "integer"},
        "blocked_at": TIME,
        "expires_at": {**NULLABLE_TIME, "description": "null: until lifted"}}},
    "PurgeResult": {"type": "object", "required": ["deleted", "bytes_freed", "errors",
                                                   "remaining"], "properties": {
        "deleted": {"type": "integer"}, "bytes_freed": {"type": "integer"},
        "errors": {"type": "integer"}, "remaining": {"type": "integer"}}},
}


def json_body(properties: dict, required: list[str]) -> dict:
    return {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": required, "properties": properties}}}}


PAGED = [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                     "maximum": 200, "default": 50}},
         {"name": "cursor", "in": "query", "schema": {"type": "string"}}]


def query(name: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "schema": schema}


# endpoint name -> {"status": …, "response": schema, "request": body, "params": […],
#                   "other_content": {media type: schema} for answers that are not JSON}
OPERATIONS: dict[str, dict] = {
    "auth_api.create_token": {"status": 201, "request": json_body(
        {"username": {"type": "string"}, "password": {"type": "string"}},
        ["username", "password"]), "response": {"type": "object", "properties": {
            "token": {"type": "string"}, "expires_at": TIME}}},
    "auth_api.delete_token": {"response": {"type": "object", "properties": {
        "message": {"type": "string"}}}},
    "images_api.upload": {"status": 201, "response": ref("Image"), "request": {
        "required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary"}}}}}}},
    "images_api.index": {"response": list_of("Image"), "params": PAGED},
    "images_api.show": {"response": ref("Image")},
    "images_api.delete": {"response": ref("Deletion")},
    "images_api.restore": {"response": ref("Image")},
    "media_api.share": {"status": 201, "request": {"required": False, "content": {
        "application/json": {"schema": {"type": "object", "properties": {"ttl_s": {
            "type": "integer", "minimum": 60, "maximum": 2592000, "default": 86400}}}}}},
        "response": ref("ShareLink")},
    "media_api.shares": {"response": list_of("ShareLink"), "params": PAGED},
    "media_api.revoke_share": {"response": {"type": "object", "properties": {
        "message": {"type": "string"}, "share": ref("ShareLink")}}},
    "trash_api.index": {"response": list_of("Image"), "params": PAGED},
    "trash_api.restore": {"request": {"required": True, "content": {"application/json": {
        "schema": {"type": "object", "properties": {
            "ids": {"type": "array", "items": {"type": "string", "format": "uuid"},
                    "minItems": 1, "maxItems": 1000},
            "all": {"type": "boolean"}}}}}}, "response": {"type": "object", "properties": {
        "restored": {"type": "integer"}, "skipped": {"type": "array", "items": {
            "type": "object", "properties": {"id": {"type": "string"},
                                             "code": {"type": "string"}}}}}}},
    "trash_api.empty": {"response": {"type": "object", "properties": {
        "deleted": {"type": "integer"}, "bytes_freed": {"type": "integer"},
        "remaining": {"type": "integer"}}}},
    "users_api.index": {"response": list_of("User"), "params": PAGED + [
        query("status", {"type": "string", "enum": ["active", "inactive", "deleting", "all"],
                         "default": "all"}),
        query("q", {"type": "string", "description": "Part of a username or e-mail"})]},
    "users_api.create": {"status": 201, "response": ref("User"), "request": json_body(
        {"username": {"type": "string", "pattern": "^[a-z0-9._-]{3,32}$"},
         "email": {"type": "string", "format": "email"},
         "password": {"type": "string", "minLength": 8},
         "role": {"type": "string", "enum": ["admin", "user"], "default": "user"}},
        ["username", "email", "password"])},
    "users_api.delete": {"response": {"oneOf": [ref("User"), ref("Deletion")]}},
    "users_api.deactivate": {"response": ref("User")},
    "users_api.activate": {"response": ref("User")},
    "users_api.export": {"response": {"type": "object"}, "other_content": {
        "application/zip": {"type": "string", "format": "binary",
                            "description": "With include=files"}}, "params": [
        query("include", {"type": "string", "enum": ["files"]})]},
    "audit_api.index": {"response": list_of("AuditEvent"), "params": PAGED + [
        query("actor", {"type": "string"}), query("action", {"type": "string"}),
        query("target", {"type": "string"}),
        query("format", {"type": "string", "enum": ["json", "jsonl"], "default": "json"})],
        "other_content": {"application/x-ndjson": {
            "type": "string", "description": "With format=jsonl: one event per line"}}},
    "purge_api.status": {"response": {"type": "object", "properties": {
        "total_in_trash": {"type": "integer"}, "pending_deletion": {"type": "integer"},
        "retention_days": {"type": "integer"}, "next_run_at": NULLABLE_TIME,
        "last_run": {"allOf": [ref("PurgeRun")], "nullable": True},
        "items": {"type": "array", "items": {"type": "object"}}}}},
    "purge_api.run": {"response": ref("PurgeResult")},
    "purge_api.runs": {"response": list_of("PurgeRun"), "params": PAGED},
    "media_admin_api.get_config": {"response": {"type": "object", "description":
        "Every media setting (SPEC 8); webhook_secret is write-only: webhook_secret_set"}},
    "media_admin_api.patch_config": {"request": {"required": True, "content": {
        "application/json": {"schema": {"type": "object", "description":
            "Any subset of the settings; 400 invalid_config names a bad field"}}}},
        "response": {"type": "object"}},
    "media_admin_api.stats": {"response": {"type": "object", "properties": {
        name: {"type": "integer"} for name in (
            "requests", "bytes_served", "cache_hits", "storage_reads_saved", "bytes_saved",
            "trash_bytes")} | {"hit_ratio": {"type": "number"},
                               **{name: {"type": "array", "items": {"type": "object"}}
                                  for name in ("top_images", "heavy_images",
                                               "storage_per_user", "series")}}}},
    "media_blocks_api.blocks": {"response": {"type": "object", "required": ["items"],
                                             "properties": {"items": {"type": "array",
                                                                      "items": ref("IpBlock")}}}},
    "media_blocks_api.lift": {"response": {"type": "object", "properties": {
        "message": {"type": "string"}, "ip": {"type": "string"},
        "lifted": {"type": "integer"}}}},
}
