"""Variants: rendered once, stored under server-made keys, deleted and counted by the purge."""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, update

from app.core.db import utcnow
from app.core.extensions import db
from app.images.models import Image, ImageVariant
from tests.helpers import image_row, object_files
from tests.media.conftest import picture

CONFIRM = {"X-Confirm-Delete": "yes"}


@pytest.fixture
def image(alice_api):
    return alice_api.upload(picture(), name="holiday.png").get_json()


def variants(app, image_id) -> list[ImageVariant]:
    with app.app_context():
        rows = db.session.execute(select(ImageVariant).where(
            ImageVariant.image_id == uuid.UUID(image_id))).scalars().all()
        db.session.commit()
        return rows


def test_a_variant_is_rendered_and_stored_once(app, alice_api, image, tmp_path):
    app.config["MEDIA_CONFIG"] = {"cache_enabled": False}  # every request reaches storage
    before = object_files(tmp_path)
    first = alice_api.get(image["url"] + "?w=320&fmt=webp&q=70")
    second = alice_api.get(image["url"] + "?w=320&fmt=webp&q=70")
    assert first.status_code == second.status_code == 200
    assert first.data == second.data
    [row] = variants(app, image["id"])
    assert (row.width, row.fmt, row.quality, row.bytes) == (320, "webp", 75, len(first.data))
    added = object_files(tmp_path) - before
    assert added == {row.key}
    assert row.key.startswith("variants/") and "holiday" not in row.key
    assert image_row(app, image["id"]).variant_bytes == len(first.data)
    # Another quality step is another variant.
    alice_api.get(image["url"] + "?w=320&fmt=webp&q=40")
    assert len(variants(app, image["id"])) == 2


def test_defaults_are_webp_at_75_and_the_original_width(app, alice_api, image):
    response = alice_api.get(image["url"] + "?fmt=png")
    assert response.headers["Content-Type"] == "image/png"
    alice_api.get(image["url"] + "?w=640")
    kinds = {(v.width, v.fmt, v.quality) for v in variants(app, image["id"])}
    assert kinds == {(640, "png", 100), (640, "webp", 75)}


@pytest.mark.parametrize(("asked", "stored"), [(30, 40), (50, 40), (51, 60), (67, 60),
                                                (68, 75), (80, 75), (81, 85), (90, 85),
                                                (91, 95), (95, 95)])
def test_qualities_snap_to_a_few_steps(app, alice_api, image, asked, stored):
    """40/60/75/85/95 (a tie goes to the smaller file): every q names one of five copies."""
    response = alice_api.get(image["url"] + f"?w=320&fmt=jpeg&q={asked}")
    assert response.status_code == 200
    assert response.headers["ETag"].endswith(f'-w320-q{stored}.jpeg"')
    [row] = variants(app, image["id"])
    assert (row.fmt, row.quality) == ("jpeg", stored)


def test_q_means_nothing_to_png_and_one_copy_is_stored(app, alice_api, image):
    tags = {alice_api.get(image["url"] + f"?w=320&fmt=png&q={q}").headers["ETag"]
            for q in (30, 40, 61, 80, 95)}
    assert len(tags) == 1 and tags.pop().endswith('-w320.png"')
    [row] = variants(app, image["id"])
    assert (row.width, row.fmt, row.quality) == (320, "png", 100)


def test_the_purge_deletes_variants_and_counts_their_bytes(app, alice_api, admin_api, image,
                                                           tmp_path):
    sizes = [len(alice_api.get(image["url"] + q).data)
             for q in ("?w=320&fmt=webp", "?w=640&fmt=jpeg")]
    keys = {v.key for v in variants(app, image["id"])}
    assert keys <= object_files(tmp_path)
    row = image_row(app, image["id"])
    total = row.size_bytes + row.thumbnail_bytes + sum(sizes)
    alice_api.delete(f"/api/v1/images/{image['id']}", headers=CONFIRM)
    with app.app_context():
        db.session.execute(update(Image).where(Image.id == row.id)
                           .values(purge_after=utcnow() - timedelta(days=1)))
        db.session.commit()

    dry = admin_api.delete("/api/v1/admin/purge?dry_run=true")
    assert dry.status_code == 200 and dry.get_json()["consequences"]["bytes"] == total
    assert admin_api.get("/api/v1/admin/purge").get_json()["items"][0]["size_bytes"] == total

    run = admin_api.delete("/api/v1/admin/purge", headers=CONFIRM)
    assert run.status_code == 200
    assert run.get_json()["bytes_freed"] == total
    assert object_files(tmp_path) == set()
    assert variants(app, image["id"]) == []


