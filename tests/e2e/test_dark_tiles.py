"""Dark mode's photo tiles (UX review 3, minor 6): no light line along a thumbnail's edge.

The review saw a 1 px line under every thumbnail in dark mode: the tile's background
showing past the photo. The cause: a rule left from the old card layout (``.card .thumb
img``, 160 px tall) outranked the tile's ``height: 100%``, so a tile taller than 160 px
(161 px at 1280 wide, more on wider screens) showed a band of its background under the
photo. A near-black photo in a dark tile is the hardest case to hide it in, so every pixel
of the tile, photo and edges, must stay dark, and the photo must cover its tile."""

from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage

from tests.e2e.conftest import DESKTOP, PHONE, Api, expect, pytestmark  # noqa: F401
from tests.e2e.test_walkthrough import signed_in
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME

SHAPES = {"landscape": (160, 120), "portrait": (120, 160), "panorama": (256, 64)}
NEAR_BLACK = (12, 12, 12)
# The dark theme's page and tile backgrounds are at most 46 in any channel; its light
# panel colour, which the review saw, is above 220.
DARKEST_LIGHT = 60


@pytest.fixture(scope="module")
def dark_photos(server):
    api = Api(server.url, ADMIN_USERNAME, ADMIN_PASSWORD)
    names = []
    for shape, size in SHAPES.items():
        out = io.BytesIO()
        PILImage.new("RGB", size, NEAR_BLACK).save(out, "JPEG", quality=95)
        name = f"night-{shape}.jpg"
        api.call("POST", "/api/v1/images", files={"file": (name, out.getvalue(), "image/jpeg")})
        names.append(name)
    return names


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE, {"width": 1920, "height": 1080}],
                         ids=["desktop", "phone", "wide"])
def test_dark_tiles_show_no_light_edge(browser, server, dark_photos, viewport):
    tab = signed_in(browser, server, viewport, dark=True)
    page = tab.page
    try:
        page.mouse.move(0, 0)  # no hover: the name and the checkbox stay hidden
        for name in dark_photos:
            tile = tab.card(name)
            expect(tile.locator("img")).to_have_js_property("complete", True)
            page.wait_for_function(
                "img => img.naturalWidth > 0", arg=tile.locator("img").element_handle())
            # The photo covers its tile to the last fraction of a pixel (a screenshot
            # rounds to whole pixels and can miss a line narrower than one), and what
            # could show past it is dark.
            gaps = tile.evaluate("""t => {
                const a = t.getBoundingClientRect(),
                      b = t.querySelector('img').getBoundingClientRect();
                return [b.left - a.left, b.top - a.top,
                        a.right - b.right, a.bottom - b.bottom]; }""")
            assert max(gaps) <= 0.01, (name, viewport, gaps)
            background = tile.evaluate("t => getComputedStyle(t).backgroundColor")
            channels = [int(c) for c in background[background.index("(") + 1:-1].split(",")[:3]]
            assert max(channels) < DARKEST_LIGHT, (name, viewport, background)
            shot = PILImage.open(io.BytesIO(tile.screenshot())).convert("RGB")
            width, height = shot.size
            assert width >= 100 and height >= 100, shot.size
            brightest = max(band_max for _, band_max in shot.getextrema())
            edges = [shot.getpixel((x, y)) for y in (0, 1, height - 2, height - 1)
                     for x in range(4, width - 4)]
            edges += [shot.getpixel((x, y)) for x in (0, 1, width - 2, width - 1)
                      for y in range(4, height - 4)]
            assert max(max(pixel) for pixel in edges) < DARKEST_LIGHT, (name, viewport)
            assert brightest < DARKEST_LIGHT, (name, viewport, brightest)
        assert tab.page_errors == [], tab.page_errors
    finally:
        tab.close()
