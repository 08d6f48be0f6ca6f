"""The viewer on a phone (390×844), as in Immich or Google Photos: one compact bar over
the photo, and Info and Share as bottom sheets that leave the photo most of the screen
(whole, above the sheet), keyboard-reachable, closed by Escape (the sheet alone), in
English and Spanish, light and dark, with no serious or critical axe issue."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import (  # noqa: F401  (pytestmark applies to this module)
    PHONE,
    Api,
    assert_accessible,
    expect,
    pytestmark,
)
from tests.e2e.test_walkthrough import SHAPES, jpeg, signed_in
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME

NAME = "phone-{shape}-holiday-by-the-harbour-at-dusk.jpg"


@pytest.fixture(scope="module")
def photos(server):
    api = Api(server.url, ADMIN_USERNAME, ADMIN_PASSWORD)
    names = {}
    for i, shape in enumerate(SHAPES):
        names[shape] = NAME.format(shape=shape)
        api.call("POST", "/api/v1/images",
                 files={"file": (names[shape], jpeg(i, SHAPES[shape]), "image/jpeg")})
    return names


INSIDE = "(el, id) => document.getElementById(id).contains(el) || !!el.closest('#toasts')"


def photo_above(page, sheet) -> None:
    """The photo's box is wholly on screen, above the sheet, and ≥ 40 % of its height."""
    photo = page.locator(".viewer-img").bounding_box()
    top = page.locator(sheet).bounding_box()["y"]
    height = PHONE["height"]
    assert photo["y"] >= 0 and photo["y"] + photo["height"] <= top + 1, (photo, top)
    assert photo["height"] >= 0.4 * height, (photo, height)


def tab_through(page, sheet_id: str, wanted) -> None:
    """Tab stays in the sheet (and the toasts over it) and reaches `wanted`."""
    for _ in range(20):
        page.keyboard.press("Tab")
        focused = page.evaluate_handle("document.activeElement")
        where = focused.evaluate("e => e.outerHTML.slice(0, 120)")
        assert focused.evaluate(INSIDE, sheet_id), where
        if focused.evaluate("(e, w) => e === w", wanted.element_handle()):
            return
    raise AssertionError(f"Tab never reached {wanted}")


@pytest.mark.parametrize("locale,dark,words", [
    (None, False, {"info": "Info", "share": "Share", "make": "Make link", "close": "Close"}),
    ("es-ES", True, {"info": "Información", "share": "Compartir", "make": "Crear enlace",
                     "close": "Cerrar"}),
], ids=["en-light", "es-dark"])
def test_the_phone_viewer_has_one_bar_and_bottom_sheets(browser, server, photos, locale, dark,
                                                        words):
    tab = signed_in(browser, server, PHONE, locale, dark=dark)
    page = tab.page
    try:
        name = photos["portrait"]
        tab.card(name).locator(".tile-link").click()
        viewer = page.locator("[data-viewer-root]")
        expect(page.locator("#viewer-title")).to_have_text(name)

        # One bar, one row: the photo gets the height.
        bar = page.locator(".viewer-bar").bounding_box()
        assert bar["height"] <= 64, bar
        tops = page.locator(".viewer-bar .viewer-btn").evaluate_all(
            "els => els.filter(e => e.offsetParent)"
            "          .map(e => Math.round(e.getBoundingClientRect().top))")
        assert len(set(tops)) == 1, tops
        assert_accessible(page, "phone viewer")

        # Info by keyboard: a sheet, the photo whole above it; Tab stays in it.
        info_button = viewer.get_by_role("button", name=words["info"], exact=True)
        info_button.focus()
        page.keyboard.press("Enter")
        info = page.locator("#viewer-info")
        expect(info).to_be_visible()
        close = info.get_by_role("button", name=words["close"])
        expect(close).to_be_visible()
        expect(close).to_be_focused()
        photo_above(page, "#viewer-info")
        tab_through(page, "viewer-info", info.locator("select, input").first)
        assert_accessible(page, "phone viewer, Info sheet")
        page.keyboard.press("Escape")  # the sheet alone
        expect(info).to_be_hidden()
        expect(viewer).to_have_count(1)
        expect(info_button).to_be_focused()

        # Share by keyboard: the same, Make link reachable.
        share_button = viewer.get_by_role("button", name=words["share"], exact=True)
        share_button.focus()
        page.keyboard.press("Enter")
        panel = page.locator("#share-panel")
        expect(panel.locator(".share-link")).to_have_count(1)
        expect(panel.get_by_role("button", name=words["close"])).to_be_visible()
        expect(panel.locator("input.share-url")).to_be_focused()  # the link, in the sheet
        photo_above(page, "#viewer-share")
        tab_through(page, "viewer-share", panel.get_by_role("button", name=words["make"]))
        assert_accessible(page, "phone viewer, Share sheet")
        page.keyboard.press("Escape")
        expect(panel).to_have_count(0)
        expect(viewer).to_have_count(1)
        expect(share_button).to_be_focused()

        # Tapped open, the Close button shuts the sheet; Escape then closes the viewer.
        info_button.click()
        expect(info).to_be_visible()
        photo_above(page, "#viewer-info")
        info.get_by_role("button", name=words["close"]).click()
        expect(info).to_be_hidden()
        # Tapped open (focus stays on the button), Escape closes the sheet first, as the
        # top layer, then the viewer.
        info_button.click()
        expect(info).to_be_visible()
        page.keyboard.press("Escape")
        expect(info).to_be_hidden()
        expect(viewer).to_have_count(1)
        expect(info_button).to_be_focused()
        page.keyboard.press("Escape")
        expect(viewer).to_have_count(0)
        assert tab.page_errors == [], tab.page_errors
    finally:
        tab.close()
