"""The deactivate dialog counts what is kept in words without "0 of them in the trash"."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN_PASSWORD
from tests.helpers import Browser

YES = {"X-Confirm-Delete": "yes"}


@pytest.mark.parametrize("trashed, sentence", [
    (0, "All their data is kept: 2 photos."),
    (1, "All their data is kept: 2 photos, 1 of them in the trash, which keep their "
        "deletion dates."),
])
def test_the_dialog_says_what_is_kept(app, make_user, api_for, trashed, sentence):
    user = make_user("keeper")
    api = api_for(user)
    ids = [api.upload().get_json()["id"] for _ in range(2)]
    for image_id in ids[:trashed]:
        assert api.delete(f"/api/v1/images/{image_id}", headers=YES).status_code == 200
    admin = Browser(app.test_client(), "founder", ADMIN_PASSWORD)
    modal = admin.request("GET", f"/admin/users/{user.id}/confirm/deactivate")
    assert modal.status_code == 200
    assert sentence in modal.text
    assert "0 of them" not in modal.text
