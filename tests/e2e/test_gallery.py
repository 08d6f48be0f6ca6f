"""The gallery as people use it, in Chromium at 1280×800 and 390×844: the viewer, the
grid, selection and the bulk bar, Undo, the zip, upload progress and duplicates, and a
journey made with the keyboard alone. Each test signs in as a user of its own, so what
it sees is only what it did."""

from __future__ import annotations

import io
import itertools
import re
import time
import zipfile

import pytest

from tests.e2e.conftest import (  # noqa: F401  (pytestmark applies to this module)
    DESKTOP,
    PHONE,
    Tab,
    expect,
    png,
    pytestmark,
)

_users = itertools.count(1)
PASSWORD = "gallery-password-1"


@pytest.fixture
def fresh(browser, server):
    """A tab signed in as a new user with an empty library."""
    username = f"viewer{next(_users)}"
    made = server.flask("users", "create", username, "--email", f"{username}@example.com",
                        "--password", PASSWORD)
    assert made.returncode == 0, made.stderr
    tab = Tab(browser, server.url)
    tab.sign_in(username, PASSWORD)
    yield tab
    tab.close()


@pytest.fixture(params=[DESKTOP, PHONE], ids=["desktop", "phone"])
def viewport(request):
    return request.param


def upload_many(tab: Tab, names: list[str]) -> None:
    """Upload the files one choice after the other, so that their order is known (one
    choice of many goes up a few at a time, and the server dates them as they arrive):
    newest, the last, first. The upload panel sums each choice up."""
    for i, name in enumerate(names, start=3):
        tab.page.set_input_files("#file-input", files=[
            {"name": name, "mimeType": "image/png", "buffer": png(i)}])
        expect(tab.card(name)).to_have_count(1)
        expect(tab.page.locator("#upload-title")).to_have_text("1 photo uploaded")


def tile_id(tab: Tab, name: str) -> str:
    return tab.card(name).get_attribute("data-id")


def no_errors(tab: Tab) -> None:
    assert tab.csp == [] and tab.page_errors == [] and tab.console_errors == []


def test_an_empty_library_says_no_photos_yet_with_a_way_to_add_them(fresh, viewport):
    page = fresh.page
    page.set_viewport_size(viewport)
    page.goto("/")
    empty = page.locator(".gallery-empty")
    expect(empty).to_be_visible()
    expect(empty).to_contain_text("No photos yet")
    add = empty.get_by_text("Add photos")
    expect(add).to_be_visible()
    with page.expect_file_chooser() as chooser:
        add.click()
    chooser.value.set_files([{"name": "first.png", "mimeType": "image/png", "buffer": png(1)}])
    expect(fresh.card("first.png")).to_have_count(1)
    expect(empty).to_be_hidden()
    no_errors(fresh)


def test_upload_shows_one_panel_for_the_batch(fresh, viewport):
    page = fresh.page
    page.set_viewport_size(viewport)
    page.set_input_files("#file-input", files=[
        {"name": name, "mimeType": "image/png", "buffer": png(i)}
        for i, name in enumerate(["p1.png", "p2.png", "p3.png"])])
    expect(page.locator("#upload-title")).to_have_text("3 photos uploaded")
    panel = page.locator("#upload-panel")
    expect(panel).to_be_visible()
    expect(panel.locator("#upload-progress")).to_be_hidden()  # the batch is over
    expect(page.locator("#toasts .toast")).to_have_count(0)   # no toast per file
    # Newest first, as after a reload.
    order = page.locator("#gallery .tile .tile-name").all_text_contents()
    assert sorted(order) == ["p1.png", "p2.png", "p3.png"]
    page.reload()
    assert page.locator("#gallery .tile .tile-name").all_text_contents() == order
    no_errors(fresh)


