"""The per-owner counters (issue 19 item 2): after every path that changes an image they
equal a recount of the rows, on both engines; a rollback takes its deltas with it; and
``flask doctor --counters`` finds and repairs an injected drift."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.core.db import utcnow
from app.core.extensions import db
from app.core.uow import UnitOfWorkWarning, unit_of_work
from app.images import counters
from app.images.erasure import claim, new_claim_id
from app.images.models import Image, OwnerTotals, with_trashed
from app.images.service import release_claim
from app.storage import get_storage
from tests.conftest import USER_PASSWORD, png_bytes
from tests.helpers import Browser, audit_refused, image_row, last_audit

YES = {"X-Confirm-Delete": "yes"}


def recounted(app) -> dict[str, tuple[int, ...]]:
    """Every owner's numbers counted from the rows, one image at a time in Python (not
    the module's own grouped query): what the counters must say."""
    with app.app_context():
        rows = db.session.execute(with_trashed(select(
            Image.owner_id, Image.is_deleted, Image.purge_state, Image.size_bytes,
            Image.thumbnail_bytes, Image.variant_bytes))).all()
        db.session.rollback()
    found: dict[str, list[int]] = {}
    for row in rows:
        mine = found.setdefault(row.owner_id, [0] * 6)
        size = row.size_bytes + row.thumbnail_bytes + row.variant_bytes
        if row.is_deleted:
            mine[2] += 1
            mine[3] += size
            if row.purge_state == "purging":
                mine[4] += 1
                mine[5] += size
        else:
            mine[0] += 1
            mine[1] += size
    return {owner: tuple(values) for owner, values in found.items()}


def stored(app) -> dict[str, tuple[int, ...]]:
    with app.app_context():
        rows = db.session.execute(select(OwnerTotals.owner_id, *(
            getattr(OwnerTotals, name) for name in counters.COUNTED))).all()
        db.session.rollback()
    return {row[0]: tuple(row[1:]) for row in rows if any(row[1:])}


def assert_exact(app) -> dict[str, tuple[int, ...]]:
    expected = recounted(app)
    assert stored(app) == expected
    with app.app_context():
        assert list(counters.drift()) == []
        total = counters.global_totals()
        db.session.rollback()
    assert total.counted() == tuple(sum(v[i] for v in expected.values()) for i in range(6))
    return expected


def trash(api, image_id):
    assert api.delete(f"/api/v1/images/{image_id}", headers=YES).status_code == 200


def upload(api, n=1) -> list[str]:
    return [api.upload(png_bytes(color=(n, i, 7))).get_json()["id"] for i in range(n)]


def test_upload_trash_restore_keep_the_counters_exact(app, alice_api):
    alice = alice_api.user.id
    ids = upload(alice_api, 3)
    assert assert_exact(app)[alice][:2] == (3, sum(_size(app, i) for i in ids))
    trash(alice_api, ids[0])
    trash(alice_api, ids[0])  # again: nothing moves
    numbers = assert_exact(app)[alice]
    assert numbers[0] == 2 and numbers[2] == 1
    assert alice_api.post(f"/api/v1/images/{ids[0]}/restore").status_code == 200
    assert alice_api.post(f"/api/v1/images/{ids[0]}/restore").status_code == 409
    assert assert_exact(app)[alice][:4] == (3, sum(_size(app, i) for i in ids), 0, 0)


def _size(app, image_id) -> int:
    row = image_row(app, image_id)
    return row.size_bytes + row.thumbnail_bytes + row.variant_bytes


def test_bulk_trash_bulk_restore_and_restore_all(app, alice, alice_api):
    ids = upload(alice_api, 5)
    browser = Browser(app.test_client(), alice.username, USER_PASSWORD)  # its own cookies
    query = "&".join(f"ids={i}" for i in ids[:4])
    gone = browser.request("DELETE", f"/images/selected?{query}", headers=YES)
    assert gone.status_code == 200
    assert assert_exact(app)[alice.id][0] == 1
    # The gallery line in that answer already counts the change (read inside the unit).
    assert re.search(r'id="gallery-count"[^>]*>1 photo ', gone.text)
    back = alice_api.post("/api/v1/trash/restore", json={"ids": ids[:2]})
    assert back.get_json()["restored"] == 2 and back.get_json()["remaining"] == 2
    assert assert_exact(app)[alice.id][:3:2] == (3, 2)
    every = alice_api.post("/api/v1/trash/restore", json={"all": True})
    assert every.get_json() == {"restored": 2, "skipped": [], "remaining": 0}
    assert assert_exact(app)[alice.id][:3:2] == (5, 0)


