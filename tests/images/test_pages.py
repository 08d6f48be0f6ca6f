"""The gallery's page routes over HTTP: viewer, optimizer, bulk delete and its Undo, the
zip of a selection, the duplicate check; and `duplicate_of` on the API's upload."""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from datetime import timedelta

import pytest
from flask_babel import format_date
from sqlalchemy import event, select

from app.core.db import utcnow
from app.core.extensions import db
from app.images.models import ImageVariant
from app.images.views import percent_of
from tests.conftest import USER_PASSWORD, png_bytes
from tests.helpers import Browser, audit_count, audit_since, image_row, insert_images, last_audit


@pytest.fixture
def browser(app, alice):
    return Browser(app.test_client(), "alice", USER_PASSWORD)


@pytest.fixture
def bob_browser(app, make_user):
    make_user("bob")
    return Browser(app.test_client(), "bob", USER_PASSWORD)


def upload(browser, color=(200, 40, 40), name="photo.png") -> str:
    answer = browser.upload(png_bytes(color=color), name=name)
    assert answer.status_code == 201, answer.text
    return re.search(r'id="image-([0-9a-f-]+)"', answer.text).group(1)


# -- gallery -------------------------------------------------------------------------

def test_gallery_groups_by_day_with_a_translatable_date_and_shows_the_empty_state(app, browser):
    empty = browser.request("GET", "/", htmx=False)
    assert "No photos yet" in empty.text and 'for="file-input"' in empty.text
    assert 'class="tile' not in empty.text
    upload(browser)
    full = browser.request("GET", "/", htmx=False)
    with app.test_request_context():
        label = format_date(utcnow().date(), "full")
    assert f'<section class="day" data-day="{utcnow().date().isoformat()}">' in full.text
    assert label in full.text
    assert "load-more" not in full.text  # one page: no loader, and no end-of-library line
    assert "oldest photo" not in full.text
    # Spanish readers get the date in Spanish (Flask-Babel's format_date).
    spanish = browser.request("GET", "/", htmx=False, headers={"Accept-Language": "es"})
    assert spanish.status_code == 200


def test_the_next_page_continues_after_the_last_photo_shown(browser):
    """The infinite scroll's row asks for the next page by keyset cursor, and does not
    inherit the gallery's hx-select (which once made it insert nothing); the last page
    ends with a line saying so."""
    ids = [upload(browser, (i, 2 * i, 90), f"p{i}.png") for i in range(5)]
    first = browser.request("GET", "/?limit=2", htmx=False)
    loader = re.search(r'<div class="load-more"[^>]*>', first.text).group(0)
    assert 'hx-select="unset"' in loader and 'role="status"' in loader
    assert "Loading more photos…" in first.text and "Retry" in first.text
    url = re.search(r'hx-get="([^"]+)"', loader).group(1).replace("&amp;", "&")
    following = browser.request("GET", url + "&limit=2")
    assert "<html" not in following.text and 'id="gallery"' not in following.text
    assert re.findall(r'id="image-([0-9a-f-]+)"', following.text) == ids[::-1][2:4]
    last = re.search(r'hx-get="([^"]+)"', following.text).group(1).replace("&amp;", "&")
    end = browser.request("GET", last + "&limit=2")
    assert re.findall(r'id="image-([0-9a-f-]+)"', end.text) == [ids[0]]
    assert "load-more" not in end.text and "You have reached your oldest photo." in end.text


def test_go_to_date_starts_the_gallery_at_a_month(browser):
    """``?month=YYYY-MM`` starts at the newest photo of that month or before it; a month
    before every photo shows the notice and the way back, not "No photos yet"."""
    image_id = upload(browser)
    now = utcnow()
    this_month = f"{now:%Y-%m}"
    page = browser.request("GET", f"/?month={this_month}", htmx=False)
    assert page.status_code == 200 and f'id="image-{image_id}"' in page.text
    assert "Back to the newest" in page.text
    before = browser.request("GET", f"/?month={now.year - 5}-01", htmx=False)
    assert before.status_code == 200 and f'id="image-{image_id}"' not in before.text
    assert "Back to the newest" in before.text and "No photos yet" not in before.text
    assert browser.request("GET", "/?month=2026-13", htmx=False).status_code == 400
    assert browser.request("GET", "/?month=soon", htmx=False).status_code == 400
    # One month of photos: nothing to jump between, no control.
    assert 'id="jump-month"' not in browser.request("GET", "/", htmx=False).text


