"""What the issue-17 walkthrough found (a 300-photo library seeded through the API,
Chromium at 1280×800 and 390×844): each defect it met, as a test that failed before its fix.

One server for the module (``make run``, as a user starts it) and a few photos of real
shapes uploaded through ``POST /api/v1/images``; each test signs in a fresh context."""

from __future__ import annotations

import base64
import io
import re

import pytest
from PIL import Image as PILImage

from tests.e2e.conftest import (  # noqa: F401  (pytestmark applies to this module)
    DESKTOP,
    PHONE,
    Api,
    Tab,
    assert_accessible,
    expect,
    pytestmark,
)
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME

SHAPES = {"landscape": (160, 120), "portrait": (120, 160), "panorama": (256, 64)}


def jpeg(i: int, size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", size, (40 + i * 37 % 200, 60 + i * 11 % 180, 150)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture(scope="module")
def photos(server):
    """Twelve photos, through the API, named by shape: "walk-portrait-04.jpg"."""
    api = Api(server.url, ADMIN_USERNAME, ADMIN_PASSWORD)
    names = []
    for i in range(12):
        shape = list(SHAPES)[i % len(SHAPES)]
        name = f"walk-{shape}-{i:02d}.jpg"
        api.call("POST", "/api/v1/images",
                 files={"file": (name, jpeg(i, SHAPES[shape]), "image/jpeg")})
        names.append(name)
    return names


def signed_in(browser, server, viewport, locale=None, dark=False) -> Tab:
    tab = Tab(browser, server.url, locale=locale)
    tab.page.set_viewport_size(viewport)
    if dark:
        tab.page.emulate_media(color_scheme="dark")
    page = tab.page
    page.goto("/login")  # in the browser's language: the fields by name
    page.locator("input[name=username]").fill(ADMIN_USERNAME)
    page.locator("input[name=password]").fill(ADMIN_PASSWORD)
    page.locator("input[name=password]").press("Enter")
    page.wait_for_url(re.compile(r"/$"))
    return tab


def focused(page) -> str:
    return page.evaluate("""() => { const a = document.activeElement;
        return (a.closest('#toasts') ? 'toast: ' : '') + (a.textContent || '').trim(); }""")


@pytest.mark.parametrize("viewport,locale,undo", [(DESKTOP, None, "Undo"),
                                                  (PHONE, "es-ES", "Deshacer")],
                         ids=["desktop-en", "phone-es"])
def test_in_the_viewer_undo_is_one_key_away_after_a_delete(browser, server, photos,
                                                           viewport, locale, undo):
    """Deleting in the viewer moves on to the next photo with focus on Close; the toast's
    Undo sat outside the viewer's Tab cycle, so no key but an unannounced Ctrl+Z reached
    it. Now Shift+Tab from Close is the Undo (it names its Ctrl+Z), and Enter brings the
    photo back; Tab from it goes back into the viewer."""
    tab = signed_in(browser, server, viewport, locale)
    page = tab.page
    try:
        link = tab.card(photos[-2]).locator(".tile-link")
        link.focus()
        page.keyboard.press("Enter")
        expect(page.locator("#viewer-title")).to_have_text(photos[-2])
        delete = page.locator("[data-viewer-root] .viewer-danger")
        for _ in range(10):
            if page.evaluate("() => document.activeElement.classList.contains('viewer-danger')"):
                break
            page.keyboard.press("Tab")
        expect(delete).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator("#viewer-title")).not_to_have_text(photos[-2])
        toast = page.locator("#toasts .toast", has_text=photos[-2])
        expect(toast).to_be_visible()
        expect(page.locator("[data-viewer-close]")).to_be_focused()

        page.keyboard.press("Shift+Tab")
        button = toast.get_by_role("button", name=undo)
        expect(button).to_be_focused()
        assert "Control+Z" in (button.get_attribute("aria-keyshortcuts") or "")
        assert_accessible(page, "viewer, Undo focused")
        page.keyboard.press("Tab")  # back into the viewer, at its first control
        assert not focused(page).startswith("toast"), focused(page)
        expect(page.locator("[data-viewer-close]")).to_be_focused()
        page.keyboard.press("Shift+Tab")
        expect(button).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator("#toasts .toast", has_text=re.compile(
            r"back in the gallery|ha vuelto"))).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.locator("[data-viewer-root]")).to_have_count(0)
        expect(tab.card(photos[-2])).to_be_visible()
        assert tab.page_errors == [], tab.page_errors
    finally:
        tab.close()


