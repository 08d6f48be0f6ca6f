"""Uploads never stall or vanish (issue 17 item 4), in Chromium at 1280×800 and 390×844,
in English and Spanish, light and dark.

A batch of 70 photos of real shapes (landscape, portrait, panorama) with duplicates of
photos already in the library, one file that is not an image and one over the size limit:
the batch runs to its end (at most three requests at once) while the duplicates wait, the
duplicate question is asked once, at the end, for all of them ("Skip" skips them, "Upload
anyway" uploads them), one compact panel counts ("Uploading 12 of 70…", then "64 photos
uploaded, 4 duplicates skipped, 2 not uploaded"), each failed file is named once in the
panel and never in a toast, the panel's live region hears the start and the end only, and
every new photo is in the gallery, in the order a reload shows. Files chosen or dropped
while a batch runs join it.

One server for the module, with a 1 MB upload limit (the too-large file stays small)."""

from __future__ import annotations

import base64
import io
import re
import time

import pytest
import requests
from PIL import Image as PILImage
from PIL import ImageDraw

from tests.e2e.conftest import (  # noqa: F401  (pytestmark applies to this module)
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    DESKTOP,
    PHONE,
    Api,
    Tab,
    assert_accessible,
    expect,
    pytestmark,
    shot,
)
from tests.support.server import AppServer

PASSWORD = "upload-password-1"
LIMIT_MB = 1

# Width × height: landscape 4:3, portrait 3:4, panorama 4:1 (small: the batch stays quick).
SHAPES = [(160, 120), (120, 160), (256, 64)]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with AppServer(tmp_path_factory.mktemp("uploads"), MAX_UPLOAD_MB=str(LIMIT_MB)) as app_server:
        yield app_server


_people = iter(range(1, 1000))


def new_person(server) -> tuple[str, dict]:
    """A user of their own (their library is only what the test put there) and their
    bearer token's headers."""
    name = f"uploader{next(_people)}"
    Api(server.url, ADMIN_USERNAME, ADMIN_PASSWORD).call("POST", "/api/v1/users", json={
        "username": name, "email": f"{name}@example.com", "password": PASSWORD, "role": "user"})
    return name, Api(server.url, name, PASSWORD).headers


def put_photo(server, headers: dict, name: str, data: bytes) -> None:
    """A photo already in the person's library, uploaded through the API."""
    answer = requests.post(f"{server.url}/api/v1/images", headers=headers, timeout=60,
                           files={"file": (name, data, "image/jpeg")})
    assert answer.status_code == 201, answer.text