def test_permanent_delete_counts_variants_in_its_dry_run_and_frees_them(app, alice_api, image,
                                                                        tmp_path):
    size = len(alice_api.get(image["url"] + "?w=320").data)
    row = image_row(app, image["id"])
    total = row.size_bytes + row.thumbnail_bytes + size
    path = f"/api/v1/images/{image['id']}?permanent=true"
    dry = alice_api.delete(path + "&dry_run=true")
    assert dry.get_json()["consequences"]["bytes"] == total
    gone = alice_api.delete(path, headers=CONFIRM)
    assert gone.get_json()["deletion"]["bytes_freed"] == total
    assert object_files(tmp_path) == set()


def test_user_deletion_counts_and_deletes_variants(app, alice, alice_api, admin_api, image,
                                                   tmp_path):
    size = len(alice_api.get(image["url"] + "?w=320").data)
    row = image_row(app, image["id"])
    path = f"/api/v1/users/{alice.id}?permanent=true&force=true"
    dry = admin_api.delete(path + "&dry_run=true")
    assert dry.get_json()["consequences"]["bytes"] == row.size_bytes + row.thumbnail_bytes + size
    done = admin_api.delete(path, headers={"X-Confirm-Delete": "alice"})
    assert done.status_code == 200
    assert done.get_json()["deletion"]["bytes_freed"] == (row.size_bytes + row.thumbnail_bytes
                                                          + size)
    assert object_files(tmp_path) == set()


def test_no_variant_is_added_to_an_image_being_purged(app, alice_api, image, tmp_path):
    with app.app_context():
        db.session.execute(update(Image).where(Image.id == uuid.UUID(image["id"]))
                           .values(purge_state="purging", claim_id="run:x"))
        db.session.commit()
    before = object_files(tmp_path)
    assert alice_api.get(image["url"] + "?w=320").status_code == 404
    assert variants(app, image["id"]) == []
    assert object_files(tmp_path) == before


def test_a_claim_that_wins_the_race_makes_the_renderer_give_up(app, alice_api, image,
                                                               tmp_path):
    """The image was servable when the request checked, then a purge claimed it."""
    from app.core.errors import NotFound
    from app.media.service import Variant, ensure_variant
    from app.storage import get_storage

    with app.app_context():
        loaded = db.session.get(Image, uuid.UUID(image["id"]))
        db.session.commit()  # the request's read ends; the purge's claim is another writer
        db.session.execute(update(Image).where(Image.id == loaded.id)
                           .values(purge_state="purging", claim_id="run:x"))
        db.session.commit()
        before = object_files(tmp_path)
        with pytest.raises(NotFound):
            ensure_variant(loaded, Variant("render", 320, "webp", 80), get_storage(),
                           now=utcnow())
    assert object_files(tmp_path) == before
    assert variants(app, image["id"]) == []
    assert image_row(app, image["id"]).variant_bytes == 0


def test_the_doctor_knows_stored_variants_and_finds_orphan_ones(app, alice_api, image,
                                                                tmp_path):
    alice_api.get(image["url"] + "?w=320")
    [row] = variants(app, image["id"])
    (tmp_path / "objects" / "variants" / "crashed.webp").write_bytes(b"left behind")
    report = app.test_cli_runner().invoke(args=["doctor", "--min-age-minutes", "0"])
    assert "orphan object (no row): variants/crashed.webp" in report.output
    assert row.key not in report.output
    assert "row without its objects" not in report.output


# -- bounded work (issue 18 item 6) ------------------------------------------------------