def test_permanent_delete_empty_trash_and_a_failed_store(app, alice_api):
    alice = alice_api.user.id
    active, trashed, kept, failing = upload(alice_api, 4)
    trash(alice_api, trashed)
    for image_id in (active, trashed):
        assert alice_api.delete(f"/api/v1/images/{image_id}?permanent=true",
                                headers=YES).status_code == 200
    assert assert_exact(app)[alice][:3:2] == (2, 0)
    # The store fails: claimed, then released back to the trash; the counters follow.
    with app.app_context():
        storage = get_storage()
    original = storage.delete_many
    storage.delete_many = lambda keys: {k: "boom" for k in keys}
    try:
        assert alice_api.delete(f"/api/v1/images/{failing}?permanent=true",
                                headers=YES).status_code == 503
    finally:
        storage.delete_many = original
    assert assert_exact(app)[alice] == (1, _size(app, kept), 1, _size(app, failing), 0, 0)
    trash(alice_api, kept)
    emptied = alice_api.delete("/api/v1/trash", headers=YES).get_json()
    assert emptied["deleted"] == 2 and emptied["remaining"] == 0
    assert alice not in assert_exact(app)


def test_purge_run_and_rows_being_purged(app, alice_api, admin_api):
    alice = alice_api.user.id
    ids = upload(alice_api, 4)
    for image_id in ids:
        trash(alice_api, image_id)
    with app.app_context():  # two are due
        db.session.execute(with_trashed(update(Image).where(
            Image.id.in_([uuid.UUID(i) for i in ids[:2]]))
            .values(purge_after=utcnow() - timedelta(days=1))))
        db.session.commit()
    with app.app_context():  # time-dependent: an index range, not a counter
        assert counters.due_count(utcnow()) == 2
        assert counters.due_count(utcnow() - timedelta(days=2)) == 0
        db.session.rollback()
    dry = admin_api.delete("/api/v1/admin/purge?dry_run=true").get_json()
    assert dry["consequences"]["images"] == 2
    assert admin_api.delete("/api/v1/admin/purge", headers=YES).get_json()["deleted"] == 2
    numbers = assert_exact(app)[alice]
    assert numbers[2] == 2
    # A claim (rows being purged) is counted as trash until the row goes.
    with app.app_context():
        claim_id = new_claim_id("test")
        assert claim(Image.id == uuid.UUID(ids[2]), claim_id=claim_id, now=utcnow(),
                     limit=1) == 1
        totals = counters.owner_totals(alice)
        db.session.rollback()
    assert (totals.trashed_count, totals.purging_count, totals.deletable_count) == (2, 1, 1)
    assert assert_exact(app)[alice][4] == 1
    preview = alice_api.delete("/api/v1/trash?dry_run=true").get_json()["consequences"]
    assert (preview["images"], preview["bytes"]) == (1, _size(app, ids[3]))
    with app.app_context():
        release_claim(claim_id)
    assert assert_exact(app)[alice][4] == 0


def test_user_deletion_and_its_dry_run(app, admin_api, api_for, make_user):
    bob = make_user("bob")
    bob_api = api_for(bob)
    ids = upload(bob_api, 3)
    trash(bob_api, ids[0])
    sizes = sum(_size(app, i) for i in ids)
    refused = admin_api.delete(f"/api/v1/users/{bob.id}?permanent=true")
    assert refused.status_code == 409
    assert refused.get_json()["dependencies"] == {"images": 3, "objects": 6, "bytes": sizes,
                                                  "trash_items": 1}
    dry = admin_api.delete(f"/api/v1/users/{bob.id}?permanent=true&force=true&dry_run=true")
    assert dry.get_json()["consequences"] == {"images": 3, "objects": 6, "bytes": sizes,
                                              "trash_items": 1}
    done = admin_api.delete(f"/api/v1/users/{bob.id}?permanent=true&force=true",
                            headers={"X-Confirm-Delete": bob.username})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["deletion"]["images_deleted"] == 3
    assert bob.id not in assert_exact(app)


def test_a_variant_stored_and_evicted_moves_the_bytes(app, alice_api):
    from tests.media.conftest import picture

    app.config["MEDIA_MAX_VARIANTS_PER_IMAGE"] = 1
    image = alice_api.upload(picture(), name="holiday.png").get_json()
    before = assert_exact(app)[alice_api.user.id][1]
    assert alice_api.get(image["url"] + "?w=320&fmt=jpeg&q=40").status_code == 200
    one = assert_exact(app)[alice_api.user.id][1]
    assert one > before and image_row(app, image["id"]).variant_bytes == one - before
    assert alice_api.get(image["url"] + "?w=320&fmt=jpeg&q=95").status_code == 200
    assert assert_exact(app)[alice_api.user.id][1] == before + \
        image_row(app, image["id"]).variant_bytes  # the first one went with its bytes
    trash(alice_api, image["id"])  # a trashed image's variants count in the trash
    assert assert_exact(app)[alice_api.user.id][3] == _size(app, image["id"])


