"""Issue 18, item 16 (code-review N4): an image that lost some of its objects (one key
failed, the others were deleted) stays claimed and is finished by the purge; it is never
given back to the trash as restorable with its original gone."""

from __future__ import annotations

import pytest

from app.purge.service import purge_expired
from tests.helpers import image_row, object_files
from tests.purge.conftest import FlakyStorage

CONFIRM = {"X-Confirm-Delete": "yes"}


@pytest.fixture
def thumbnail_fails(app):
    """The storage refuses to delete thumbnails; originals go."""
    inner = app.extensions["papelera.storage"]

    class ThumbnailsStay(FlakyStorage):
        def delete_many(self, keys):
            keys = list(keys)
            self.fail = {k for k in keys if k.startswith("thumbnails/")}
            return super().delete_many(keys)

    app.extensions["papelera.storage"] = ThumbnailsStay(inner)
    yield
    app.extensions["papelera.storage"] = inner


def _delete(alice_api, image_id, how):
    if how == "permanent":
        return alice_api.delete(f"/api/v1/images/{image_id}?permanent=true", headers=CONFIRM)
    assert alice_api.delete(f"/api/v1/images/{image_id}", headers=CONFIRM).status_code == 200
    return alice_api.delete("/api/v1/trash", headers=CONFIRM)


@pytest.mark.parametrize("how", ["permanent", "empty_trash"])
def test_a_partly_deleted_image_stays_claimed_and_the_purge_finishes_it(
        app, alice_api, tmp_path, thumbnail_fails, how):
    image_id = alice_api.upload().get_json()["id"]
    row = image_row(app, image_id)
    response = _delete(alice_api, image_id, how)
    assert response.status_code in (200, 503)
    assert row.storage_key not in object_files(tmp_path)  # the original is gone
    after = image_row(app, image_id)
    assert after.purge_state == "purging"  # not back in the trash
    restore = alice_api.post(f"/api/v1/images/{image_id}/restore")
    assert restore.status_code == 409, restore.get_json()
    assert image_id not in [i["id"] for i in alice_api.get("/api/v1/images").get_json()["items"]]

    app.extensions["papelera.storage"] = app.extensions["papelera.storage"].inner
    with app.app_context():
        report = purge_expired()
    assert report.deleted == 1
    assert image_row(app, image_id) is None
    assert object_files(tmp_path) == set()


def test_an_untouched_image_still_goes_back_to_the_trash(app, alice_api):
    """Nothing deleted (the store refused every key): restorable, as before."""
    image_id = alice_api.upload().get_json()["id"]
    inner = app.extensions["papelera.storage"]
    app.extensions["papelera.storage"] = FlakyStorage(inner, down=True)
    try:
        assert _delete(alice_api, image_id, "permanent").status_code == 503
    finally:
        app.extensions["papelera.storage"] = inner
    assert image_row(app, image_id).purge_state is None
    assert alice_api.post(f"/api/v1/images/{image_id}/restore").status_code == 200