# -- viewer --------------------------------------------------------------------------

def test_viewer_is_a_page_or_a_fragment_with_neighbours_and_actions(browser):
    first = upload(browser, (10, 10, 10), "first.png")
    second = upload(browser, (20, 20, 20), "second.png")
    third = upload(browser, (30, 30, 30), "third.png")
    page = browser.request("GET", f"/images/{second}", htmx=False)
    assert page.status_code == 200 and "<html" in page.text
    assert "HX-Request" in page.headers["Vary"]
    assert f'data-prev="/images/{third}"' in page.text  # newer, shown before it
    assert f'data-next="/images/{first}"' in page.text
    assert f"/media/{second}?download=1" in page.text
    # srcset never claims more pixels than the photo has (it is 32 px wide).
    assert f'srcset="/media/{second}?w=1280 32w"' in page.text
    assert "2048" not in page.text.split("srcset=", 1)[1].split(">", 1)[0]
    assert f'src="/media/{second}/thumb"' in page.text  # the placeholder
    assert "second.png" in page.text and "Optimizer" in page.text
    fragment = browser.request("GET", f"/images/{second}")
    assert "<html" not in fragment.text and "data-viewer-root" in fragment.text


def test_viewer_of_a_trashed_photo_offers_restore_and_days_left(browser):
    image_id = upload(browser)
    browser.request("DELETE", f"/images/{image_id}", headers={"X-Confirm-Delete": "yes"})
    page = browser.request("GET", f"/images/{image_id}", htmx=False)
    assert page.status_code == 200
    assert f"/trash/items/{image_id}/restore" in page.text
    assert "Delete forever" in page.text and "days left" in page.text
    trash = browser.request("GET", "/trash", htmx=False)
    assert f'href="/images/{image_id}"' in trash.text


def test_viewer_and_optimizer_of_another_users_photo_are_404(browser, bob_browser):
    image_id = upload(browser)
    assert bob_browser.request("GET", f"/images/{image_id}", htmx=False).status_code == 404
    assert bob_browser.request("GET", f"/images/{image_id}/optimizer?q=50").status_code == 404


# -- optimizer -----------------------------------------------------------------------

@pytest.mark.parametrize("part, whole, shown", [
    (0, 100, 0), (1, 10_000, 1), (50, 100, 50), (9_960, 10_000, 99), (100, 100, 100),
    (5, 0, 0)])
def test_shares_of_the_original_never_round_to_nothing_or_everything(part, whole, shown):
    assert percent_of(part, whole) == shown


def test_optimizer_renders_a_preview_with_its_bytes_and_lists_stored_variants(app, browser):
    image_id = upload(browser)
    answer = browser.request("GET", f"/images/{image_id}/optimizer?w=320&fmt=webp&q=40")
    assert answer.status_code == 200 and "<html" not in answer.text
    assert f"/media/{image_id}?w=320&amp;fmt=webp&amp;q=40" in answer.text
    size = int(re.search(r'data-preview-bytes="(\d+)"', answer.text).group(1))
    assert size > 0
    row = image_row(app, image_id)
    saving = 100 - max(1, round(100 * size / row.size_bytes))
    assert 0 <= saving <= 99 and f"{saving}% smaller" in answer.text
    # The variant is now stored: it is listed with its size, and /media serves it.
    again = browser.request("GET", f"/images/{image_id}/optimizer?w=320&fmt=webp&q=41")
    assert re.search(r"<td>\d+</td><td>webp</td><td>40</td>", again.text)
    served = browser.request("GET", f"/media/{image_id}?w=320&fmt=webp&q=40", htmx=False)
    assert served.status_code == 200 and len(served.data) == size