def link_to(alice_api, image) -> str:
    url = alice_api.post(f"/api/v1/images/{image['id']}/share", json={"ttl_s": 3600}) \
        .get_json()["url"]
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_a_share_link_renders_only_listed_widths_at_the_default(app, client, alice_api,
                                                                image):
    link = link_to(alice_api, image)
    for form, option in (("&w=320&fmt=png", "fmt"), ("&w=320&fmt=jpeg&q=75", "fmt"),
                         ("&w=320&q=40", "q"), ("&w=320&q=95", "q"), ("&fmt=webp", "w"),
                         ("&q=75", "w")):
        response = client.get(link + form)
        assert response.status_code == 400, form
        assert (response.get_json()["code"], response.get_json()["option"]) == \
            ("invalid_option", option), form
        assert response.headers["Cache-Control"] == "no-store"
    assert variants(app, image["id"]) == []
    for form in ("", "&w=320", "&w=2048", "&w=640&q=75", "&w=640&q=78&fmt=webp",
                 "&download=1"):
        assert client.get(link + form).status_code == 200, form
    assert client.get(link.replace("?", "/thumb?")).status_code == 200
    # The picture's own width is stored now (w=2048 on a 640-wide image): no w is that one.
    assert client.get(link + "&fmt=webp").status_code == 200
    kinds = {(v.width, v.fmt, v.quality) for v in variants(app, image["id"])}
    assert kinds == {(320, "webp", 75), (640, "webp", 75)}
    # What the owner had rendered, a link may fetch as it is.
    assert alice_api.get(image["url"] + "?w=320&fmt=png").status_code == 200
    assert client.get(link + "&w=320&fmt=png").status_code == 200
    assert client.get(link + "&w=320&fmt=png&q=40").status_code == 200  # q means nothing
    assert len(variants(app, image["id"])) == 3


def test_past_the_cap_the_least_recently_used_variant_goes_with_its_bytes(
        app, alice_api, image, tmp_path, monkeypatch):
    import app.media.views as media_views

    app.config["MEDIA_MAX_VARIANTS_PER_IMAGE"] = 3
    app.config["MEDIA_CONFIG"] = {"cache_enabled": False}  # every use reaches storage
    start = utcnow()
    clock = {"now": start}
    monkeypatch.setattr(media_views, "utcnow", lambda: clock["now"])

    def fetch(q, hours):
        clock["now"] = start + timedelta(hours=hours)
        response = alice_api.get(image["url"] + f"?w=320&fmt=jpeg&q={q}")
        assert response.status_code == 200
        return response

    fetch(40, 0)
    fetch(60, 1)
    fetch(75, 2)
    keys = {v.quality: v.key for v in variants(app, image["id"])}
    fetch(40, 3)  # used again: now the most recent but one
    fetch(85, 4)  # the fourth: 60, the least recently used, goes
    rows = variants(app, image["id"])
    assert {v.quality for v in rows} == {40, 75, 85}
    files = object_files(tmp_path)
    assert keys[60] not in files and {v.key for v in rows} <= files
    assert image_row(app, image["id"]).variant_bytes == sum(v.bytes for v in rows)
    # Asked for again, it is rendered again (and the least recently used goes).
    fetch(60, 5)
    assert {v.quality for v in variants(app, image["id"])} == {40, 85, 60}


def test_the_cap_also_evicts_the_cached_copies(app, alice_api, image):
    app.config["MEDIA_MAX_VARIANTS_PER_IMAGE"] = 1
    first = alice_api.get(image["url"] + "?w=320&fmt=jpeg&q=40")
    assert first.headers["X-Cache"] == "MISS"
    alice_api.get(image["url"] + "?w=320&fmt=jpeg&q=60")
    again = alice_api.get(image["url"] + "?w=320&fmt=jpeg&q=40")
    assert again.headers["X-Cache"] == "MISS" and again.data == first.data


def test_every_render_waits_for_a_decode_slot(app, client, alice_api, image):
    from app.images.processing import DecodeSlots

    slots = DecodeSlots(1, 0.05)
    app.extensions["papelera.decode_slots"] = slots
    link = link_to(alice_api, image)
    slots.acquire()  # an upload (or another render) holds the only slot
    try:
        for who, url in ((alice_api, image["url"] + "?w=320&fmt=jpeg"), (client, link + "&w=320")):
            busy = who.get(url)
            assert busy.status_code == 503
            assert busy.get_json()["code"] == "busy"
            assert int(busy.headers["Retry-After"]) >= 1
            assert busy.headers["Cache-Control"] == "no-store"
        assert variants(app, image["id"]) == []
        # What needs no render is served meanwhile.
        assert alice_api.get(image["url"]).status_code == 200
        assert client.get(link.replace("?", "/thumb?")).status_code == 200
    finally:
        slots.release()
    assert client.get(link + "&w=320").status_code == 200
