"""The trash: bulk restore is audited, and emptying it promises exactly what it does."""

from __future__ import annotations

import uuid

from sqlalchemy import update

from app.core.extensions import db
from app.images import counters
from app.images.models import Image, with_trashed
from tests.conftest import USER_PASSWORD, png_bytes
from tests.helpers import (
    Browser,
    audit_count,
    audit_refused,
    audit_since,
    image_row,
    last_audit,
)

YES = {"X-Confirm-Delete": "yes"}


def trash(api, n=1, data=None) -> list[str]:
    ids = []
    for _ in range(n):
        image_id = api.upload(data).get_json()["id"]
        assert api.delete(f"/api/v1/images/{image_id}", headers=YES).status_code == 200
        ids.append(image_id)
    return ids


def test_bulk_restore_writes_one_event_with_the_ids_restored_and_skipped(
        app, alice_api, api_for, make_user):
    mine = trash(alice_api, 2)
    bob_api = api_for(make_user())
    theirs = trash(bob_api)[0]
    active = alice_api.upload().get_json()["id"]
    before = audit_count(app)
    response = alice_api.post("/api/v1/trash/restore",
                              json={"ids": [*mine, theirs, active, "not-an-id"]},
                              headers={"X-Request-ID": "bulk-1"})
    assert response.status_code == 200
    assert response.get_json()["restored"] == 2
    assert audit_since(app, before) == [("restore", "ok")]
    event = last_audit(app)
    assert (event.actor_id, event.request_id) == (alice_api.user.id, "bulk-1")
    assert event.details["ids"] == mine and event.details["restored"] == 2
    assert {(s["id"], s["code"]) for s in event.details["skipped"]} == {
        (theirs, "not_found"), (active, "not_in_trash"), ("not-an-id", "not_found")}
    assert image_row(app, theirs).is_deleted  # someone else's image is left alone


def test_restore_all_is_audited_with_every_id(app, alice_api):
    ids = trash(alice_api, 3)
    before = audit_count(app)
    response = alice_api.post("/api/v1/trash/restore", json={"all": True})
    assert response.get_json() == {"restored": 3, "skipped": [], "remaining": 0}
    assert audit_since(app, before) == [("restore", "ok")]
    assert sorted(last_audit(app).details["ids"]) == sorted(ids)
    assert last_audit(app).details["all"] is True


def test_the_pages_restore_all_is_audited(app, alice, alice_api, client):
    ids = trash(alice_api, 2)
    browser = Browser(client, alice.username, USER_PASSWORD)
    before = audit_count(app)
    response = browser.request("POST", "/trash/restore", data={"all": "true"})
    assert response.status_code == 200 and "Restored 2 items" in response.text
    assert audit_since(app, before) == [("restore", "ok")]
    assert sorted(last_audit(app).details["ids"]) == sorted(ids)
    # Nothing chosen: nothing restored, and the one event of the request says so.
    before = audit_count(app)
    nothing = browser.request("POST", "/trash/restore", data={})
    assert nothing.status_code == 200 and "Select the items to restore first" in nothing.text
    assert audit_since(app, before) == [("restore", "ok")]
    assert (last_audit(app).details["restored"], last_audit(app).details["ids"]) == (0, [])


def test_a_bulk_restore_whose_event_is_refused_restores_nothing(app, alice_api):
    ids = trash(alice_api, 2)
    before = audit_count(app)
    with audit_refused(app):
        response = alice_api.post("/api/v1/trash/restore", json={"ids": ids})
    assert response.status_code == 503
    assert response.get_json()["code"] == "audit_unavailable"
    assert all(image_row(app, i).is_deleted for i in ids)
    assert audit_count(app) == before


def dry_run(api, path="/api/v1/trash"):
    response = api.delete(f"{path}?dry_run=true")
    assert response.status_code == 200
    return response.get_json()


def test_the_dry_run_bytes_are_the_bytes_freed(app, alice_api):
    ids = trash(alice_api, 2)
    preview = dry_run(alice_api)
    expected = sum(image_row(app, i).size_bytes + image_row(app, i).thumbnail_bytes
                   for i in ids)
    assert preview["consequences"]["bytes"] == expected
    real = alice_api.delete("/api/v1/trash", headers=YES).get_json()
    assert real["bytes_freed"] == preview["consequences"]["bytes"]
    assert real["deleted"] == preview["consequences"]["images"] == 2