def test_optimizer_previews_keep_to_the_per_image_cap_of_variants(app, browser):
    """The optimizer renders through the same bounds as /media: past
    MEDIA_MAX_VARIANTS_PER_IMAGE the least recently used variant goes."""
    app.config["MEDIA_MAX_VARIANTS_PER_IMAGE"] = 2
    image_id = upload(browser)
    for quality in (40, 60, 75, 95):
        answer = browser.request("GET", f"/images/{image_id}/optimizer?w=320&fmt=webp&q={quality}")
        assert answer.status_code == 200
    with app.app_context():
        stored = db.session.execute(
            select(ImageVariant.quality).where(ImageVariant.image_id == uuid.UUID(image_id))
        ).scalars().all()
        db.session.rollback()
    assert sorted(stored) == [75, 95]


@pytest.mark.parametrize("query, sentence", [
    ("q=5", "q must be a whole number from 30 to 95."), ("w=333", "w must be one of"),
    ("fmt=bmp", "fmt must be one of"), ("zoom=2", "Unknown option &#39;zoom&#39;")])
def test_optimizer_refuses_a_bad_option_naming_it(browser, query, sentence):
    image_id = upload(browser)
    answer = browser.request("GET", f"/images/{image_id}/optimizer?{query}")
    assert answer.status_code == 400
    assert answer.headers["HX-Retarget"] == "#toasts" and sentence in answer.text


# -- bulk delete and its Undo ----------------------------------------------------------

def test_bulk_delete_is_one_audited_event_and_undo_restores_exactly_those(app, browser):
    keep = upload(browser, (1, 2, 3))
    picked = [upload(browser, (4, 5, 6)), upload(browser, (7, 8, 9))]
    before = audit_count(app)
    query = "&".join(f"ids={i}" for i in picked)
    gone = browser.request("DELETE", f"/images/selected?{query}",
                           headers={"X-Confirm-Delete": "yes"})
    assert gone.status_code == 200, gone.text
    assert audit_since(app, before) == [("soft_delete", "ok")]
    event = last_audit(app)
    assert event.target_type == "selection" and sorted(event.details["ids"]) == sorted(picked)
    assert all(image_row(app, i).is_deleted for i in picked)
    assert not image_row(app, keep).is_deleted
    assert gone.text.count("Undo") == 1 and "2 photos moved to the trash." in gone.text
    assert f'data-trashed="{" ".join(sorted(picked))}"' in gone.text or all(
        i in gone.text for i in picked)
    undo_url = re.search(r'hx-post="([^"]+)"', gone.text).group(1).replace("&amp;", "&")
    before = audit_count(app)
    back = browser.request("POST", undo_url)
    assert back.status_code == 200
    assert "2 photos are back in the gallery." in back.text
    assert audit_since(app, before) == [("restore", "ok")]
    assert sorted(last_audit(app).details["ids"]) == sorted(picked)
    assert not any(image_row(app, i).is_deleted for i in picked)


def test_bulk_delete_needs_confirmation_and_skips_other_peoples_ids(app, browser, bob_browser):
    mine = upload(browser)
    theirs = upload(bob_browser)
    unconfirmed = browser.request("DELETE", f"/images/selected?ids={mine}")
    assert unconfirmed.status_code == 400
    assert not image_row(app, mine).is_deleted
    only_theirs = browser.request("DELETE", f"/images/selected?ids={theirs}",
                                  headers={"X-Confirm-Delete": "yes"})
    assert only_theirs.status_code == 404
    both = browser.request("DELETE", f"/images/selected?ids={mine}&ids={theirs}",
                           headers={"X-Confirm-Delete": "yes"})
    assert both.status_code == 200
    assert image_row(app, mine).is_deleted and not image_row(app, theirs).is_deleted
    # An Undo forged with their id restores nothing of theirs (and the row stays as it is).
    browser.request("DELETE", f"/images/{theirs}", headers={"X-Confirm-Delete": "yes"})
    bob_browser.request("DELETE", f"/images/{theirs}", headers={"X-Confirm-Delete": "yes"})
    forged = browser.request("POST", "/images/selected/restore", data={"ids": [theirs]})
    assert forged.status_code == 404  # as for any target that is not yours
    assert image_row(app, theirs).is_deleted