def test_viewer_opens_moves_closes_and_follows_back_and_reload(fresh, viewport):
    page = fresh.page
    page.set_viewport_size(viewport)
    upload_many(fresh, ["v1.png", "v2.png", "v3.png"])  # shown v3, v2, v1
    ids = {name: tile_id(fresh, name) for name in ("v1.png", "v2.png", "v3.png")}
    viewer = page.locator(".viewer")

    fresh.card("v2.png").locator("a.thumb").click()
    expect(viewer).to_be_visible()
    expect(page).to_have_url(re.compile(f"/images/{ids['v2.png']}$"))
    expect(viewer.locator(".viewer-title")).to_have_text("v2.png")
    img = viewer.locator("img.viewer-img")
    expect(img).to_have_attribute("src", re.compile(f"^/media/{ids['v2.png']}"))
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=img.element_handle())

    page.keyboard.press("ArrowRight")
    expect(viewer.locator(".viewer-title")).to_have_text("v1.png")
    expect(page).to_have_url(re.compile(f"/images/{ids['v1.png']}$"))
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    expect(viewer.locator(".viewer-title")).to_have_text("v3.png")
    viewer.get_by_role("link", name="Next photo").click()
    expect(viewer.locator(".viewer-title")).to_have_text("v2.png")

    # A swipe to the left shows the next photo.
    box = viewer.locator(".viewer-stage").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.7, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.2, y, steps=5)
    page.mouse.up()
    expect(viewer.locator(".viewer-title")).to_have_text("v1.png")

    # Escape: back to the gallery, focus on the photo that was shown.
    page.keyboard.press("Escape")
    expect(viewer).to_have_count(0)
    expect(page).to_have_url(re.compile(r"/$"))
    assert page.evaluate("document.activeElement.dataset.id") == ids["v1.png"]

    # Back closes it too; Forward opens it again.
    fresh.card("v3.png").locator("a.thumb").click()
    expect(viewer.locator(".viewer-title")).to_have_text("v3.png")
    page.go_back()
    expect(viewer).to_have_count(0)
    expect(page).to_have_url(re.compile(r"/$"))
    expect(fresh.card("v3.png")).to_have_count(1)
    page.go_forward()
    expect(viewer.locator(".viewer-title")).to_have_text("v3.png")

    # Reload: the same photo as a page of its own; Escape goes to the gallery.
    page.reload()
    expect(viewer.locator(".viewer-title")).to_have_text("v3.png")
    viewer.get_by_role("button", name="Info").click()
    info = page.locator("#viewer-info")
    expect(info).to_be_visible()
    expect(info).to_contain_text("48 × 36")
    expect(info).to_contain_text("Uploaded")
    if viewport == PHONE:  # Info is a sheet over the photo: Escape closes it first
        page.keyboard.press("Escape")
        expect(info).to_be_hidden()
        expect(viewer.locator(".viewer-title")).to_have_text("v3.png")
    page.keyboard.press("Escape")
    page.wait_for_url(re.compile(r"/$"))
    expect(fresh.card("v3.png")).to_have_count(1)
    no_errors(fresh)


def test_bulk_delete_then_one_undo_brings_all_back_in_place(fresh, viewport):
    page = fresh.page
    page.set_viewport_size(viewport)
    names = [f"b{i}.png" for i in range(1, 6)]
    upload_many(fresh, names)
    order = page.locator("#gallery .tile .tile-name").all_text_contents()
    bar = page.locator("#gallery-bulk")
    expect(bar).to_be_hidden()

    fresh.select("b4.png")
    fresh.card("b2.png").locator(".tile-check").click(modifiers=["Shift"])  # a range
    expect(bar).to_be_visible()
    expect(bar.locator("#bulk-count")).to_have_text("3 selected")
    bar.get_by_role("button", name="Delete").click()
    for name in ("b2.png", "b3.png", "b4.png"):
        expect(fresh.card(name)).to_have_count(0)
    expect(bar).to_be_hidden()
    toast = fresh.toast("3 photos moved to the trash.")
    expect(toast).to_have_count(1)
    expect(toast).to_have_attribute("data-linger", "")  # kept 10 s, not 5
    expect(page.locator("#gallery-count")).to_contain_text("2 photos")

    toast.get_by_role("button", name="Undo").click()
    expect(fresh.toast("3 photos are back in the gallery.")).to_be_visible()
    for name in ("b2.png", "b3.png", "b4.png"):
        expect(fresh.card(name)).to_have_count(1)
    assert page.locator("#gallery .tile:not([hidden]) .tile-name").all_text_contents() == order
    page.reload()
    assert page.locator("#gallery .tile .tile-name").all_text_contents() == order
    no_errors(fresh)