def photo(i: int) -> bytes:
    """A JPEG of one of the real shapes, different for every i."""
    w, h = SHAPES[i % len(SHAPES)]
    picture = PILImage.new("RGB", (w, h), (30 + i * 37 % 200, 50 + i * 13 % 180, 140))
    ImageDraw.Draw(picture).rectangle((w // 4, h // 4, w * 3 // 4, h * 3 // 4),
                                      fill=(240, 190 - i % 90, i * 7 % 250))
    picture.putpixel((0, 0), (i % 256, i // 256 % 256, 3))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=85)
    return out.getvalue()


def jpeg(name: str, data: bytes) -> dict:
    return {"name": name, "mimeType": "image/jpeg", "buffer": data}


def library(server, headers) -> list[str]:
    """The file names of the caller's active photos, newest first (the JSON API)."""
    answer = requests.get(f"{server.url}/api/v1/images", params={"limit": 200},
                          headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    return [item["file_name"] for item in answer.json()["items"]]


def sign_in(tab: Tab, username: str) -> None:
    page = tab.page
    page.goto("/login")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=password]").press("Enter")
    page.wait_for_url(re.compile(r"/$"))


def tile_names(page) -> list[str]:
    return page.locator("#gallery .tile:not([hidden]) .tile-name").all_text_contents()


# What the live region is told, and how many uploads are in flight at once.
_WATCH = """() => {
    window.__announced = [];
    const region = document.getElementById('upload-announce');
    new MutationObserver(() => {
        const text = region.textContent.trim();
        if (text) window.__announced.push(text);
    }).observe(region, {childList: true, characterData: true, subtree: true});
}"""


# Upload requests the page has open at once, counted in the page itself (an answer is
# over once its readyState is 4, before the page's own handler starts the next).
_COUNT = """() => {
    window.__flight = {now: 0, most: 0, total: 0};
    const open = XMLHttpRequest.prototype.open, send = XMLHttpRequest.prototype.send;
    XMLHttpRequest.prototype.open = function (method, url) {
        this.__upload = method === 'POST' && /\\/images$/.test(url);
        return open.apply(this, arguments);
    };
    XMLHttpRequest.prototype.send = function () {
        if (this.__upload) {
            const f = window.__flight;
            f.now += 1; f.total += 1; f.most = Math.max(f.most, f.now);
            this.addEventListener('readystatechange', () => {
                if (this.readyState === 4) f.now -= 1;
            });
        }
        return send.apply(this, arguments);
    };
}"""


class InFlight:
    """The most upload requests the page had open at the same time, and how many it sent."""

    def __init__(self, page) -> None:
        self.page = page
        page.evaluate(_COUNT)

    @property
    def most(self) -> int:
        return self.page.evaluate("() => window.__flight.most")

    @property
    def total(self) -> int:
        return self.page.evaluate("() => window.__flight.total")


WORDS = {
    "en": {"locale": None, "dupes": "4 photos are already in your library.",
           "progress": r"Uploading \d+ of 70…", "start": "Uploading 70 photos…",
           "skip": "Skip", "anyway": "Upload anyway", "which": "Show which",
           "summary": {"skip": "64 photos uploaded, 4 duplicates skipped, 2 not uploaded",
                       "anyway": "68 photos uploaded, 2 not uploaded"},
           "not_image": "notes.jpg: The file is not a photo Papelera can read.",
           "too_big": f"huge.jpg: The upload is larger than the {LIMIT_MB} MB limit."},
    "es": {"locale": "es-ES", "dupes": "4 fotos ya están en tu biblioteca.",
           "progress": r"Subiendo \d+ de 70…", "start": "Subiendo 70 fotos…",
           "skip": "Omitir", "anyway": "Subir de todos modos", "which": "Ver cuáles",
           "summary": {"skip": "64 fotos subidas, 4 duplicadas omitidas, 2 no subidas",
                       "anyway": "68 fotos subidas, 2 no subidas"},
           "not_image": "notes.jpg: ",
           "too_big": f"huge.jpg: La subida supera el límite de {LIMIT_MB} MB."},
}


# Both sizes, both languages, both themes and both answers, in two runs (the suite stays
# quick; the pages' looks in every combination are test_pages_a11y's and test_spanish's).
@pytest.mark.parametrize(("size", "language", "scheme", "choice"), [
    ("desktop", "en", "light", "skip"),
    ("phone", "es", "dark", "anyway"),
], ids=["desktop-en-light-skip", "phone-es-dark-anyway"])
def test_a_batch_of_70_runs_to_the_end_and_asks_about_duplicates_once(
        browser, server, size, language, scheme, choice):
    words = WORDS[language]
    username, headers = new_person(server)
    # The library already holds four photos (and one more that is not in the batch).
    known = {i: photo(1000 + i) for i in range(5)}
    for i, data in known.items():
        put_photo(server, headers, f"old-{i}.jpg", data)

    # 70 files: 64 new photos, 4 copies of library photos (one of them first, so a
    # question about it would hold up everything), one text file, one too large.
    files = []
    dupes_at = {0: 0, 21: 1, 45: 2, 69: 3}
    new = 0
    for position in range(70):
        if position in dupes_at:
            files.append(jpeg(f"copy-{position}.jpg", known[dupes_at[position]]))
        elif position == 10:
            files.append(jpeg("notes.jpg", b"shopping list: bread, milk\n" * 20))
        elif position == 33:
            big = photo(5000) + b"\0" * (LIMIT_MB * 1024 * 1024 + 10)
            files.append(jpeg("huge.jpg", big))
        else:
            files.append(jpeg(f"trip-{position:03d}.jpg", photo(position)))
            new += 1
    assert new == 64
    new_names = [f["name"] for f in files if f["name"].startswith("trip-")]

    tab = Tab(browser, server.url, locale=words["locale"])
    try:
        page = tab.page
        page.set_viewport_size(DESKTOP if size == "desktop" else PHONE)
        page.emulate_media(color_scheme=scheme)
        sign_in(tab, username)
        flight = InFlight(page)
        page.evaluate(_WATCH)
        panel = page.locator("#upload-panel")
        title = panel.locator("#upload-title")
        ask = panel.locator("#upload-ask")

        tab.page.set_input_files("#file-input", files=files)
        expect(panel).to_be_visible()
        expect(title).to_have_text(re.compile(words["progress"]))

        # The duplicates wait: every other photo arrives before the question is asked.
        expect(ask).to_be_visible(timeout=90_000)
        expect(ask.locator("#upload-ask-text")).to_have_text(words["dupes"])
        names = set(tile_names(page))
        assert set(new_names) <= names, sorted(set(new_names) - names)
        # 64 photos and the text file went up (the too-large file never left the page).
        assert flight.total == 65 and flight.most <= 3, (flight.total, flight.most)
        ask.get_by_text(words["which"]).click()
        expect(ask.locator("#upload-dupes li")).to_have_text(
            ["copy-0.jpg", "copy-21.jpg", "copy-45.jpg", "copy-69.jpg"])
        assert_accessible(page, f"duplicate question {size} {language} {scheme}")
        shot(page, f"upload-question-{size}-{language}-{scheme}")

        # Answered with the keyboard: the buttons are the next stops after the drop zone.
        page.locator("#file-input").focus()
        button = words[choice]
        for _ in range(12):
            page.keyboard.press("Tab")
            if page.evaluate("() => document.activeElement.textContent.trim()") == button:
                break
        else:
            raise AssertionError(f"Tab never reached {button!r}")
        page.keyboard.press("Enter")

        expect(title).to_have_text(words["summary"][choice], timeout=60_000)
        expect(ask).to_be_hidden()
        expect(panel.locator("#upload-progress")).to_be_hidden()
        errors = panel.locator("#upload-errors li")
        expect(errors).to_have_count(2)
        expect(errors.filter(has_text="notes.jpg")).to_contain_text(words["not_image"])
        expect(errors.filter(has_text="huge.jpg")).to_have_text(words["too_big"])
        # Each error once on the page, and no toast at all (no "Uploaded" one either).
        body = page.locator("body").inner_text()
        assert body.count("notes.jpg") == 1 and body.count("huge.jpg") == 1, body
        expect(page.locator("#toasts .toast")).to_have_count(0)
        # The live region heard the start and the end (and the question), not each file.
        page.wait_for_function("text => window.__announced.slice(-1)[0] === text",
                               arg=words["summary"][choice])
        announced = page.evaluate("() => window.__announced")
        assert announced[0] == words["start"], announced
        assert announced[-1] == words["summary"][choice], announced
        assert len(announced) <= 4, announced  # start, question, (restart,) end
        assert any(words["dupes"] in text for text in announced), announced

        expected = set(new_names) | {f"old-{i}.jpg" for i in range(5)}
        if choice == "anyway":
            expected |= {"copy-0.jpg", "copy-21.jpg", "copy-45.jpg", "copy-69.jpg"}
        assert flight.most <= 3
        assert set(library(server, headers)) == expected
        shown = tile_names(page)
        assert set(shown) == expected and len(shown) == len(expected)
        # The count under the heading is the library's.
        expect(page.locator("#gallery-count")).to_contain_text(
            f"{len(expected)} {'photos' if language == 'en' else 'fotos'}")
        assert_accessible(page, f"upload summary {size} {language} {scheme}")
        shot(page, f"upload-summary-{size}-{language}-{scheme}")

        # The panel closes; the gallery shows what a reload shows, in the same order.
        panel.locator("#upload-close").click()
        expect(panel).to_be_hidden()
        page.reload()
        assert tile_names(page) == shown[:len(tile_names(page))]
        assert tab.page_errors == [] and tab.csp == []
    finally:
        tab.close()


_DROP = """([names, data]) => {
    const transfer = new DataTransfer();
    names.forEach((name, i) => {
        const bytes = Uint8Array.from(atob(data[i]), c => c.charCodeAt(0));
        transfer.items.add(new File([bytes], name, {type: 'image/jpeg'}));
    });
    const zone = document.getElementById('upload');
    zone.dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true,
                                              cancelable: true}));
}"""


def test_files_chosen_or_dropped_while_a_batch_runs_join_it(browser, server):
    username, headers = new_person(server)
    first = photo(2000)
    put_photo(server, headers, "first.jpg", first)
    tab = Tab(browser, server.url)
    try:
        page = tab.page
        sign_in(tab, username)
        # A slow line, so that the first choice is still on its way when more come.
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", {
            "offline": False, "latency": 300, "downloadThroughput": -1,
            "uploadThroughput": 40 * 1024})
        flight = InFlight(page)
        panel, title = page.locator("#upload-panel"), page.locator("#upload-title")

        batch = [jpeg("again.jpg", first)] + [jpeg(f"a-{i:02d}.jpg", photo(2100 + i))
                                              for i in range(20)]
        page.set_input_files("#file-input", files=batch)
        expect(title).to_have_text(re.compile(r"Uploading \d+ of 21…"))
        page.set_input_files("#file-input", files=[jpeg(f"b-{i:02d}.jpg", photo(2200 + i))
                                                   for i in range(10)])
        expect(title).to_have_text(re.compile(r"Uploading \d+ of 31…"))
        dropped = [f"c-{i}.jpg" for i in range(5)]
        page.evaluate(_DROP, [dropped, [base64.b64encode(photo(2300 + i)).decode()
                                        for i in range(5)]])
        expect(title).to_have_text(re.compile(r"Uploading \d+ of 36…"))
        started = time.monotonic()
        expect(panel.locator("#upload-progress")).to_be_visible()
        assert_accessible(page, "uploads running")
        shot(page, "upload-running-desktop-en-light")

        # One question for the one duplicate, at the end; then one summary for everything.
        ask = page.locator("#upload-ask")
        expect(ask).to_be_visible(timeout=90_000)
        expect(ask).to_contain_text("1 photo is already in your library.")
        ask.get_by_role("button", name="Skip").click()
        expect(title).to_have_text("35 photos uploaded, 1 duplicate skipped")
        assert flight.most <= 3 and flight.total == 35, (flight.most, flight.total)
        names = {f"a-{i:02d}.jpg" for i in range(20)} | {f"b-{i:02d}.jpg" for i in range(10)}
        names |= set(dropped) | {"first.jpg"}
        assert set(library(server, headers)) == names
        assert set(tile_names(page)) == names
        assert time.monotonic() - started < 120
        expect(page.locator("#toasts .toast")).to_have_count(0)
        assert tab.page_errors == [] and tab.csp == []
        # A new choice after the end starts a new batch with its own count.
        page.set_input_files("#file-input", files=[jpeg("d-0.jpg", photo(2400))])
        expect(title).to_have_text("1 photo uploaded")
        expect(panel.locator("#upload-errors")).to_be_hidden()
    finally:
        tab.close()


def test_a_busy_answer_is_asked_again_and_a_failed_file_can_be_retried(browser, server):
    """A 503 (the server's decode slots full) is sent again by itself; a 500 names the file
    once in the panel, and Retry sends it again. Nothing is lost."""
    username, headers = new_person(server)
    tab = Tab(browser, server.url)
    try:
        page = tab.page
        sign_in(tab, username)
        refused = {"busy.jpg": 0, "broken.jpg": 0}

        def answer(route) -> None:
            body = route.request.post_data_buffer or b""
            for name, times in refused.items():
                if f'filename="{name}"'.encode() in body and times == 0:
                    refused[name] += 1
                    if name == "busy.jpg":
                        route.fulfill(status=503, headers={"Retry-After": "1"}, body=(
                            '<div class="toast toast-error"><span class="toast-message">'
                            "The database is busy right now.</span></div>"))
                    else:
                        route.fulfill(status=500, body=(
                            '<div class="toast toast-error"><span class="toast-message">'
                            "Something went wrong on our side. It was logged.</span></div>"))
                    return
            route.continue_()

        page.route(re.compile(r"/images$"), answer)
        title, errors = page.locator("#upload-title"), page.locator("#upload-errors li")
        page.set_input_files("#file-input", files=[
            jpeg("fine.jpg", photo(3000)), jpeg("busy.jpg", photo(3001)),
            jpeg("broken.jpg", photo(3002))])
        expect(title).to_have_text("2 photos uploaded, 1 not uploaded")
        expect(errors).to_have_text(
            ["broken.jpg: Something went wrong on our side. It was logged."])
        expect(page.locator("#toasts .toast")).to_have_count(0)
        assert refused == {"busy.jpg": 1, "broken.jpg": 1}
        assert_accessible(page, "upload with an error")

        page.locator("#upload-panel").get_by_role("button", name="Retry").click()
        expect(title).to_have_text("3 photos uploaded")
        expect(errors).to_have_count(0)
        assert set(library(server, headers)) == {"fine.jpg", "busy.jpg", "broken.jpg"}
        assert set(tile_names(page)) == {"fine.jpg", "busy.jpg", "broken.jpg"}
        assert tab.page_errors == []
    finally:
        tab.close()


def test_a_session_that_ended_sends_the_batch_to_the_sign_in_page(browser, server):
    """As every other request does: no row of "401" per file."""
    username, _headers = new_person(server)
    tab = Tab(browser, server.url)
    try:
        page = tab.page
        sign_in(tab, username)
        tab.context.clear_cookies()
        page.set_input_files("#file-input", files=[jpeg(f"late-{i}.jpg", photo(3100 + i))
                                                   for i in range(3)])
        # Each of the three answers sends the page to sign-in; a later one may abort the
        # first navigation, so wait on where the page ends up, not on one navigation.
        expect(page).to_have_url(re.compile(r"/login"))
        assert tab.page_errors == [] and tab.dialogs == []
    finally:
        tab.close()


def test_duplicates_are_found_without_web_crypto(browser, server):
    """A page served over plain http on a home network is not a secure context and has no
    crypto.subtle: the page hashes in a Worker (plain JavaScript) and still asks."""
    username, headers = new_person(server)
    known = photo(4000)
    put_photo(server, headers, "beach.jpg", known)
    tab = Tab(browser, server.url)
    try:
        page = tab.page
        tab.context.add_init_script(
            "Object.defineProperty(window.crypto, 'subtle', {get: () => undefined});")
        sign_in(tab, username)
        assert page.evaluate("() => window.crypto.subtle === undefined")
        big = photo(4001) + b"\0" * 300_000  # more than one block, and more than one chunk
        page.set_input_files("#file-input", files=[
            jpeg("new-1.jpg", photo(4002)), jpeg("again.jpg", known), jpeg("new-2.jpg", big),
            jpeg("new-3.jpg", photo(4003)), jpeg("new-4.jpg", photo(4004)),
            jpeg("twice.jpg", photo(4002))])
        ask = page.locator("#upload-ask")
        expect(ask).to_contain_text("2 photos are already in your library.")
        ask.get_by_text("Show which").click()
        expect(ask.locator("#upload-dupes li")).to_have_text(["again.jpg", "twice.jpg"])
        ask.get_by_role("button", name="Skip").click()
        expect(page.locator("#upload-title")).to_have_text(
            "4 photos uploaded, 2 duplicates skipped")
        assert set(library(server, headers)) == {"beach.jpg", "new-1.jpg", "new-2.jpg",
                                                 "new-3.jpg", "new-4.jpg"}
        assert tab.page_errors == [] and tab.csp == []
    finally:
        tab.close()