def test_bulk_delete_refuses_bad_ids_and_unknown_options(browser):
    assert browser.request("DELETE", "/images/selected?ids=nope",
                           headers={"X-Confirm-Delete": "yes"}).status_code == 400
    assert browser.request("DELETE", "/images/selected",
                           headers={"X-Confirm-Delete": "yes"}).status_code == 400
    image_id = upload(browser)
    assert browser.request("DELETE", f"/images/selected?ids={image_id}&permanent=true",
                           headers={"X-Confirm-Delete": "yes"}).status_code == 400


# -- zip -------------------------------------------------------------------------------

def test_zip_of_a_selection_streams_only_the_callers_originals(app, browser, bob_browser):
    first = upload(browser, (11, 22, 33), "a.png")
    second = upload(browser, (44, 55, 66), "b.png")
    theirs = upload(bob_browser, (77, 88, 99), "theirs.png")
    answer = browser.request("GET", f"/images/zip?ids={first}&ids={second}&ids={theirs}",
                             htmx=False)
    assert answer.status_code == 200 and answer.mimetype == "application/zip"
    assert answer.headers["Content-Disposition"].startswith("attachment;")
    with zipfile.ZipFile(io.BytesIO(answer.data)) as archive:
        names = archive.namelist()
        assert sorted(names) == ["a.png", "b.png"]  # the photos' own names
        assert archive.read("a.png") == png_bytes(color=(11, 22, 33))
    assert browser.request("GET", f"/images/zip?ids={theirs}", htmx=False).status_code == 404
    assert browser.request("GET", "/images/zip?ids=bad", htmx=False).status_code == 400
    assert browser.request("GET", "/images/zip", htmx=False).status_code == 400


# -- duplicates ------------------------------------------------------------------------

def test_duplicate_check_names_the_callers_copy_only(app, browser, bob_browser):
    import hashlib

    data = png_bytes(color=(5, 6, 7))
    digest = hashlib.sha256(data).hexdigest()
    other = hashlib.sha256(b"other").hexdigest()
    assert browser.request("GET", f"/images/duplicates?sha256={digest}").json == {}
    answer = browser.upload(data)
    image_id = re.search(r'id="image-([0-9a-f-]+)"', answer.text).group(1)
    found = browser.request("GET", f"/images/duplicates?sha256={digest}&sha256={other}")
    assert found.json == {digest: image_id}
    assert bob_browser.request("GET", f"/images/duplicates?sha256={digest}").json == {}


def test_api_upload_answers_duplicate_of_for_the_same_bytes(alice_api, api_for, make_user):
    data = png_bytes(color=(9, 9, 9))
    first = alice_api.upload(data)
    assert first.status_code == 201 and "duplicate_of" not in first.json
    second = alice_api.upload(data)
    assert second.status_code == 201
    assert second.json["duplicate_of"] == first.json["id"]
    assert second.json["id"] != first.json["id"]
    # Another user's library is not theirs: no duplicate there.
    bob = api_for(make_user("bob"))
    assert "duplicate_of" not in bob.upload(data).json
    # A copy in the trash is not in the library.
    alice_api.delete(f"/api/v1/images/{first.json['id']}", headers={"X-Confirm-Delete": "yes"})
    alice_api.delete(f"/api/v1/images/{second.json['id']}", headers={"X-Confirm-Delete": "yes"})
    assert "duplicate_of" not in alice_api.upload(data).json


def test_openapi_documents_duplicate_of(client):
    spec = client.get("/api/v1/openapi.json").json
    image = spec["components"]["schemas"]["Image"]["properties"]
    assert image["duplicate_of"]["format"] == "uuid"
    json.dumps(spec)


def test_later_gallery_pages_do_not_count_the_library_again(app, browser, alice):
    with app.app_context():
        insert_images(alice.id, 60, apart=timedelta(hours=1))
        engine = db.engine
    first = browser.request("GET", "/", htmx=False)
    assert "60 photos" in first.text
    cursor = re.search(r'hx-get="/\?cursor=([^"]+)"', first.text).group(1)
    aggregates = []

    def note(_conn, _cursor, statement, _parameters, _context, _many):
        if re.search(r"\b(count|sum)\(", statement, re.I):
            aggregates.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        more = browser.request("GET", f"/?cursor={cursor}")
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert more.status_code == 200 and more.text.count('data-id="') >= 12
    assert aggregates == []
