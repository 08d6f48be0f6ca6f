"""The purge against a real S3 server (SeaweedFS): DeleteObjects in calls of 1000 keys."""

from __future__ import annotations

import pytest

from app.core.db import utcnow
from app.purge.service import purge_expired
from app.storage import get_storage
from app.users.repository import get_users
from app.users.service import create_user
from tests.purge.conftest import EXPIRED, TRASHED, add_images, assert_consistent, image_rows

pytestmark = pytest.mark.s3


def test_a_batch_over_1000_keys_takes_two_delete_objects_calls(s3_app):
    app = s3_app
    with app.app_context():
        owner = create_user(get_users(), username="s3owner", email="s3owner@example.com",
                            password="s3-password-1", now=utcnow())
        storage = get_storage()
    add_images(app, owner.id, 501, EXPIRED, storage=storage)  # 1002 keys in one batch
    kept = add_images(app, owner.id, 2, TRASHED, storage=storage)
    sizes = []
    storage.client.meta.events.register(
        "provide-client-params.s3.DeleteObjects",
        lambda params, **_: sizes.append(len(params["Delete"]["Objects"])))
    with app.app_context():
        report = purge_expired(storage=storage, batch_size=501)
    assert (report.deleted, report.errors, report.remaining) == (501, 0, 0)
    assert sizes == [1000, 2]  # every key, never more than 1000 a call
    assert set(image_rows(app)) == set(kept)
    assert_consistent(app)
