"""The photo library's everyday path in Chromium (issue 17): every photo reachable by
scrolling (300 photos, a page that fails and is retried, photos deleted and added while
scrolling, a jump to a date), every photo whole in the viewer, the selection bar in reach,
deleting without losing one's place, and dialogs over the viewer.

One server and one 300-photo library for the module (seeded straight through the app's
upload service: photos of real shapes dated over months, in a few seconds); a test that
changes a library seeds a small one of its own. Flows run at both sizes, in both themes
and both languages, four combinations rather than eight (``LOOKS``)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest
import requests

from tests.e2e.conftest import (  # noqa: F401  (pytestmark applies to this module)
    DESKTOP,
    PHONE,
    SHOTS,
    YES,
    Tab,
    assert_accessible,
    expect,
    png,
    pytestmark,
)
from tests.support.server import ROOT

PASSWORD = "library-password-1"

# Width × height of the photos, in turn: landscape 4:3, portrait 3:4, portrait 9:16,
# panorama 4:1 (small, so seeding is quick; the viewer scales them up to the screen).
SHAPES = {"landscape": (160, 120), "portrait": (120, 160), "tall": (90, 160),
          "panorama": (256, 64)}

# One child process of the app (the server's instance and settings) makes the users and
# their photos: photo i of a library is dated DAYS_APART * (i // PER_DAY) days ago, PER_DAY
# photos sharing one timestamp (ties are broken by id; a page of 48 ends inside a group).
_SEED = r"""
import io, json, sys
from datetime import timedelta
from PIL import Image, ImageDraw
from app import create_app
from app.core.db import utcnow
from app.images.service import upload_image
from app.storage import get_storage
from app.users.repository import get_users
from app.users.service import create_user

