"""Real Chromium (Python Playwright, sync API) against the app started by `make run`.

The server starts once for the module on a fresh instance (no demo data) and the browser
once for the session; each test gets its own browser context, signs in through the login
form and works on images with names of its own, so the tests do not depend on each other.
"""

from __future__ import annotations

import io
import itertools
import re
from pathlib import Path

import pytest
from PIL import Image as PILImage

from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, AppServer

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
expect.set_options(timeout=5_000)

_names = itertools.count(1)

# htmx reports an out-of-band element whose target is not on this page (the trash page
# answers a restore with a card for the gallery) as an error; that one is expected.
_EXPECTED_CONSOLE = re.compile(r"oobErrorNoTarget|hx-swap-oob|no target", re.I)

# Every document of the context reports its CSP violations to Python (kept across
# navigations, unlike a list on `window`).
_CSP_PROBE = """
document.addEventListener('securitypolicyviolation', function (e) {
  window.__cspViolation(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' @ ' +
                        e.documentURI);
});
"""


def png(seed: int) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (48, 36), (seed * 37 % 256, seed * 91 % 256, 120)).save(out, "PNG")
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

    def __init__(self, browser, base_url: str) -> None:
        self.context = browser.new_context(base_url=base_url)
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

    def _on_console(self, message) -> None:
        if message.type == "error" and not _EXPECTED_CONSOLE.search(message.text):
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
        return self.page.locator("#gallery .card", has_text=name)

    def toast(self, text: str):
        return self.page.locator("#toasts .toast", has_text=text)

    def upload_and_see(self, name: str, data: bytes):
        self.upload(name, data)
        card = self.card(name)
        expect(card).to_have_count(1)
        return card

    @staticmethod
    def delete_button(card):
        # Its accessible name is the aria-label ("Move … to the trash"); it reads "Delete".
        return card.locator("button", has_text="Delete")

    def trash_from_gallery(self, name: str) -> None:
        card = self.card(name)
        self.delete_button(card).click()
        expect(card).to_have_count(0)

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


def test_login_form_signs_in_and_refuses_a_wrong_password(tab):
    page = tab.page
    page.goto("/")
    page.wait_for_url(re.compile(r"/login"))  # the gallery needs a session

    page.get_by_label("Username").fill(ADMIN_USERNAME)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/login"))

    tab.sign_in()
    expect(page.get_by_role("heading", name="Gallery")).to_be_visible()
    expect(page.locator(".who")).to_contain_text(ADMIN_USERNAME)


def test_gallery_upload_delete_undo_without_console_or_csp_errors(signed_in):
    tab, page = signed_in, signed_in.page
    name = unique_name("undo")

    card = tab.upload_and_see(name, png(1))
    expect(tab.toast("Uploaded 1 image(s).")).to_be_visible()
    # The thumbnail is served through a signed URL and actually loads.
    thumb = card.locator("img")
    expect(thumb).to_have_attribute("src", re.compile(r"^/objects/"))
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=thumb.element_handle())

    tab.trash_from_gallery(name)
    toast = tab.toast("moved to the trash")
    expect(toast).to_be_visible()
    undo = toast.get_by_role("button", name="Undo")
    expect(undo).to_be_visible()

    undo.click()
    expect(tab.card(name)).to_have_count(1)
    expect(toast).to_have_count(0)  # the Undo toast is replaced by the restore's answer
    expect(tab.toast("is back in the gallery")).to_be_visible()

    # Still there after a reload: the undo reached the server.
    page.reload()
    expect(tab.card(name)).to_have_count(1)

    assert tab.csp == []
    assert tab.page_errors == []
    assert tab.console_errors == []


def test_trash_days_left_restore_and_delete_forever(signed_in):
    tab, page = signed_in, signed_in.page
    name = unique_name("trash")
    tab.upload_and_see(name, png(2))
    tab.trash_from_gallery(name)

    page.goto("/trash")
    row = page.locator("#trash tbody tr", has_text=name)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("30 days left")

    row.get_by_role("button", name="Restore").click()
    expect(row).to_have_count(0)
    expect(tab.toast("is back in the gallery")).to_be_visible()

    page.goto("/")
    tab.trash_from_gallery(name)
    page.goto("/trash")
    expect(row).to_have_count(1)
    row.get_by_role("button", name="Delete forever").click()
    expect(row).to_have_count(0)
    expect(tab.toast("was deleted permanently")).to_be_visible()
    assert any(name in message for message in tab.dialogs), tab.dialogs

    page.reload()
    expect(page.locator("#trash tbody tr", has_text=name)).to_have_count(0)
    page.goto("/")
    expect(tab.card(name)).to_have_count(0)
    assert tab.csp == []
    assert tab.page_errors == []
    assert tab.console_errors == []


def test_trash_selection_deleted_forever(signed_in):
    tab, page = signed_in, signed_in.page
    keep, drop = unique_name("keep"), unique_name("drop")
    for seed, name in enumerate((keep, drop), start=7):
        tab.upload_and_see(name, png(seed))
        tab.trash_from_gallery(name)
    page.goto("/trash")
    page.locator("#trash tbody tr", has_text=drop).locator('input[name="ids"]').check()
    page.get_by_role("button", name="Delete selected forever").click()
    expect(page.locator("#trash tbody tr", has_text=drop)).to_have_count(0)
    expect(page.locator("#trash tbody tr", has_text=keep)).to_have_count(1)
    expect(tab.toast("Deleted 1 item(s) for good")).to_be_visible()
    assert tab.console_errors == [] and tab.csp == []