COVERED = """() => [...document.querySelectorAll(
        '#share-panel button, #share-panel input, #viewer-info button, #viewer-info input')]
    .filter(e => e.offsetParent !== null)
    .filter(e => { const r = e.getBoundingClientRect();  // not scrolled out of its boxes
                   const boxes = [e.closest('ul'), e.closest('.viewer-share, .viewer-info')]
                     .filter(Boolean).map(b => b.getBoundingClientRect());
                   return r.height > 0 && boxes.every(b => r.top >= b.top - 1 &&
                                                           r.bottom <= b.bottom + 1); })
    .filter(e => { const r = e.getBoundingClientRect();
                   const hit = document.elementFromPoint(r.left + r.width / 2,
                                                         Math.min(r.top + r.height / 2,
                                                                  innerHeight - 1));
                   return !(hit && (hit === e || e.contains(hit) || hit.contains(e))); })
    .map(e => (e.textContent || e.value || e.type).trim().slice(0, 30))"""


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_toasts_never_cover_the_share_panels_controls(browser, server, photos, viewport):
    """On a phone the Share panel fills the bottom of the viewer, and the toast that says
    the link is ready (then one for each further link, four at most) sat over Make link
    and Revoke for 5 s. Every control of the panel is now clickable while toasts show, and
    the photo keeps some of the screen (the desktop, toasts at the left, as a guard)."""
    tab = signed_in(browser, server, viewport, "es-ES", dark=True)
    page = tab.page
    shape = "landscape" if viewport is PHONE else "panorama"
    name = next(n for n in reversed(photos) if shape in n)
    try:
        tab.card(name).locator(".tile-link").click()
        expect(page.locator("#viewer-title")).to_have_text(name)
        page.locator("[data-viewer-root]").get_by_role("button", name="Compartir").click()
        expect(page.locator("#share-panel .share-link")).to_have_count(1)
        for n, ttl in enumerate(("3600", "604800", "2592000"), start=2):  # three in a row
            page.locator(f"#share-panel input[value='{ttl}']").check()
            page.locator("#share-panel button[type=submit]").click()
            expect(page.locator("#share-panel .share-link")).to_have_count(n)
        expect(page.locator("#toasts .toast").first).to_be_visible()
        page.wait_for_timeout(300)  # the room follows the toasts' size (a ResizeObserver)
        assert page.evaluate(COVERED) == []
        # The photo, smaller for now, is still whole and on screen.
        box = page.locator(".viewer-img").bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= page.viewport_size["height"] + 1
        assert box["height"] > 80, box
        assert_accessible(page, "viewer, share panel and toasts")
    finally:
        tab.close()


