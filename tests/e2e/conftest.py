"""What every browser test shares: Chromium once per session, the app once per module,
a fresh context per test (``Tab``, 1280×800 unless a test says otherwise), signed in
through the login form; the two sizes every flow runs at; axe-core and the screenshots
(tests/artifacts/screenshots/); a seeded library for the page tests."""

from __future__ import annotations

import io
import itertools
import re
from pathlib import Path

import pytest
import requests
from PIL import Image as PILImage

from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, AppServer

ROOT = Path(__file__).resolve().parents[2]
AXE = next((Path(__file__).parent / "vendor").glob("axe-*.min.js"))
SHOTS = ROOT / "tests" / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
NARROWEST = {"width": 360, "height": 740}
SIZES = {"desktop": DESKTOP, "phone": PHONE}
YES = {"X-Confirm-Delete": "yes"}

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason=f"Chromium is not installed at {CHROMIUM} "
                              "(apt-get install -y chromium; see TOOLCHAIN.md)"),
]

sync_api = pytest.importorskip("playwright.sync_api",
                               reason="Python Playwright is not installed (test extra)")
expect = sync_api.expect
expect.set_options(timeout=10_000)  # a loaded 2-core CI machine is slow

_names = itertools.count(1)

# Every document of the context reports its CSP violations to Python (kept across
# navigations, unlike a list on `window`).
_CSP_PROBE = """
document.addEventListener('securitypolicyviolation', function (e) {
  window.__cspViolation(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' @ ' +
                        e.documentURI);
});
"""


_pixels = itertools.count(1)


def png(seed: int) -> bytes:
    """A small PNG, different on every call (one pixel carries a counter), so the
    gallery's duplicate notice only appears where a test uploads the same bytes twice."""
    out = io.BytesIO()
    image = PILImage.new("RGB", (48, 36), (seed * 37 % 256, seed * 91 % 256, 120))
    n = next(_pixels)
    image.putpixel((0, 0), (n % 256, n // 256 % 256, 7))
    image.save(out, "PNG")
    return out.getvalue()


def unique_name(stem: str) -> str:
    return f"{stem}-{next(_names)}.png"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from AppServer.serve(tmp_path_factory, "e2e")


@pytest.fixture(scope="session")
def browser():
    playwright = sync_api.sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                              args=CHROMIUM_ARGS)
    except Exception:
        playwright.stop()
        raise
    yield chromium
    chromium.close()
    playwright.stop()


class Tab:
    """A page in a fresh context, with what its console and CSP reported."""

    def __init__(self, browser, base_url: str, locale: str | None = None) -> None:
        # locale: the browser's language (its Accept-Language), e.g. "es-ES".
        options = {"locale": locale} if locale else {}
        self.context = browser.new_context(base_url=base_url, viewport=DESKTOP, **options)
        self.csp: list[str] = []
        self.context.expose_function("__cspViolation", lambda text: self.csp.append(text))
        self.context.add_init_script(_CSP_PROBE)
        self.context.set_default_timeout(10_000)
        self.page = self.context.new_page()
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        self.page.on("dialog", self._on_dialog)
        # Listening from the start turns Chromium's file-chooser interception on now: the
        # listener `expect_file_chooser` adds races the click or key that opens the
        # chooser (the interception may land after it, and the chooser is never seen).
        self.page.on("filechooser", lambda chooser: None)

    def _on_console(self, message) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} @ {message.location.get('url')}")

    def _on_dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.accept()

    def sign_in(self, username=ADMIN_USERNAME, password=ADMIN_PASSWORD) -> None:
        page = self.page
        page.goto("/login")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/$"))

    def upload(self, name: str, data: bytes, mime: str = "image/png") -> None:
        self.page.set_input_files("#file-input",
                                  files=[{"name": name, "mimeType": mime, "buffer": data}])

    def card(self, name: str):
        """A visible tile (a tile moved to the trash stays hidden, ready for Undo)."""
        return self.page.locator("#gallery .tile:not([hidden])", has_text=name)

    def toast(self, text: str):
        return self.page.locator("#toasts .toast", has_text=text)

    def upload_and_see(self, name: str, data: bytes):
        self.upload(name, data)
        card = self.card(name)
        expect(card).to_have_count(1)
        return card

    def select(self, name: str) -> None:
        """Tick a tile of the gallery (its box shows on hover)."""
        card = self.card(name)
        card.hover()
        card.locator(".tile-check").check()

    def delete_button(self, card):
        """Tick the tile, then the bulk bar's Delete (tiles have no Delete of their own)."""
        card.hover()
        card.locator(".tile-check").check()
        return self.page.locator("#gallery-bulk").get_by_role("button", name="Delete")

    def trash_from_gallery(self, name: str) -> None:
        card = self.card(name)
        self.delete_button(card).click()
        expect(card).to_be_hidden()

    def confirm(self, expected_text: str | None = None) -> None:
        """Press the confirming button of the page's dialog (static/js/dialog.js)."""
        dialog = self.page.get_by_role("alertdialog")
        expect(dialog).to_be_visible()
        if expected_text:
            expect(dialog).to_contain_text(expected_text)
        dialog.locator(".actions .btn").last.click()
        expect(dialog).to_have_count(0)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser, server):
    t = Tab(browser, server.url)
    yield t
    t.close()