def test_a_row_deleted_forever_while_others_are_ticked(signed_in):
    """The row's button sits inside the selection form; htmx must not send the ticked ids
    with it (the route declares no ids and would refuse them)."""
    tab, page = signed_in, signed_in.page
    ticked, drop = unique_name("ticked"), unique_name("row")
    for seed, name in enumerate((ticked, drop), start=11):
        tab.upload_and_see(name, png(seed))
        tab.trash_from_gallery(name)
    page.goto("/trash")
    page.locator("#trash tbody tr", has_text=ticked).locator('input[name="ids"]').check()
    page.locator("#trash tbody tr", has_text=drop).get_by_role(
        "button", name="Delete forever").click()
    expect(page.locator("#trash tbody tr", has_text=drop)).to_have_count(0)
    expect(page.locator("#trash tbody tr", has_text=ticked)).to_have_count(1)
    expect(tab.toast("was deleted permanently")).to_be_visible()
    assert tab.console_errors == [] and tab.csp == []


def test_empty_trash(signed_in):
    tab, page = signed_in, signed_in.page
    names = [unique_name("empty"), unique_name("empty")]
    for seed, name in enumerate(names, start=3):
        tab.upload_and_see(name, png(seed))
    for name in names:
        tab.trash_from_gallery(name)

    page.goto("/trash")
    for name in names:
        expect(page.locator("#trash tbody tr", has_text=name)).to_have_count(1)
    page.get_by_role("button", name="Empty trash").click()
    expect(page.locator("#trash")).to_contain_text("The trash is empty.")
    expect(page.locator("#trash tbody tr")).to_have_count(0)
    expect(tab.toast("for good")).to_be_visible()
    assert any("Delete all" in message for message in tab.dialogs), tab.dialogs

    page.reload()
    expect(page.locator("#trash")).to_contain_text("The trash is empty.")
    assert tab.csp == []
    assert tab.page_errors == []
    assert tab.console_errors == []


def test_an_error_answer_shows_a_toast_not_a_blank_swap(signed_in):
    tab, page = signed_in, signed_in.page
    keep = unique_name("keep")
    tab.upload_and_see(keep, png(5))
    cards_before = page.locator("#gallery .card").count()

    tab.upload(unique_name("not-an-image"), b"just some text, not pixels\n" * 20)
    error = page.locator("#toasts .toast-error")
    expect(error).to_have_count(1)
    expect(error).to_have_attribute("role", "alert")
    expect(error.locator(".toast-message")).to_have_text(
        "The file is not an image Papelera can read.")

    # The gallery is intact: the error went to the toast area, not into #gallery.
    expect(page.locator("#gallery .card")).to_have_count(cards_before)
    expect(tab.card(keep)).to_have_count(1)
    assert page.locator("#gallery .toast").count() == 0
    assert tab.csp == []
    assert tab.page_errors == []


def test_expired_session_on_an_htmx_request_goes_to_login(signed_in):
    tab, page = signed_in, signed_in.page
    name = unique_name("expired")
    tab.upload_and_see(name, png(6))

    tab.context.clear_cookies()
    tab.delete_button(tab.card(name)).click()
    page.wait_for_url(re.compile(r"/login$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    # Nothing was deleted: signing in again shows the image.
    tab.sign_in()
    expect(tab.card(name)).to_have_count(1)


def test_admin_creates_deactivates_reactivates_and_deletes_a_user(signed_in):
    tab, page = signed_in, signed_in.page
    username = f"e2e-user-{next(_names)}"
    page.goto("/admin/users")
    form = page.locator("#create-user")
    form.get_by_label("Username").fill(username)
    form.get_by_label("E-mail").fill(f"{username}@example.com")
    form.get_by_label("Password").fill("a-long-password")
    with page.expect_response(lambda r: r.request.method == "POST"
                              and "/admin/users" in r.url) as created:
        form.get_by_role("button", name="Create user").click()
    assert created.value.status in (200, 201)
    row = page.locator("tr.user-row", has_text=username)
    page.reload()
    expect(row).to_have_count(1)

    # Deactivate through the orange modal: it says it can be undone.
    row.locator("button", has_text="Deactivate").click()
    modal = page.locator("#modal .modal")
    expect(modal).to_contain_text("reactivated")
    modal.get_by_role("button", name="Deactivate user").click()
    expect(row.locator(".badge", has_text="inactive")).to_be_visible()
    row.get_by_role("button", name="Reactivate").click()
    expect(row.locator(".badge", has_text="active")).to_be_visible()

    # Delete through the red modal: the dry run's consequences, then the typed username.
    row.locator("button", has_text="Delete").click()
    expect(modal).to_contain_text("cannot be undone")
    expect(modal).to_contain_text("image")  # the consequences came from the dry run
    confirm = modal.get_by_role("button", name="Delete permanently")
    expect(confirm).to_be_disabled()
    modal.locator("input[data-confirm-text]").fill(username[:-1])
    expect(confirm).to_be_disabled()
    modal.locator("input[data-confirm-text]").fill(username)
    expect(confirm).to_be_enabled()
    confirm.click()
    expect(row).to_have_count(0)
    expect(tab.toast("deleted permanently")).to_be_visible()
    # The founder's own row offers neither deactivation nor deletion.
    own = page.locator("tr.user-row", has_text=ADMIN_USERNAME)
    expect(own.locator("button", has_text="Delete")).to_have_count(0)
    assert tab.console_errors == [] and tab.csp == []