def test_download_the_selection_as_a_zip(fresh, viewport):
    page = fresh.page
    page.set_viewport_size(viewport)
    upload_many(fresh, ["z1.png", "z2.png", "z3.png"])
    fresh.select("z1.png")
    fresh.select("z3.png")
    with page.expect_download() as download:
        page.locator("#gallery-bulk").get_by_role("button", name="Download as zip").click()
    with open(download.value.path(), "rb") as stream:
        data = stream.read()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        # The photos' own names, as Google Photos keeps them (ux minor 2).
        assert sorted(archive.namelist()) == ["z1.png", "z3.png"]
    page.locator("#gallery-bulk").get_by_role("button", name="Clear").click()
    expect(page.locator("#gallery-bulk")).to_be_hidden()
    no_errors(fresh)


def test_a_duplicate_is_asked_about_on_the_page(fresh, viewport):
    page = fresh.page
    page.set_viewport_size(viewport)
    data = png(42)
    page.set_input_files("#file-input", files=[{"name": "dup.png", "mimeType": "image/png",
                                                "buffer": data}])
    expect(fresh.card("dup.png")).to_have_count(1)

    page.set_input_files("#file-input", files=[{"name": "dup.png", "mimeType": "image/png",
                                                "buffer": data}])
    ask = page.locator("#upload-ask")
    expect(ask).to_contain_text("1 photo is already in your library.")
    ask.get_by_role("button", name="Skip").click()
    expect(page.locator("#upload-title")).to_have_text("0 photos uploaded, 1 duplicate skipped")
    expect(fresh.card("dup.png")).to_have_count(1)

    page.set_input_files("#file-input", files=[{"name": "dup.png", "mimeType": "image/png",
                                                "buffer": data}])
    ask.get_by_role("button", name="Upload anyway").click()
    expect(fresh.card("dup.png")).to_have_count(2)
    expect(page.locator("#upload-title")).to_have_text("1 photo uploaded")
    no_errors(fresh)


@pytest.mark.parametrize("size, columns", [(DESKTOP, 7), (PHONE, 3)], ids=["desktop", "phone"])
def test_grid_density(fresh, size, columns):
    page = fresh.page
    page.set_viewport_size(size)
    upload_many(fresh, [f"g{i}.png" for i in range(columns + 2)])
    tops = page.locator("#gallery .tile").evaluate_all(
        "tiles => tiles.map(t => Math.round(t.getBoundingClientRect().top))")
    assert tops.count(tops[0]) >= columns
    # The name shows on hover or focus only.
    name = fresh.card("g0.png").locator(".tile-name")
    assert float(name.evaluate("e => getComputedStyle(e).opacity")) == 0
    fresh.card("g0.png").locator("a.thumb").focus()
    expect(name).to_have_css("opacity", "1")


def test_no_sideways_scrolling_at_360(fresh):
    page = fresh.page
    page.set_viewport_size({"width": 360, "height": 740})
    upload_many(fresh, ["w1.png", "w2.png"])
    fresh.select("w1.png")
    wide = "document.documentElement.scrollWidth - window.innerWidth"
    assert page.evaluate(wide) <= 0
    page.locator("#gallery-bulk").get_by_role("button", name="Clear").click()
    fresh.card("w2.png").locator("a.thumb").click()
    expect(page.locator(".viewer")).to_be_visible()
    page.locator(".viewer").get_by_role("button", name="Info").click()
    assert page.evaluate(wide) <= 0
    page.keyboard.press("Escape")  # the Info sheet
    expect(page.locator("#viewer-info")).to_be_hidden()
    page.keyboard.press("Escape")  # the viewer
    expect(page.locator(".viewer")).to_have_count(0)
    fresh.trash_from_gallery("w1.png")
    page.goto("/trash")
    assert page.evaluate(wide) <= 0