def test_a_change_that_rolls_back_takes_its_deltas_with_it(app, alice_api):
    image_id = upload(alice_api)[0]
    before = assert_exact(app)
    with audit_refused(app):
        assert alice_api.delete(f"/api/v1/images/{image_id}", headers=YES).status_code == 503
    assert assert_exact(app) == before
    with app.app_context():
        with pytest.raises(RuntimeError), unit_of_work():
            counters.uploaded("ghost", 5)
            assert counters.owner_totals("ghost").active_count == 1  # reads its own writes
            raise RuntimeError("undo")
        assert counters.owner_totals("ghost").active_count == 0
        db.session.rollback()
        # Outside a unit: warned (an error in the suite), and written in the session's
        # transaction at once, so it still commits or rolls back with the change.
        with pytest.warns(UnitOfWorkWarning):
            counters.uploaded("ghost", 5)
        assert counters.owner_totals("ghost").active_count == 1
        db.session.rollback()
        assert counters.owner_totals("ghost").active_count == 0
        db.session.rollback()


def test_doctor_finds_and_repairs_injected_drift(app, alice_api):
    alice = alice_api.user.id
    upload(alice_api, 2)
    right = assert_exact(app)[alice]
    with app.app_context():
        db.session.execute(update(OwnerTotals).where(OwnerTotals.owner_id == alice)
                           .values(active_count=OwnerTotals.active_count + 5,
                                   trashed_bytes=-3))
        db.session.execute(counters._TABLE.insert().values(owner_id="ghost", active_count=1))
        db.session.commit()
    runner = app.test_cli_runner()
    report = runner.invoke(args=["doctor", "--counters", "--dry-run"])
    assert report.exit_code == 1, report.output
    assert f"drift for owner {alice}: active_count 7 -> 2, trashed_bytes -3 -> 0" \
        in report.output
    assert "drift for owner ghost: active_count 1 -> 0" in report.output
    assert stored(app)[alice] != right  # a dry run changes nothing
    fixed = runner.invoke(args=["doctor", "--counters"])
    assert fixed.exit_code == 0, fixed.output
    assert "repaired the counters of 2 owner(s)" in fixed.output
    assert assert_exact(app)[alice] == right
    event = last_audit(app)
    assert event.action == "doctor_counters" and event.details["owners_repaired"] == 2
    again = runner.invoke(args=["doctor", "--counters"])
    assert again.exit_code == 0 and "every counter matches the rows" in again.output



AGGREGATE_OVER_IMAGES = re.compile(r"\b(count|sum)\s*\(.*\bFROM images\b", re.I | re.S)


def test_the_totals_beside_the_lists_read_the_counters_not_the_rows(app, alice, admin_api,
                                                                     alice_api):
    """The gallery's first page, the trash page, /account (the badge), the user modal and
    the user-delete dry run count nothing over ``images`` (scale review F3): their numbers
    are the counters', and they are right."""
    from tests.helpers import insert_images, sql_statements

    with app.app_context():
        insert_images(alice.id, 30)
        insert_images(alice.id, 12, trashed=True)
    browser = Browser(app.test_client(), alice.username, USER_PASSWORD)
    with sql_statements(app) as seen:
        gallery = browser.request("GET", "/", htmx=False)
        trash_page = browser.request("GET", "/trash", htmx=False)
        account = browser.request("GET", "/account", htmx=False)
        modal = admin_api.get(f"/admin/users/{alice.id}/confirm/deactivate")
        dry = admin_api.delete(f"/api/v1/users/{alice.id}?permanent=true&force=true"
                               "&dry_run=true")
    # The one count the gallery still makes is the "Go to date" list's, per month: a
    # bounded range of ix_images_gallery (``created_at >=``), read from the index alone
    # (tests/images/test_months.py), not a total over the owner's rows.
    totals = [s for s in seen if AGGREGATE_OVER_IMAGES.search(s)
              and not re.search(r"images\.created_at >=", s)]
    assert totals == []
    assert "30 photos" in gallery.text and "12 items" in trash_page.text
    assert "12 photos in the trash" in account.text  # the header's badge
    assert modal.status_code == 200 and "42 photos, 12 of them in the trash" in modal.text
    assert dry.get_json()["consequences"] == {"images": 42, "objects": 84,
                                              "bytes": 42 * 1010, "trash_items": 12}
