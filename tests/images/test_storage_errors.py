"""A permanent delete that meets a storage error: 503 storage_error, audited as error, and
the image stays in the trash, restorable, until the purge retries (SPEC section 5)."""

from __future__ import annotations

import io

import pytest

from app.core.db import utcnow
from app.purge.service import purge_expired
from app.storage import StorageError
from tests.conftest import USER_PASSWORD, png_bytes
from tests.helpers import Browser, audit_count, audit_since, image_row, last_audit, object_files


class BrokenDeletes:
    """The app's storage, except that delete_many fails: raising, or refusing each key."""

    def __init__(self, inner, *, raises: bool):
        self.inner, self.raises = inner, raises

    def delete_many(self, keys):
        if self.raises:
            raise StorageError("the object store is unreachable")
        return {key: "AccessDenied: refused" for key in keys}

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture(params=[True, False], ids=["raises", "refuses-keys"])
def broken_deletes(request, app):
    inner = app.extensions["papelera.storage"]
    app.extensions["papelera.storage"] = BrokenDeletes(inner, raises=request.param)
    yield
    app.extensions["papelera.storage"] = inner


def permanent_delete(api, image_id):
    return api.delete(f"/api/v1/images/{image_id}?permanent=true",
                      headers={"X-Confirm-Delete": "yes"})


@pytest.mark.usefixtures("broken_deletes")
def test_a_failed_permanent_delete_is_a_503_and_the_image_stays_restorable(
        app, alice_api, tmp_path):
    image_id = alice_api.upload().get_json()["id"]
    files = object_files(tmp_path)
    before = audit_count(app)
    response = permanent_delete(alice_api, image_id)
    assert response.status_code == 503
    assert response.get_json()["code"] == "storage_error"
    # What was recorded: the attempt, then its failure with the code the client got.
    assert audit_since(app, before) == [("permanent_delete", "started"),
                                        ("permanent_delete", "error")]
    assert last_audit(app).details["code"] == "storage_error"
    # What happened: nothing deleted, the image in the trash, not claimed, due at once.
    row = image_row(app, image_id)
    assert row.is_deleted and row.purge_state is None and row.claim_id is None
    assert row.purge_after <= utcnow()
    assert object_files(tmp_path) == files
    trash = alice_api.get("/api/v1/trash").get_json()["items"]
    assert [item["id"] for item in trash] == [image_id]
    restored = alice_api.post(f"/api/v1/images/{image_id}/restore")
    assert restored.status_code == 200, restored.get_json()
    assert not image_row(app, image_id).is_deleted


def test_the_purge_retries_what_a_failed_permanent_delete_left(app, alice_api, tmp_path):
    image_id = alice_api.upload().get_json()["id"]
    inner = app.extensions["papelera.storage"]
    app.extensions["papelera.storage"] = BrokenDeletes(inner, raises=True)
    try:
        assert permanent_delete(alice_api, image_id).status_code == 503
    finally:
        app.extensions["papelera.storage"] = inner
    with app.app_context():
        report = purge_expired()
    assert report.deleted == 1
    assert image_row(app, image_id) is None and object_files(tmp_path) == set()


@pytest.mark.usefixtures("broken_deletes")
def test_the_trash_page_delete_fails_the_same_way(app, alice, alice_api):
    image_id = alice_api.upload().get_json()["id"]
    alice_api.delete(f"/api/v1/images/{image_id}", headers={"X-Confirm-Delete": "yes"})
    browser = Browser(app.test_client(), alice.username, USER_PASSWORD)
    response = browser.request("DELETE", f"/trash/items/{image_id}",
                               headers={"X-Confirm-Delete": "yes"})
    assert response.status_code == 503
    row = image_row(app, image_id)
    assert row.is_deleted and row.purge_state is None


class BrokenUpload:
    """The thumbnail cannot be stored, and the cleanup of the original fails as well."""

    def __init__(self, inner):
        self.inner, self.puts = inner, 0

    def put(self, key, data, content_type):
        self.puts += 1
        if self.puts == 2:
            raise StorageError("the thumbnail could not be stored")
        return self.inner.put(key, data, content_type)

    def delete_many(self, keys):
        raise RuntimeError("the cleanup failed too")

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_failed_cleanup_does_not_hide_the_upload_error(app, alice_api):
    inner = app.extensions["papelera.storage"]
    app.extensions["papelera.storage"] = BrokenUpload(inner)
    try:
        response = alice_api.post("/api/v1/images",
                                  data={"file": (io.BytesIO(png_bytes()), "p.png")},
                                  content_type="multipart/form-data")
    finally:
        app.extensions["papelera.storage"] = inner
    # The storage error is answered (503 unavailable), not the cleanup's (500).
    assert response.status_code == 503, response.get_json()
    assert response.get_json()["code"] == "unavailable"