def _luminance(rgb) -> float:
    def channel(c):
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_the_focused_photo_stands_out_on_any_photo(browser, server, photos, dark):
    """Arrow keys walk the grid, so the focused tile must show on every photo. Its ring was
    one 3 px line of the accent colour over the photo: on a photo of that colour (a teal
    sea in light mode, a mint one in dark mode) nothing showed. Now on photos of the
    accent's colour, white and near-black, some ring pixel differs from the photo by at
    least 3:1."""
    api = Api(server.url, ADMIN_USERNAME, ADMIN_PASSWORD)
    accent = (0x5e, 0xea, 0xd4) if dark else (0x0f, 0x76, 0x6e)
    colours = {"accent": accent, "white": (255, 255, 255), "black": (11, 13, 18)}
    for key, colour in colours.items():
        out = io.BytesIO()
        PILImage.new("RGB", (120, 120), colour).save(out, "PNG")
        api.call("POST", "/api/v1/images", files={
            "file": (f"ring-{key}-{int(dark)}.png", out.getvalue(), "image/png")})
    tab = signed_in(browser, server, DESKTOP, dark=dark)
    page = tab.page
    try:
        for key, colour in colours.items():
            card = tab.card(f"ring-{key}-{int(dark)}.png")
            card.locator(".tile-link").focus()
            page.keyboard.press("ArrowRight")  # by keyboard, so :focus-visible applies
            page.keyboard.press("ArrowLeft")
            expect(card.locator(".tile-link")).to_be_focused()
            page.mouse.move(0, 0)
            shot = PILImage.open(io.BytesIO(card.screenshot())).convert("RGB")
            w, h = shot.size
            photo = shot.getpixel((w // 2, h // 2))
            assert contrast(photo, colour) < 1.2, (key, photo)  # the thumbnail is that colour
            ring = [shot.getpixel((x, h // 2)) for x in range(0, 10)]
            best = max(contrast(pixel, photo) for pixel in ring)
            assert best >= 3, (key, "dark" if dark else "light", ring, best)
    finally:
        tab.close()


DROP = """async ([target, name, b64]) => {
    const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
    const data = new DataTransfer();
    data.items.add(new File([bytes], name, {type: 'image/png'}));
    const at = document.querySelector(target);
    const fire = type => at.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true,
                                                               dataTransfer: data}));
    fire('dragenter');
    const kept = !fire('dragover');  // false from dispatchEvent: the page took the drop
    const shown = document.body.classList.contains('is-dropping') &&
                  getComputedStyle(document.body, '::after').content;
    fire('drop');
    return {kept, shown, after: document.body.classList.contains('is-dropping')};
}"""


@pytest.mark.parametrize("viewport,locale,words", [
    (PHONE, "es-ES", ("Suelta las fotos", "1 foto subida")),
    (DESKTOP, None, ("Drop the photos", "1 photo uploaded"))], ids=["phone-es", "desktop-en"])
def test_photos_dropped_anywhere_on_the_gallery_are_uploaded_in_sight(browser, server, photos,
                                                                      viewport, locale, words):
    """Scrolled down the gallery, the drop zone is out of sight: files dropped on the grid
    were not taken (the browser opens a dropped file in place of the page). Now the whole
    page takes them, says so while they are dragged over it, and the batch's panel shows
    below the header where the reader is."""
    api = Api(server.url, ADMIN_USERNAME, ADMIN_PASSWORD)
    for i in range(24 - len(photos)):  # enough photos that the page scrolls at both sizes
        api.call("POST", "/api/v1/images", files={
            "file": (f"walk-more-{i:02d}.jpg", jpeg(50 + i, (64, 48)), "image/jpeg")})
        photos.append(f"walk-more-{i:02d}.jpg")
    tab = signed_in(browser, server, {"width": viewport["width"], "height": 600}, locale)
    page = tab.page
    try:
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        expect(page.locator("#upload")).not_to_be_in_viewport()
        name = f"dropped-{viewport['width']}.png"
        out = io.BytesIO()
        PILImage.new("RGB", (64, 48), (200, 30 + viewport["width"] % 200, 90)).save(out, "PNG")
        result = page.evaluate(DROP, ["#gallery .tile:last-child",
                                      name, base64.b64encode(out.getvalue()).decode()])
        assert result["kept"], result
        assert words[0] in (result["shown"] or ""), result
        assert not result["after"], result
        panel = page.locator("#upload-panel")
        expect(panel).to_contain_text(words[1])
        expect(panel).to_be_in_viewport()
        box = panel.bounding_box()
        header = page.locator("#topbar").bounding_box()
        assert box["y"] >= header["y"] + header["height"] - 1, (box, header)
        assert_accessible(page, "gallery scrolled, the dropped batch's panel")
        page.locator("#upload-close").click()
        expect(panel).to_be_hidden()
        page.evaluate("window.scrollTo(0, 0)")
        expect(tab.card(name)).to_have_count(1)
    finally:
        tab.close()


@pytest.mark.parametrize("viewport,locale,count", [(DESKTOP, None, "2 selected"),
                                                   (PHONE, "es-ES", "2 seleccionadas")],
                         ids=["desktop-en", "phone-es"])
def test_escape_clears_the_selection_and_enter_opens_while_selecting(browser, server, photos,
                                                                    viewport, locale, count):
    """Ticked by keyboard while scrolled, a selection could be cleared only by Tabbing
    back to the bar's Clear: Escape (as in Immich and Google Photos) did nothing. Now it
    clears it, the page stays where it was and focus stays on the photo. And Enter on a
    photo opened it only while nothing was ticked (it ticked it otherwise, as a click
    does): Space ticks and Enter opens, always."""
    tab = signed_in(browser, server, viewport, locale)
    page = tab.page
    try:
        page.evaluate("window.scrollTo(0, 300)")
        link = page.locator("#gallery .tile:not([hidden]) .tile-link").nth(7)
        link.focus()
        page.keyboard.press("Space")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("Space")
        expect(page.locator("#bulk-count")).to_have_text(count)
        before = page.evaluate("scrollY")
        focused_id = page.evaluate("document.activeElement.dataset.id")
        page.keyboard.press("Escape")
        expect(page.locator("#gallery-bulk")).to_be_hidden()
        assert page.locator("#gallery .tile-check:checked").count() == 0
        assert page.evaluate("document.activeElement.dataset.id") == focused_id
        assert abs(page.evaluate("scrollY") - before) < 120
        # Space ticks and Enter opens, also while something is ticked (Enter ticked then).
        page.keyboard.press("Space")
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("Enter")
        expect(page.locator("[data-viewer-root]")).to_have_count(1)
        page.keyboard.press("Escape")  # closes the viewer alone: the tick stays
        expect(page.locator("[data-viewer-root]")).to_have_count(0)
        expect(page.locator("#gallery .tile-check:checked")).to_have_count(1)
        page.keyboard.press("Escape")
        expect(page.locator("#gallery-bulk")).to_be_hidden()
    finally:
        tab.close()