def test_optimizer_slider_rerenders_the_preview(fresh, viewport):
    page = fresh.page
    page.set_viewport_size(viewport)
    upload_many(fresh, ["o1.png"])
    fresh.card("o1.png").locator("a.thumb").click()
    page.locator(".viewer").get_by_role("button", name="Info").click()
    slider = page.locator(".optimizer-form input[name=q]")
    slider.fill("40")
    caption = page.locator(".optimizer-preview figcaption")
    expect(caption).to_contain_text("at quality 40")
    expect(caption).to_contain_text("smaller than the original")
    preview = page.locator(".optimizer-preview img")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=preview.element_handle())
    slider.fill("70")  # /media renders 40, 60, 75, 85 or 95: the slider stops at 75
    expect(page.locator(".optimizer-q")).to_have_text("75")
    expect(caption).to_contain_text("at quality 75")
    slider.focus()
    page.keyboard.press("ArrowRight")  # one key: the next quality
    expect(page.locator(".optimizer-q")).to_have_text("85")
    expect(caption).to_contain_text("at quality 85")
    expect(page.locator(".optimizer-variants")).to_contain_text("40")
    no_errors(fresh)


def test_trashed_photos_open_in_the_viewer_and_restore_from_it(fresh, viewport):
    page = fresh.page
    page.set_viewport_size(viewport)
    upload_many(fresh, ["t1.png", "t2.png"])
    fresh.trash_from_gallery("t1.png")
    page.goto("/trash")
    row = page.locator("#trash tbody tr", has_text="t1.png")
    row.locator("a.trash-thumb").click()
    viewer = page.locator(".viewer")
    expect(viewer.locator(".viewer-title")).to_have_text("t1.png")
    viewer.get_by_role("button", name="Info").click()
    expect(page.locator("#viewer-info")).to_contain_text("days left")
    viewer.get_by_role("button", name="Restore").click()
    expect(viewer).to_have_count(0)
    expect(page.locator("#trash tbody tr", has_text="t1.png")).to_have_count(0)
    page.goto("/")
    expect(fresh.card("t1.png")).to_have_count(1)
    no_errors(fresh)


def settled(page, timeout_s: float = 5.0) -> None:
    """Wait until no htmx swap is in flight (polled from here: the page's CSP forbids the
    eval ``wait_for_function`` needs)."""
    deadline = time.monotonic() + timeout_s
    while page.evaluate(
            "!!document.querySelector('.htmx-added, .htmx-settling, .htmx-swapping')"):
        if time.monotonic() > deadline:
            raise AssertionError("htmx never settled")
        page.wait_for_timeout(10)


def press_until(page, key: str, test: str, limit: int = 80) -> None:
    """Press ``key`` until the focused element passes ``test`` (a JS predicate on it).

    Content htmx has just inserted is wired (``hx-*`` attributes processed) only when it
    settles, 20 ms later: a person cannot press a key in that gap, a script can, so each
    press waits for the page to settle first."""
    for _ in range(limit):
        settled(page)
        if page.evaluate(f"(e => {test})(document.activeElement)"):
            return
        page.keyboard.press(key)
    raise AssertionError(f"focus never reached an element where {test}")


