"""The image API: upload, list, read, trash, restore, delete for good."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import pytest
from PIL import Image as PILImage

from tests.conftest import png_bytes
from tests.helpers import image_row, object_files, snapshot


def confirm():
    return {"X-Confirm-Delete": "yes"}


def test_upload_stores_original_byte_for_byte_and_a_clean_thumbnail(app, alice_api, tmp_path):
    original = io.BytesIO()
    exif = PILImage.Exif()
    exif[0x010F] = "SecretCam"  # Make
    PILImage.new("RGB", (800, 600), (10, 200, 30)).save(original, "JPEG", exif=exif)
    data = original.getvalue()
    response = alice_api.upload(data, name="../../etc/holiday.jpg")
    assert response.status_code == 201
    body = response.get_json()
    assert body["file_name"] == "holiday.jpg"
    assert (body["content_type"], body["width"], body["height"]) == ("image/jpeg", 800, 600)
    assert body["size_bytes"] == len(data)
    assert "is_deleted" not in body
    row = image_row(app, body["id"])
    assert "holiday" not in row.storage_key and row.sha256 not in row.storage_key
    assert (tmp_path / "objects" / row.storage_key).read_bytes() == data
    with PILImage.open(tmp_path / "objects" / row.thumbnail_key) as thumb:
        assert thumb.format == "WEBP" and max(thumb.size) <= 480
        assert not thumb.getexif()
    # The /media URLs serve the bytes to the owner.
    served = alice_api.get(body["url"])
    assert served.data == data
    served.close()
    served = alice_api.get(body["thumbnail_url"])
    assert served.status_code == 200
    served.close()


def test_same_file_can_be_uploaded_twice(alice_api):
    data = png_bytes()
    first, second = alice_api.upload(data), alice_api.upload(data)
    assert first.status_code == second.status_code == 201
    assert first.get_json()["id"] != second.get_json()["id"]


@pytest.mark.parametrize("payload,status,code", [
    (b"not an image at all", 415, "not_an_image"),
    (b"", 415, "not_an_image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, 415, "not_an_image"),
])
def test_bad_uploads_are_refused_and_store_nothing(alice_api, tmp_path, payload, status, code):
    response = alice_api.upload(payload, name="x.png")
    assert response.status_code == status
    assert response.get_json()["code"] == code
    assert object_files(tmp_path) == set()


def test_unsupported_image_format_is_415(alice_api):
    out = io.BytesIO()
    PILImage.new("RGB", (4, 4)).save(out, "TIFF")
    response = alice_api.upload(out.getvalue(), name="x.tiff")
    assert response.status_code == 415


def test_missing_file_field_is_400(alice_api):
    response = alice_api.post("/api/v1/images", data={}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.get_json()["code"] == "missing_file"


def raw_multipart(payload: bytes) -> dict:
    """A multipart body built in memory (the test client spools big ones to a temp file
    that it never closes when the app refuses the upload early)."""
    body = (b'--BOUNDARY\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
            b"Content-Type: image/png\r\n\r\n" + payload + b"\r\n--BOUNDARY--\r\n")
    return {"data": body, "content_type": "multipart/form-data; boundary=BOUNDARY"}


def test_too_large_upload_is_413(app, alice_api, tmp_path):
    app.config["MAX_UPLOAD_MB"] = 1
    app.config["MAX_CONTENT_LENGTH"] = 4 * 1024 * 1024
    noise = io.BytesIO()
    PILImage.effect_noise((1200, 1200), 100).convert("RGB").save(noise, "PNG")
    assert len(noise.getvalue()) > 1024 * 1024
    response = alice_api.post("/api/v1/images", **raw_multipart(noise.getvalue()))
    assert response.status_code == 413
    assert response.get_json()["code"] == "too_large"
    app.config["MAX_CONTENT_LENGTH"] = 2 * 1024 * 1024
    response = alice_api.post("/api/v1/images", **raw_multipart(noise.getvalue()))
    assert response.status_code == 413
    assert response.get_json()["code"] == "too_large"
    assert object_files(tmp_path) == set()


def test_decompression_bomb_is_refused(app, alice_api, tmp_path):
    app.config["MAX_IMAGE_PIXELS"] = 10_000
    response = alice_api.upload(png_bytes(size=(200, 200)))
    assert response.status_code == 413
    assert "pixels" in response.get_json()["error"]
    assert object_files(tmp_path) == set()


def test_list_is_newest_first_with_keyset_pages(alice_api):
    ids = [alice_api.upload().get_json()["id"] for _ in range(5)]
    seen, cursor = [], None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = alice_api.get("/api/v1/images" + query).get_json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))


@pytest.mark.parametrize("query", ["?cursor=garbage", "?cursor=W10", "?limit=0", "?limit=201",
                                   "?limit=ten", "?cursor=WyIyMDI2IiwgIngiXQ"])
def test_bad_list_parameters_are_400(alice_api, query):
    response = alice_api.get("/api/v1/images" + query)
    assert response.status_code == 400


def test_other_users_images_are_404(alice_api, api_for, make_user):
    image_id = alice_api.upload().get_json()["id"]
    bob = api_for(make_user("bob"))
    assert bob.get(f"/api/v1/images/{image_id}").status_code == 404
    assert bob.delete(f"/api/v1/images/{image_id}", headers=confirm()).status_code == 404
    assert bob.post(f"/api/v1/images/{image_id}/restore").status_code == 404
    assert bob.get("/api/v1/images").get_json()["items"] == []


def test_admin_may_read_anyones_image(alice_api, admin_api):
    image_id = alice_api.upload().get_json()["id"]
    assert admin_api.get(f"/api/v1/images/{image_id}").status_code == 200


def test_soft_delete_moves_to_trash_with_fixed_dates(app, alice_api):
    image_id = alice_api.upload().get_json()["id"]
    first = alice_api.delete(f"/api/v1/images/{image_id}", headers=confirm())
    assert first.status_code == 200
    deletion = first.get_json()["deletion"]
    assert deletion["type"] == "soft" and deletion["id"] == image_id
    deleted_at = datetime.fromisoformat(deletion["deleted_at"])
    until = datetime.fromisoformat(deletion["recoverable_until"])
    assert until - deleted_at == timedelta(days=30)
    assert deletion["deleted_by"] == alice_api.user.id
    # Again: same answer, same times, nothing moves.
    again = alice_api.delete(f"/api/v1/images/{image_id}", headers=confirm())
    assert again.status_code == 200
    assert again.get_json()["deletion"] == deletion
    # Hidden from the gallery; visible by id and in the trash.
    assert alice_api.get("/api/v1/images").get_json()["items"] == []
    shown = alice_api.get(f"/api/v1/images/{image_id}").get_json()
    assert shown["is_deleted"] is True
    assert shown["purge_at"] == deletion["recoverable_until"]
    assert shown["days_left"] == 30 and shown["expires_soon"] is False
    trash = alice_api.get("/api/v1/trash").get_json()
    assert [i["id"] for i in trash["items"]] == [image_id]


def test_image_urls_are_stable_and_survive_the_trash_for_the_owner(alice_api):
    created = alice_api.upload().get_json()
    assert created["url"] == f"/media/{created['id']}"
    assert created["thumbnail_url"] == f"/media/{created['id']}/thumb"
    alice_api.delete(f"/api/v1/images/{created['id']}", headers=confirm())
    trashed = alice_api.get(f"/api/v1/images/{created['id']}").get_json()
    assert (trashed["url"], trashed["thumbnail_url"]) == (created["url"],
                                                          created["thumbnail_url"])
    served = alice_api.get(trashed["thumbnail_url"])
    assert served.status_code == 200
    served.close()
    assert alice_api.client.get(created["url"]).status_code == 401


def test_restore_and_its_alias(alice_api):
    image_id = alice_api.upload().get_json()["id"]
    for restore in (lambda: alice_api.post(f"/api/v1/images/{image_id}/restore"),
                    lambda: alice_api.patch(f"/api/v1/images/restore/{image_id}")):
        alice_api.delete(f"/api/v1/images/{image_id}", headers=confirm())
        response = restore()
        assert response.status_code == 200
        assert response.get_json()["id"] == image_id
        assert "is_deleted" not in response.get_json()
        assert [i["id"] for i in alice_api.get("/api/v1/images").get_json()["items"]] == [image_id]
    again = alice_api.post(f"/api/v1/images/{image_id}/restore")
    assert again.status_code == 409
    assert again.get_json()["code"] == "not_in_trash"


def test_restore_refused_while_purging(app, alice_api):
    from app.core.extensions import db
    from app.images.models import Image

    image_id = alice_api.upload().get_json()["id"]
    alice_api.delete(f"/api/v1/images/{image_id}", headers=confirm())
    with app.app_context():
        row = image_row(app, image_id)
        db.session.execute(db.update(Image).where(Image.id == row.id)
                           .values(purge_state="purging", claim_id="run:x"))
        db.session.commit()
    response = alice_api.post(f"/api/v1/images/{image_id}/restore")
    assert response.status_code == 409
    assert response.get_json()["code"] == "purging"
    assert image_row(app, image_id).is_deleted is True


def test_permanent_delete_removes_row_original_and_thumbnail(app, alice_api, tmp_path):
    active = alice_api.upload().get_json()["id"]
    trashed = alice_api.upload().get_json()["id"]
    alice_api.delete(f"/api/v1/images/{trashed}", headers=confirm())
    assert len(object_files(tmp_path)) == 4
    for image_id in (active, trashed):
        response = alice_api.delete(f"/api/v1/images/{image_id}?permanent=true", headers=confirm())
        assert response.status_code == 200
        body = response.get_json()
        assert body["deletion"]["type"] == "permanent"
        assert body["deletion"]["bytes_freed"] > 0
        assert image_row(app, image_id) is None
        assert alice_api.get(f"/api/v1/images/{image_id}").status_code == 404
    assert object_files(tmp_path) == set()


def test_permanent_delete_keeps_the_row_when_storage_fails(app, alice_api, tmp_path):
    from app.storage import get_storage

    image_id = alice_api.upload().get_json()["id"]
    with app.app_context():
        storage = get_storage()
    original = storage.delete_many
    storage.delete_many = lambda keys: {k: "boom" for k in keys}
    try:
        response = alice_api.delete(f"/api/v1/images/{image_id}?permanent=true",
                                    headers=confirm())
    finally:
        storage.delete_many = original
    assert response.status_code == 503 and response.get_json()["code"] == "storage_error"
    row = image_row(app, image_id)
    # In the trash and restorable until the purge retries (SPEC section 5).
    assert row is not None and row.is_deleted and row.purge_state is None
    assert len(object_files(tmp_path)) == 2


def test_bulk_restore_lists_what_it_skips(alice_api, api_for, make_user):
    a, b, c = (alice_api.upload().get_json()["id"] for _ in range(3))
    for image_id in (a, b):
        alice_api.delete(f"/api/v1/images/{image_id}", headers=confirm())
    bob_image = api_for(make_user("bob")).upload().get_json()["id"]
    response = alice_api.post("/api/v1/trash/restore",
                              json={"ids": [a, b, c, bob_image, "not-a-uuid"]})
    assert response.status_code == 200
    body = response.get_json()
    assert body["restored"] == 2 and body["remaining"] == 0
    assert {(s["id"], s["code"]) for s in body["skipped"]} == {
        (c, "not_in_trash"), (bob_image, "not_found"), ("not-a-uuid", "not_found")}


def test_bulk_restore_all(alice_api):
    ids = [alice_api.upload().get_json()["id"] for _ in range(3)]
    for image_id in ids:
        alice_api.delete(f"/api/v1/images/{image_id}", headers=confirm())
    body = alice_api.post("/api/v1/trash/restore", json={"all": True}).get_json()
    assert body == {"restored": 3, "skipped": [], "remaining": 0}
    assert len(alice_api.get("/api/v1/images").get_json()["items"]) == 3


def test_an_empty_bulk_restore_restores_nothing_and_says_what_is_left(app, alice_api):
    """SPEC section 5: an empty ``ids`` list is no error (200, ``restored`` 0)."""
    image_id = alice_api.upload().get_json()["id"]
    alice_api.delete(f"/api/v1/images/{image_id}", headers=confirm())
    state = snapshot(app)
    response = alice_api.post("/api/v1/trash/restore", json={"ids": []})
    assert response.status_code == 200
    assert response.get_json() == {"restored": 0, "skipped": [], "remaining": 1}
    assert snapshot(app) == state


@pytest.mark.parametrize("payload", [None, [], {}, {"ids": "x"}, {"ids": [1]},
                                     {"all": "yes"}])
def test_bulk_restore_bad_input_is_400(app, alice_api, payload):
    state = snapshot(app)
    response = alice_api.post("/api/v1/trash/restore", json=payload)
    assert response.status_code == 400
    assert snapshot(app) == state


def test_empty_trash_deletes_only_the_callers_trash(app, alice_api, api_for, make_user,
                                                    tmp_path):
    keep = alice_api.upload().get_json()["id"]
    gone = [alice_api.upload().get_json()["id"] for _ in range(3)]
    for image_id in gone:
        alice_api.delete(f"/api/v1/images/{image_id}", headers=confirm())
    bob = api_for(make_user("bob"))
    bobs = bob.upload().get_json()["id"]
    bob.delete(f"/api/v1/images/{bobs}", headers=confirm())
    response = alice_api.delete("/api/v1/trash", headers=confirm())
    assert response.status_code == 200
    body = response.get_json()
    assert (body["deleted"], body["remaining"]) == (3, 0)
    assert body["bytes_freed"] > 0
    assert all(image_row(app, i) is None for i in gone)
    assert image_row(app, keep) is not None and image_row(app, bobs) is not None
    assert len(object_files(tmp_path)) == 4


def test_empty_trash_skips_rows_being_purged(app, alice_api):
    from app.core.extensions import db
    from app.images.models import Image

    busy = alice_api.upload().get_json()["id"]
    alice_api.delete(f"/api/v1/images/{busy}", headers=confirm())
    with app.app_context():
        db.session.execute(db.update(Image).where(Image.id == image_row(app, busy).id)
                           .values(purge_state="purging", claim_id="run:other"))
        db.session.commit()
    body = alice_api.delete("/api/v1/trash", headers=confirm()).get_json()
    assert (body["deleted"], body["remaining"]) == (0, 1)
    assert image_row(app, busy).claim_id == "run:other"


def test_days_left_and_expires_soon(app, alice_api):
    from app.core.extensions import db
    from app.images.models import Image

    image_id = alice_api.upload().get_json()["id"]
    alice_api.delete(f"/api/v1/images/{image_id}", headers=confirm())
    with app.app_context():
        row = image_row(app, image_id)
        db.session.execute(db.update(Image).where(Image.id == row.id).values(
            purge_after=datetime.now(row.deleted_at.tzinfo) + timedelta(days=2, hours=1)))
        db.session.commit()
    item = alice_api.get("/api/v1/trash").get_json()["items"][0]
    assert item["days_left"] == 3
    assert item["expires_soon"] is True