def mark_purging(app, image_id):
    with app.app_context():
        db.session.execute(with_trashed(
            update(Image).where(Image.id == uuid.UUID(image_id))
            .values(purge_state="purging", claim_id="purge:other:1")
        ).execution_options(synchronize_session=False))
        db.session.commit()
        counters.repair(image_row(app, image_id).owner_id)  # a claim made past the app


def test_the_dry_run_skips_rows_being_purged_like_the_real_call(app, alice_api):
    claimed, free = trash(alice_api, 2)
    mark_purging(app, claimed)
    preview = dry_run(alice_api)
    assert preview["consequences"]["images"] == 1
    assert preview["consequences"]["bytes"] == image_row(app, free).size_bytes + \
        image_row(app, free).thumbnail_bytes
    real = alice_api.delete("/api/v1/trash", headers=YES).get_json()
    assert (real["deleted"], real["bytes_freed"]) == (1, preview["consequences"]["bytes"])
    assert image_row(app, claimed) is not None


def test_the_etag_changes_when_the_contents_change_with_equal_totals(app, alice_api):
    """Swap one trashed image for another of exactly the same size: same count, same
    bytes, but not what the client was shown, so If-Match refuses."""
    same = png_bytes(color=(10, 20, 30))
    first = trash(alice_api, data=same)[0]
    shown = dry_run(alice_api)
    second = alice_api.upload(same).get_json()["id"]
    assert alice_api.post(f"/api/v1/images/{first}/restore").status_code == 200
    assert alice_api.delete(f"/api/v1/images/{second}", headers=YES).status_code == 200
    now = dry_run(alice_api)
    assert now["consequences"] == shown["consequences"]  # equal totals
    response = alice_api.delete("/api/v1/trash", headers={**YES, "If-Match": shown["etag"]})
    assert response.status_code == 412
    assert image_row(app, second).is_deleted and image_row(app, second) is not None
    assert alice_api.delete("/api/v1/trash",
                            headers={**YES, "If-Match": now["etag"]}).status_code == 200


class FailsFor:
    """The app's storage, refusing to delete the keys of some images."""

    def __init__(self, inner, keys):
        self.inner, self.keys = inner, set(keys)

    def delete_many(self, keys):
        keys = list(keys)
        errors = {k: "AccessDenied: refused" for k in keys if k in self.keys}
        errors.update(self.inner.delete_many([k for k in keys if k not in self.keys]))
        return errors

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_emptying_a_trash_the_store_partly_refuses_is_a_503_and_keeps_the_rest(app, alice_api):
    stuck, gone = trash(alice_api, 2)
    row = image_row(app, stuck)
    inner = app.extensions["papelera.storage"]
    # Every key of ``stuck`` refused: it lost nothing, so it may go back to the trash
    # (one that lost some of its objects stays claimed: tests/purge/test_partial_delete.py).
    app.extensions["papelera.storage"] = FailsFor(inner, {row.storage_key, row.thumbnail_key})
    before = audit_count(app)
    try:
        response = alice_api.delete("/api/v1/trash", headers=YES)
    finally:
        app.extensions["papelera.storage"] = inner
    assert response.status_code == 503
    body = response.get_json()
    assert (body["code"], body["deleted"], body["failed"]) == ("storage_error", 1, [stuck])
    # What happened: one deleted, the other back in the trash, restorable.
    assert image_row(app, gone) is None
    left = image_row(app, stuck)
    assert left.is_deleted and left.purge_state is None
    # What was recorded: the attempt, then an error naming what was and was not done.
    assert audit_since(app, before) == [("empty_trash", "started"), ("empty_trash", "error")]
    details = last_audit(app).details
    assert (details["code"], details["deleted"], details["failed"]) == (
        "storage_error", 1, [stuck])
    assert alice_api.post(f"/api/v1/images/{stuck}/restore").status_code == 200