@pytest.fixture
def signed_in(tab):
    tab.sign_in()
    return tab


@pytest.fixture(params=list(SIZES), ids=list(SIZES))
def size(request) -> str:
    """"desktop" (1280×800) or "phone" (390×844): a flow that takes it runs at both."""
    return request.param


# -- axe-core and screenshots ----------------------------------------------------------

def run_axe(page) -> list[dict]:
    """Serious and critical violations on the whole page as it is now."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' :: ' +
                                              n.failureSummary)}));
    }""")
    return [v for v in result if v["impact"] in ("serious", "critical")]


def assert_accessible(page, where: str) -> None:
    violations = run_axe(page)
    assert violations == [], f"{where}: {violations}"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def no_sideways_scroll(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def too_wide(page) -> list[str]:
    """The first elements that stick out on the right (for an assertion's message)."""
    return page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
        .slice(0, 5).map(e => `${e.tagName.toLowerCase()}.${e.className} ` +
            `${Math.round(e.getBoundingClientRect().right)}px ` +
            (e.textContent || '').trim().slice(0, 40))""")


# -- a server with a seeded library, for the page tests ----------------------------------

def serve_pages(tmp_path_factory, name: str):
    """For a module's ``server`` fixture: ``yield from serve_pages(factory, "name")``.

    Retention 20 days: the demo data's oldest trashed image (28 days ago) is due, so the
    purge page has something to purge and a run history to chart. A lockout test locks
    one name out (5 guesses), never the address: every other test signs in from it."""
    with AppServer(tmp_path_factory.mktemp(name), TRASH_RETENTION_DAYS="20",
                   LOGIN_RATE_LIMIT="1000 per minute",
                   LOGIN_USER_RATE_LIMIT="5 per 10 minutes") as app_server:
        yield app_server


class Api:
    """The JSON API with a bearer token, to set up data quickly."""

    def __init__(self, base: str, username: str, password: str) -> None:
        self.base = base
        answer = requests.post(f"{base}/api/v1/auth/token",
                               json={"username": username, "password": password}, timeout=30)
        assert answer.status_code == 201, answer.text
        self.headers = {"Authorization": f"Bearer {answer.json()['token']}"}

    def call(self, method: str, path: str, expect_status=(200, 201, 204), **kw):
        headers = {**self.headers, **kw.pop("headers", {})}
        answer = requests.request(method, self.base + path, headers=headers, timeout=60, **kw)
        assert answer.status_code in expect_status, (path, answer.status_code, answer.text)
        return answer


@pytest.fixture(scope="module")
def seeded(server):
    """A library with people, photos, trash, purge runs and audit events."""
    server.flask("demo", "seed")
    server.flask("demo", "seed", "--username", "olga", "--images", "5")
    admin = Api(server.url, ADMIN_USERNAME, ADMIN_PASSWORD)
    users = {}
    for name, role in (("ana", "user"), ("bruno", "user"), ("carmen", "admin"),
                       ("dario", "user"), ("elena", "user")):
        users[name] = admin.call("POST", "/api/v1/users", json={
            "username": name, "email": f"{name}@example.com", "password": "a-long-password",
            "role": role}).json()
    for name in ("bruno", "dario"):  # inactive users listed (axe once flagged their rows)
        admin.call("PATCH", f"/api/v1/users/{users[name]['id']}/deactivate", headers=YES)
    for seed in range(6):
        image = admin.call("POST", "/api/v1/images", files={
            "file": (f"harbour-{seed}.png", png(seed + 20), "image/png")}).json()
        if seed < 2:  # the founder's own trash is not empty either
            admin.call("DELETE", f"/api/v1/images/{image['id']}", headers=YES)
    admin.call("DELETE", "/api/v1/admin/purge", headers=YES)  # one run with bytes freed
    return {"admin": admin, "users": users}