def test_keyboard_only_journey(fresh):
    """Upload, select, delete, undo, open the viewer, next, delete, and delete forever
    from the trash, without the mouse."""
    page = fresh.page
    press_until(page, "Tab", "e.id === 'file-input'")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files([{"name": f"k{i}.png", "mimeType": "image/png",
                              "buffer": png(60 + i)} for i in range(1, 4)])
    for i in range(1, 4):
        expect(fresh.card(f"k{i}.png")).to_have_count(1)
    expect(page.locator("#upload-title")).to_have_text("3 photos uploaded")

    # Select two tiles: Space ticks, arrows move.
    press_until(page, "Tab", "e.classList.contains('tile-link')")
    page.keyboard.press("Space")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Space")
    expect(page.locator("#bulk-count")).to_have_text("2 selected")
    press_until(page, "Shift+Tab", "e.id === 'bulk-delete'")
    page.keyboard.press("Enter")
    expect(page.locator("#gallery .tile:not([hidden])")).to_have_count(1)
    press_until(page, "Tab", "e.textContent.trim() === 'Undo'")
    page.keyboard.press("Enter")
    expect(page.locator("#gallery .tile:not([hidden])")).to_have_count(3)

    # Open the viewer, go to the next photo, and move it to the trash.
    press_until(page, "Tab", "e.classList.contains('tile-link')")
    first = page.evaluate("document.activeElement.dataset.id")
    page.keyboard.press("Enter")
    viewer = page.locator(".viewer")
    expect(viewer).to_be_visible()
    expect(viewer).to_have_attribute("data-id", first)
    page.keyboard.press("ArrowRight")
    expect(viewer).not_to_have_attribute("data-id", first)
    second = viewer.get_attribute("data-id")
    press_until(page, "Tab", "e.textContent.trim() === 'Delete'")
    page.keyboard.press("Enter")
    expect(viewer).not_to_have_attribute("data-id", second)
    expect(fresh.toast("moved to the trash")).to_be_visible()
    page.keyboard.press("Escape")
    expect(viewer).to_have_count(0)
    expect(page.locator(f"#image-{second}")).to_be_hidden()

    # The trash, through the header's link; delete it forever there.
    press_until(page, "Shift+Tab", "e.getAttribute('href') === '/trash'")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/trash$"))
    press_until(page, "Tab", "e.textContent.trim() === 'Delete forever'")
    page.keyboard.press("Enter")
    # The styled dialog opens with Cancel focused: Tab to its confirming button.
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("for good")
    press_until(page, "Tab",
                "e.closest('[role=alertdialog]') && e.matches('.actions .btn:last-child')")
    page.keyboard.press("Enter")
    expect(page.locator("#trash")).to_contain_text("The trash is empty.")
    assert fresh.dialogs == []  # no native confirm(): the page's own dialog asked
    no_errors(fresh)


def test_the_trash_badge_follows_delete_undo_restore_and_delete_forever(fresh):
    """The header counts the reader's trash beside "Trash" (hidden at 0); every action
    that changes the trash updates it in place, out of band."""
    page = fresh.page
    badge = page.locator("header #trash-badge")
    link = page.locator('header nav a[href="/trash"]')
    upload_many(fresh, ["c1.png", "c2.png", "c3.png"])
    expect(badge).to_be_hidden()
    expect(link).to_have_accessible_name("Trash")

    fresh.trash_from_gallery("c1.png")
    expect(badge).to_be_visible()
    expect(badge).to_have_text("11 photo in the trash")  # the digit, then its spoken label
    expect(link).to_have_accessible_name("Trash 1 photo in the trash")
    fresh.toast("moved to the trash").get_by_role("button", name="Undo").click()
    expect(fresh.card("c1.png")).to_have_count(1)
    expect(badge).to_be_hidden()

    fresh.select("c1.png")
    fresh.select("c2.png")
    page.locator("#gallery-bulk").get_by_role("button", name="Delete").click()
    expect(link).to_have_accessible_name("Trash 2 photos in the trash")
    # From the viewer too.
    fresh.card("c3.png").locator("a.thumb").click()
    page.locator(".viewer").get_by_role("button", name="Delete").click()
    expect(link).to_have_accessible_name("Trash 3 photos in the trash")
    page.keyboard.press("Escape")

    page.goto("/trash")
    expect(link).to_have_accessible_name("Trash 3 photos in the trash")
    page.locator("#trash tbody tr", has_text="c1.png").get_by_role(
        "button", name="Restore").click()
    expect(link).to_have_accessible_name("Trash 2 photos in the trash")
    page.locator("#trash tbody tr", has_text="c2.png").get_by_role(
        "button", name="Delete forever").click()
    fresh.confirm("c2.png")
    expect(link).to_have_accessible_name("Trash 1 photo in the trash")
    # On a phone the count shows in the opened menu.
    page.set_viewport_size(PHONE)
    page.get_by_role("button", name="Menu").click()
    expect(badge).to_be_visible()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Empty trash").click()
    fresh.confirm()
    expect(page.locator("#trash")).to_contain_text("The trash is empty.")
    expect(badge).to_be_hidden()
    page.set_viewport_size(DESKTOP)
    expect(link).to_have_accessible_name("Trash")
    no_errors(fresh)