libraries, shapes, password = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
app = create_app()
with app.app_context():
    now = utcnow()
    for spec in libraries:
        name = spec["username"]
        user = create_user(get_users(), username=name, email=f"{name}@example.com",
                           password=password, now=now)
        for i in range(spec["count"]):
            w, h = shapes[i % len(shapes)]
            picture = Image.new("RGB", (w, h), (40 + i * 37 % 200, 60 + i * 11 % 180, 150))
            ImageDraw.Draw(picture).rectangle((w // 4, h // 4, w * 3 // 4, h * 3 // 4),
                                              fill=(240, 200 - i % 100, i % 250))
            out = io.BytesIO()
            picture.save(out, "JPEG", quality=80)
            at = now - timedelta(days=spec["apart"] * (i // spec["per_day"]), hours=1)
            upload_image(get_storage(), owner_id=user.id, file_name=f"{name}-{i:03d}.jpg",
                         data=out.getvalue(), max_bytes=1 << 24, max_pixels=10 ** 8, now=at)
"""


@dataclass
class Library:
    username: str
    ids: list[str]            # newest first, as the gallery lists them
    headers: dict             # a bearer token's, for the JSON API
    months: list[str]         # "YYYY-MM" (UTC, the readers' zone) of each of ids

    def delete(self, base: str, image_id: str) -> None:
        answer = requests.delete(f"{base}/api/v1/images/{image_id}",
                                 headers={**self.headers, **YES}, timeout=30)
        assert answer.status_code in (200, 204), answer.text


def seed_libraries(server, specs: dict[str, tuple[int, int, int]]) -> dict[str, Library]:
    """``{username: (photos, photos a day, days apart)}``: the users and their libraries."""
    libraries = [{"username": name, "count": count, "per_day": per_day, "apart": apart}
                 for name, (count, per_day, apart) in specs.items()]
    shapes = [list(size) for size in SHAPES.values()]
    seeded = subprocess.run(
        [sys.executable, "-c", _SEED, json.dumps(libraries), json.dumps(shapes), PASSWORD],
        cwd=ROOT, env=server.env, capture_output=True, text=True, timeout=600, check=False)
    assert seeded.returncode == 0, seeded.stderr
    made = {}
    for name in specs:
        token = requests.post(f"{server.url}/api/v1/auth/token",
                              json={"username": name, "password": PASSWORD}, timeout=30)
        assert token.status_code == 201, token.text
        headers = {"Authorization": f"Bearer {token.json()['token']}"}
        listed = listed_photos(server.url, headers)
        made[name] = Library(name, [item["id"] for item in listed], headers,
                             [item["created_at"][:7] for item in listed])
    return made


def listed_photos(base: str, headers: dict) -> list[dict]:
    """Every active photo of the caller, newest first, from the JSON API."""
    ids, cursor = [], None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        answer = requests.get(f"{base}/api/v1/images", params=params, headers=headers,
                              timeout=30)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        ids += body["items"]
        cursor = body.get("next_cursor")
        if not cursor:
            return ids


# The combinations each library flow runs in: both sizes, both themes, both languages,
# four runs rather than eight (every value meets every other value at least once).
LOOKS = [("desktop", "light", "en"), ("phone", "dark", "es"),
         ("desktop", "dark", "es"), ("phone", "light", "en")]
LOOK_IDS = ["-".join(look) for look in LOOKS]
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}

WORDS = {
    "en": {"username": "Username", "password": "Password", "sign_in": "Sign in",
           "loading": "Loading more photos…", "failed": "Could not load more photos.",
           "retry": "Retry", "end": "You have reached your oldest photo.",
           "delete": "Delete", "undo": "Undo", "clear": "Clear selection",
           "selected": ("1 selected", "2 selected"), "moved": "moved to the trash",
           "close": "Close", "delete_forever": "Delete forever", "cancel": "Cancel",
           "go_to": "Go to date", "go": "Go", "newest": "Back to the newest"},
    "es": {"username": "Nombre de usuario", "password": "Contraseña",
           "sign_in": "Iniciar sesión", "loading": "Cargando más fotos…",
           "failed": "No se pudieron cargar más fotos.", "retry": "Reintentar",
           "end": "Has llegado a tu foto más antigua.", "delete": "Eliminar",
           "undo": "Deshacer", "clear": "Quitar selección",
           "selected": ("1 seleccionada", "2 seleccionadas"), "moved": "papelera",
           "close": "Cerrar", "delete_forever": "Eliminar para siempre",
           "cancel": "Cancelar", "go_to": "Ir a la fecha", "go": "Ir",
           "newest": "Volver a las más recientes"},
}


def open_tab(browser, server, username: str, look: tuple[str, str, str]) -> Tab:
    """A tab at the look's size, theme and language, signed in as ``username``."""
    size, theme, language = look
    tab = Tab(browser, server.url, locale="es-ES" if language == "es" else None)
    page = tab.page
    page.set_viewport_size(VIEWPORTS[size])
    page.emulate_media(color_scheme=theme)
    words = WORDS[language]
    page.goto("/login")
    page.get_by_label(words["username"]).fill(username)
    page.get_by_label(words["password"]).fill(PASSWORD)
    page.get_by_role("button", name=words["sign_in"]).click()
    page.wait_for_url(re.compile(r"/$"))
    expect(page.locator("html")).to_have_attribute("lang", language)
    return tab


def tile_ids(page) -> list[str]:
    return page.locator("#gallery .tile").evaluate_all("ts => ts.map(t => t.dataset.id)")


def scroll_to_oldest(page, expected_pages: int = 20) -> None:
    """Scroll down, one page of photos at a time, until the end of the library shows."""
    tiles = page.locator("#gallery .tile")
    end = page.locator(".gallery-end")
    for _ in range(expected_pages):
        if end.count():
            return
        seen = tiles.count()
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        expect(tiles.nth(seen).or_(end).first).to_be_attached()
    expect(end).to_be_visible()


def no_errors(tab: Tab) -> None:
    assert tab.csp == [] and tab.page_errors == [], (tab.csp, tab.page_errors)


@pytest.fixture(scope="module")
def libraries(server) -> dict[str, Library]:
    """"hundreds": 300 photos, newest first, shapes in turn (landscape, portrait, tall,
    panorama), five a day every five days (about 14 months); smaller ones for the tests
    that change a library."""
    return seed_libraries(server, {
        "hundreds": (300, 5, 5), "changing": (150, 5, 5),
        **{f"deleter-{look}": (60, 5, 5) for look in LOOK_IDS[:2]},
        **{f"trasher-{look}": (4, 1, 1) for look in LOOK_IDS[:2]},
        "binful": (130, 5, 5),
        **{f"restorer-{look}": (4, 1, 1) for look in LOOK_IDS[:2]},
    })


@pytest.fixture(scope="module")
def library(libraries) -> Library:
    return libraries["hundreds"]


@pytest.fixture(params=LOOKS, ids=LOOK_IDS)
def look(request) -> tuple[str, str, str]:
    return request.param


# -- 1. every photo reachable ------------------------------------------------------------

def test_scrolling_reaches_every_photo_down_to_the_oldest(browser, server, library, look):
    tab = open_tab(browser, server, library.username, look)
    page, words = tab.page, WORDS[look[2]]
    try:
        assert len(tile_ids(page)) == 48
        loader = page.locator("#gallery .load-more")
        expect(loader).to_contain_text(words["loading"])
        scroll_to_oldest(page)
        ids = tile_ids(page)
        assert len(ids) == len(set(ids)) == 300
        assert ids == library.ids  # every photo once, in the gallery's order
        expect(page.locator(".gallery-end")).to_have_text(words["end"])
        expect(page.locator("#gallery .load-more")).to_have_count(0)
        days = page.locator("#gallery .day").evaluate_all("ds => ds.map(d => d.dataset.day)")
        assert len(days) == len(set(days)) == 60  # a day that spans two pages is one section
        # The first photos are still there (no windowing) and open in the viewer.
        page.locator("#gallery .tile-link").first.scroll_into_view_if_needed()
        expect(page.locator("#gallery .tile").first).to_have_attribute("data-id", library.ids[0])
        no_errors(tab)
    finally:
        tab.close()


@pytest.mark.parametrize("look", LOOKS[:3], ids=LOOK_IDS[:3])
def test_a_page_that_fails_says_so_and_retry_loads_it(browser, server, library, look):
    """The next page is asked for: "Loading more photos…" shows while it travels; a
    network error, then a server error, leave the row with the error and Retry (no
    tile lost, no error page swapped in); Retry once the server answers brings it."""
    tab = open_tab(browser, server, library.username, look)
    page, words = tab.page, WORDS[look[2]]
    held = []
    page.route(re.compile(r"/\?cursor="), lambda route: held.append(route))
    try:
        loader = page.locator("#gallery .load-more")
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        until(page, lambda: held)
        expect(loader).to_have_attribute("aria-busy", "true")
        expect(loader.get_by_text(words["loading"])).to_be_visible()
        expect(loader.get_by_role("button", name=words["retry"])).to_be_hidden()

        held.pop().abort()  # the network fails
        expect(loader.get_by_text(words["failed"])).to_be_visible()
        expect(loader.get_by_text(words["loading"])).to_be_hidden()
        retry = loader.get_by_role("button", name=words["retry"])
        expect(retry).to_be_visible()
        assert len(tile_ids(page)) == 48
        assert_accessible(page, f"gallery, a page failed ({'-'.join(look)})")

        retry.click()  # the server fails this time
        until(page, lambda: held)
        expect(loader.get_by_text(words["loading"])).to_be_visible()
        held.pop().fulfill(status=500, body="<p>boom</p>", content_type="text/html")
        expect(retry).to_be_visible()
        expect(page.get_by_text("boom")).to_have_count(0)
        assert len(tile_ids(page)) == 48

        page.unroute(re.compile(r"/\?cursor="))
        retry.focus()
        page.keyboard.press("Enter")
        expect(page.locator("#gallery .tile").nth(95)).to_be_attached()
        assert tile_ids(page)[:96] == library.ids[:96]
        # Focus moves on to the first photo the page brought, where the reader was going.
        assert page.evaluate("document.activeElement.closest('.tile')?.dataset.id") \
            == library.ids[48]
        assert page.evaluate("window.scrollY") > 500
        assert tab.page_errors == [] and tab.csp == []
    finally:
        tab.close()


@pytest.mark.parametrize("look", LOOKS[1:3], ids=LOOK_IDS[1:3])
def test_go_to_date_starts_at_that_month_and_scrolls_on_to_the_oldest(browser, server,
                                                                      library, look):
    tab = open_tab(browser, server, library.username, look)
    page, words = tab.page, WORDS[look[2]]
    try:
        months = list(dict.fromkeys(library.months))  # newest first, each once
        assert len(months) >= 10
        choose = page.get_by_label(words["go_to"])
        assert choose.locator("option").evaluate_all("os => os.map(o => o.value)") == months
        middle = months[len(months) // 2]
        choose.select_option(middle)
        page.get_by_role("button", name=words["go"], exact=True).click()
        page.wait_for_url(re.compile(rf"month={middle}$"))
        start = next(i for i, month in enumerate(library.months) if month <= middle)
        assert start > 48  # past the first page
        expect(page.locator("#gallery .tile").first).to_have_attribute(
            "data-id", library.ids[start])
        expect(page.get_by_label(words["go_to"])).to_have_value(middle)
        back = page.get_by_role("link", name=words["newest"])
        expect(back).to_be_visible()
        assert_accessible(page, f"gallery after Go to date ({'-'.join(look)})")
        shot_viewer(page, f"gallery-jumped-{'-'.join(look)}")
        scroll_to_oldest(page)
        assert tile_ids(page) == library.ids[start:]
        back.click()
        page.wait_for_url(re.compile(r"/$"))
        expect(page.locator("#gallery .tile").first).to_have_attribute("data-id",
                                                                       library.ids[0])
        no_errors(tab)
    finally:
        tab.close()


# -- 2. every photo whole -----------------------------------------------------------------

_MEASURE = """img => {
  const r = img.getBoundingClientRect();
  return {x: r.left, y: r.top, w: r.width, h: r.height, fit: getComputedStyle(img).objectFit,
          nw: +img.getAttribute('width'), nh: +img.getAttribute('height'),
          natW: img.naturalWidth, natH: img.naturalHeight, vw: innerWidth, vh: innerHeight,
          srcset: img.getAttribute('srcset') || ''};
}"""


def until(page, test, timeout_s: float = 10.0) -> None:
    """Wait for ``test()`` to hold, letting Playwright run (route handlers run only while
    it is called; the page's CSP rules out ``wait_for_function``'s eval)."""
    deadline = time.monotonic() + timeout_s
    while not test():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        page.wait_for_timeout(20)


def shown_box(m: dict) -> tuple[float, float]:
    """The width and height the photo itself takes on the screen."""
    if m["fit"] == "contain":
        scale = min(m["w"] / m["nw"], m["h"] / m["nh"])
        return m["nw"] * scale, m["nh"] * scale
    assert abs(m["w"] / m["h"] - m["nw"] / m["nh"]) < 0.02, m  # its own aspect ratio
    return m["w"], m["h"]


def assert_whole(m: dict, shape: str, size: str) -> None:
    eps = 0.5
    assert m["x"] >= -eps and m["y"] >= -eps, m
    assert m["x"] + m["w"] <= m["vw"] + eps and m["y"] + m["h"] <= m["vh"] + eps, m
    assert m["fit"] in ("contain", "fill", ""), m
    assert m["w"] * m["h"] >= m["vw"] * m["vh"] / 4, m  # a quarter of the screen at least
    width, height = shown_box(m)
    # The loaded picture has the photo's own shape (nothing cropped on the way).
    assert abs(m["natW"] / m["natH"] - m["nw"] / m["nh"]) < 0.03, m
    if size == "desktop" and shape in ("portrait", "tall"):
        assert height >= m["vh"] - 125, (shape, height, m)  # bars and margins: 125 px at most
    if size == "phone":
        assert width >= m["vw"] - 2, (shape, width, height, m)  # the phone's full width
    # srcset never claims more pixels than the photo has.
    for entry in filter(None, (part.strip() for part in m["srcset"].split(","))):
        assert int(entry.rsplit(" ", 1)[1].rstrip("w")) <= m["nw"], m["srcset"]


def shot_viewer(page, name: str) -> None:
    """What the screen shows (tests/artifacts/screenshots/library-*.png)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"library-{name}.png"))


def loaded(page, img) -> None:
    until(page, lambda: img.evaluate("i => i.complete && i.naturalWidth > 0"))


def test_the_viewer_shows_every_photo_whole(browser, server, library, look):
    """Landscape 4:3, portrait 3:4 and 9:16, and a 4:1 panorama, opened from the gallery
    and moved through with the arrow key."""
    tab = open_tab(browser, server, library.username, look)
    page = tab.page
    try:
        page.locator("#gallery .tile-link").first.click()
        viewer = page.locator(".viewer")
        img = viewer.locator("img.viewer-img")
        seen = set()
        for i in range(5):  # the newest day: every shape, once or twice
            expect(viewer).to_have_attribute("data-id", library.ids[i])
            loaded(page, img)
            measured = img.evaluate(_MEASURE)
            shape = next(name for name, (w, h) in SHAPES.items()
                         if (w, h) == (measured["nw"], measured["nh"]))
            seen.add(shape)
            shot_viewer(page, f"viewer-{shape}-{'-'.join(look)}")
            assert_whole(measured, shape, look[0])
            # The thumbnail that held the place is gone once the photo is in.
            expect(viewer.locator("[data-viewer-placeholder]")).to_have_count(0)
            if i == 0:
                assert_accessible(page, f"viewer ({'-'.join(look)})")
            page.keyboard.press("ArrowRight")
        assert seen == set(SHAPES)
        no_errors(tab)
    finally:
        tab.close()


def test_the_placeholder_shares_the_photos_box_until_it_loads(browser, server, library):
    tab = open_tab(browser, server, library.username, LOOKS[0])
    page = tab.page
    held = []
    page.route(re.compile(r"/media/[^/]+\?w="), lambda route: held.append(route))
    try:
        page.locator("#gallery .tile-link").nth(1).click()
        viewer = page.locator(".viewer")
        until(page, lambda: held)
        placeholder = viewer.locator("[data-viewer-placeholder]")
        expect(placeholder).to_be_visible()
        box = placeholder.evaluate(_MEASURE)
        photo = viewer.locator("img.viewer-img").evaluate(_MEASURE)
        assert (box["x"], box["y"], box["w"], box["h"], box["fit"]) == \
            (photo["x"], photo["y"], photo["w"], photo["h"], photo["fit"])
        loaded(page, placeholder)  # the thumbnail itself has the photo's shape
        assert abs(box["nw"] / box["nh"] - photo["nw"] / photo["nh"]) < 0.01
        assert placeholder.evaluate("p => p.naturalWidth / p.naturalHeight") == \
            pytest.approx(photo["nw"] / photo["nh"], rel=0.03)
        assert page.locator(".viewer img").count() == 2  # no third image as a backdrop
        for route in held:
            route.continue_()
        page.unroute(re.compile(r"/media/[^/]+\?w="))
        expect(placeholder).to_have_count(0)
        loaded(page, viewer.locator("img.viewer-img"))
    finally:
        tab.close()


def test_nothing_is_skipped_or_repeated_when_photos_change_while_scrolling(browser, server,
                                                                          libraries):
    """Pages follow a keyset cursor (the last photo shown), not an offset: photos deleted
    above or at the cursor, or added on top, shift nothing below."""
    own = libraries["changing"]
    ids = own.ids
    tab = open_tab(browser, server, own.username, LOOKS[0])
    page = tab.page
    try:
        tiles = page.locator("#gallery .tile")
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        expect(tiles.nth(95)).to_be_attached()  # two pages shown
        assert tile_ids(page) == ids[:96]
        # Meanwhile, elsewhere: photos on the pages shown go (one of them the very photo
        # the next page starts after), and so does one not loaded yet.
        for gone in (ids[3], ids[60], ids[95], ids[130]):
            own.delete(server.url, gone)
        # And one is added here, on top.
        tab.upload("new-on-top.png", png(7))
        expect(tab.card("new-on-top.png")).to_have_count(1)
        new_id = tab.card("new-on-top.png").get_attribute("data-id")
        scroll_to_oldest(page)
        shown = tile_ids(page)
        assert len(shown) == len(set(shown))
        # The tiles already shown stay as they were; the rest arrive once each, in order.
        assert shown == [new_id, *ids[:96], *[i for i in ids[96:] if i != ids[130]]]
        no_errors(tab)
    finally:
        tab.close()


# -- 3. the selection stays in reach ------------------------------------------------------

_CONTRAST = """el => {
  const rgb = c => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255; return v <= 0.03928
      ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); })
    .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  let bg = el, color = getComputedStyle(el).color;
  const clear = c => /rgba\\(.*, 0\\)$|transparent/.test(c);
  while (bg && clear(getComputedStyle(bg).backgroundColor)) bg = bg.parentElement;
  const [a, b] = [lum(rgb(color)), lum(rgb(getComputedStyle(bg).backgroundColor))];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def visible_tile_index(page, below: float) -> int:
    """The first tile whose top is ``below`` px or more under the top of the screen."""
    return page.locator("#gallery .tile").evaluate_all(
        "(ts, below) => ts.findIndex(t => t.getBoundingClientRect().top >= below)", below)


def tick(page, index: int) -> None:
    tile = page.locator("#gallery .tile").nth(index)
    tile.hover()
    tile.locator(".tile-check").check()


def on_top(locator) -> bool:
    """Whether a click at the element's centre lands on it (nothing covers it)."""
    return locator.evaluate("""e => { const r = e.getBoundingClientRect();
        return e.contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2)); }""")


def top_of(locator) -> float:
    return locator.evaluate("e => e.getBoundingClientRect().top")


def bottom_of(locator) -> float:
    return locator.evaluate("e => e.getBoundingClientRect().bottom")


def test_the_selection_bar_and_day_headers_stay_below_the_header(browser, server, library,
                                                                 look):
    tab = open_tab(browser, server, library.username, look)
    page, words = tab.page, WORDS[look[2]]
    try:
        header, bar = page.locator("#topbar"), page.locator("#gallery-bulk")
        page.mouse.wheel(0, 700)
        until(page, lambda: page.evaluate("window.scrollY") >= 690)
        first = visible_tile_index(page, 250)
        tick(page, first)
        expect(bar).to_be_visible()
        count = bar.locator("#bulk-count")
        expect(count).to_have_text(words["selected"][0])
        tick(page, first + 1)
        expect(count).to_have_text(words["selected"][1])
        # Further down, the bar and the day being read stay in sight, under the header.
        page.mouse.wheel(0, 900)
        until(page, lambda: page.evaluate("window.scrollY") >= 1580)
        header_bottom = bottom_of(header)
        assert abs(top_of(bar) - header_bottom) <= 1, (top_of(bar), header_bottom)
        assert on_top(bar.get_by_role("button", name=words["delete"]))
        # Day headers stick right under the bar (a header whose day ends is pushed up
        # behind the bar and the site header, which sit above it).
        offsets = page.locator("#gallery .day-header").evaluate_all(
            "hs => [...new Set(hs.map(h => getComputedStyle(h).top))]")
        assert len(offsets) == 1 and abs(float(offsets[0][:-2]) - bottom_of(bar)) <= 1, offsets
        # The count: its own visible element, the live region, readable (and only there).
        expect(count).to_have_attribute("aria-live", "polite")
        expect(page.get_by_text(words["selected"][1], exact=True)).to_have_count(1)
        assert count.evaluate(_CONTRAST) >= 4.5
        assert_accessible(page, f"gallery, selected and scrolled ({'-'.join(look)})")
        shot_viewer(page, f"gallery-selected-{'-'.join(look)}")
        bar.get_by_role("button", name=words["clear"]).click()
        expect(bar).to_be_hidden()
        assert page.evaluate("window.scrollY") >= 1500  # clearing does not jump either
        no_errors(tab)
    finally:
        tab.close()


# -- 5. deleting keeps your place ----------------------------------------------------------

@pytest.mark.parametrize("look", LOOKS[:2], ids=LOOK_IDS[:2])
def test_deleting_keeps_your_place_and_focus_goes_to_undo(browser, server, libraries, look):
    own = libraries["deleter-" + "-".join(look)]
    tab = open_tab(browser, server, own.username, look)
    page, words = tab.page, WORDS[look[2]]
    try:
        page.mouse.wheel(0, 1200)
        until(page, lambda: page.evaluate("window.scrollY") >= 1190)
        index = visible_tile_index(page, 350)
        tiles = page.locator("#gallery .tile")
        chosen = [tiles.nth(index).get_attribute("data-id"),
                  tiles.nth(index + 1).get_attribute("data-id")]
        tick(page, index)
        tick(page, index + 1)
        anchor = tiles.nth(index - 1)  # the photo just before them stays where it is
        before, scrolled = top_of(anchor), page.evaluate("window.scrollY")
        page.locator("#gallery-bulk").get_by_role("button", name=words["delete"]).click()
        for image_id in chosen:
            expect(page.locator(f"#image-{image_id}")).to_be_hidden()
        toast = page.locator("#toasts .toast", has_text=words["moved"])
        expect(toast).to_be_visible()
        undo = toast.get_by_role("button", name=words["undo"])
        expect(undo).to_be_focused()
        assert undo.get_attribute("aria-describedby")  # its sentence is read with it
        assert abs(top_of(anchor) - before) <= 2, (top_of(anchor), before)
        # (scrollY itself may change by the bar's height: the bar leaves the flow above
        # and the browser keeps what is on screen in place.)
        assert page.evaluate("window.scrollY") >= scrolled - 200
        assert_accessible(page, f"gallery after a delete ({'-'.join(look)})")

        page.keyboard.press("Enter")  # Undo: the photos come back in place
        for image_id in chosen:
            expect(page.locator(f"#image-{image_id}")).to_be_visible()
        expect(page.locator(f"#image-{chosen[0]} .tile-link")).to_be_focused()
        assert abs(top_of(anchor) - before) <= 2

        # One photo, deleted and undone with the keyboard alone (Space, Delete, Ctrl+Z).
        page.keyboard.press("Space")
        expect(page.locator("#bulk-count")).to_have_text(words["selected"][0])
        page.keyboard.press("Delete")
        expect(page.locator(f"#image-{chosen[0]}")).to_be_hidden()
        expect(page.locator("#toasts .toast", has_text=words["moved"]).last
               .get_by_role("button", name=words["undo"])).to_be_focused()
        page.keyboard.press("Control+z")
        expect(page.locator(f"#image-{chosen[0]}")).to_be_visible()
        assert abs(top_of(anchor) - before) <= 2
        no_errors(tab)
    finally:
        tab.close()


# -- 6. dialogs over the viewer ------------------------------------------------------------

@pytest.mark.parametrize("look", LOOKS[:2], ids=LOOK_IDS[:2])
def test_a_dialog_over_the_viewer_keeps_focus_and_escape_closes_only_it(browser, server,
                                                                        libraries, look):
    own = libraries["trasher-" + "-".join(look)]
    for image_id in own.ids[:3]:
        own.delete(server.url, image_id)
    tab = open_tab(browser, server, own.username, look)
    page, words = tab.page, WORDS[look[2]]
    try:
        page.goto("/trash")
        page.locator("#trash a.trash-thumb").first.click()
        viewer = page.locator(".viewer")
        expect(viewer).to_be_visible()
        shown = viewer.get_attribute("data-id")
        forever = viewer.get_by_role("button", name=words["delete_forever"])
        forever.focus()
        page.keyboard.press("Enter")
        dialog = page.get_by_role("alertdialog")
        expect(dialog).to_be_visible()
        cancel = dialog.get_by_role("button", name=words["cancel"])
        confirm = dialog.locator(".actions .btn").last
        expect(cancel).to_be_focused()
        # The dialog is on top of the viewer, where a click would land.
        assert on_top(cancel)
        assert_accessible(page, f"viewer with a dialog ({'-'.join(look)})")
        for key, target in (("Tab", confirm), ("Tab", cancel), ("Tab", confirm),
                            ("Shift+Tab", cancel), ("Shift+Tab", confirm)):
            page.keyboard.press(key)
            expect(target).to_be_focused()
        page.keyboard.press("Escape")  # the dialog closes; the viewer stays, focus back
        expect(dialog).to_have_count(0)
        expect(viewer).to_be_visible()
        expect(viewer).to_have_attribute("data-id", shown)
        expect(forever).to_be_focused()

        page.keyboard.press("Enter")
        expect(dialog).to_be_visible()
        page.keyboard.press("Shift+Tab")
        expect(confirm).to_be_focused()
        page.keyboard.press("Enter")  # deleted for good: the viewer goes on to the next
        expect(dialog).to_have_count(0)
        expect(viewer).not_to_have_attribute("data-id", shown)
        expect(page.locator(f'#trash a[data-id="{shown}"]')).to_have_count(0)
        page.keyboard.press("Escape")
        expect(viewer).to_have_count(0)
        no_errors(tab)
    finally:
        tab.close()


# -- 7. a long trash, scrolled to its end ---------------------------------------------------

@pytest.fixture(scope="module")
def binful(server, libraries) -> Library:
    """130 photos, all in the trash (three pages of 50 on the trash page)."""
    own = libraries["binful"]
    for image_id in own.ids:
        own.delete(server.url, image_id)
    return own


@pytest.mark.parametrize("look", LOOKS[:2], ids=LOOK_IDS[:2])
def test_a_long_trash_scrolls_to_its_last_item(browser, server, binful, look):
    """The trash page shows 50 rows and the next 50 as the last comes into view, down to
    the oldest deletion: every item once, the count above the list the whole trash."""
    tab = open_tab(browser, server, binful.username, look)
    page = tab.page
    try:
        page.goto("/trash")
        rows = page.locator("#trash tr[id^='trash-']")
        expect(rows).to_have_count(50)
        expect(page.locator("#trash")).to_contain_text("130")
        for _ in range(5):
            if not page.locator("#trash .load-more").count():
                break
            seen = rows.count()
            page.locator("#trash .load-more").scroll_into_view_if_needed()
            expect(rows.nth(seen)).to_be_attached()
        expect(page.locator("#trash .load-more")).to_have_count(0)
        ids = rows.evaluate_all("rs => rs.map(r => r.id.slice('trash-'.length))")
        assert len(ids) == len(set(ids)) == 130
        assert set(ids) == set(binful.ids)
        assert_accessible(page, f"a long trash, scrolled ({'-'.join(look)})")
        no_errors(tab)
    finally:
        tab.close()


def test_the_audit_log_scrolls_past_its_first_page(browser, server, binful):
    """The audit page loads rows as the last comes into view and keeps its section (the
    trash's row inherited its form's target and wiped the trash)."""
    tab = Tab(browser, server.url)
    page = tab.page
    try:
        tab.sign_in()
        page.goto("/admin/audit")
        rows = page.locator("#events tbody tr:not(.load-more)")
        expect(rows.first).to_be_attached()
        first = rows.count()
        assert page.locator("#events .load-more").count() == 1  # 130 deletions: pages
        page.locator("#events .load-more").scroll_into_view_if_needed()
        expect(rows.nth(first)).to_be_attached()
        expect(page.locator("#events")).to_be_visible()
        assert rows.count() > first
        no_errors(tab)
    finally:
        tab.close()



@pytest.mark.parametrize("look", LOOKS[:2], ids=LOOK_IDS[:2])
def test_restoring_down_the_trash_keeps_ones_place(browser, server, libraries, look):
    """Restore from the keyboard, row after row: focus goes to the same button of the row
    now in that place (the next one, then the last), never back to the top of the page
    (ux minor 13: the trash section is replaced by each answer)."""
    own = libraries["restorer-" + "-".join(look)]
    for image_id in own.ids:
        own.delete(server.url, image_id)
    tab = open_tab(browser, server, own.username, look)
    page = tab.page
    restore = "Restaurar" if look[2] == "es" else "Restore"
    try:
        page.goto("/trash")
        rows = page.locator("#trash tr[id^='trash-']")
        expect(rows).to_have_count(4)
        listed = rows.evaluate_all("rs => rs.map(r => r.id)")
        rows.nth(1).get_by_role("button", name=restore, exact=True).focus()
        for left, focused_row in ((3, listed[2]), (2, listed[3]), (1, listed[0])):
            page.keyboard.press("Enter")
            expect(rows).to_have_count(left)
            focused = page.locator(f"#{focused_row}").get_by_role("button", name=restore,
                                                                  exact=True)
            expect(focused).to_be_focused()
        no_errors(tab)
    finally:
        tab.close()
