"""Real Chromium on the pages the "polish" work owns (issue 11): axe-core on every page in
every state the tests reach, at 1280×800 and 390×844, light and dark; keyboard-only
journeys through the confirmation dialogs; no sideways scrolling at 360 px; a compact
header on phones; a screenshot of each page (tests/artifacts/screenshots/, not committed)
and the README's screenshots (refreshed into docs/screenshots/ by `make screenshots`).

axe-core is vendored under tests/e2e/vendor/ (only the tests use it) and evaluated through
the DevTools protocol, which the page's CSP (``default-src 'self'``) does not govern.
"""

from __future__ import annotations

import os
import re
import uuid

import pytest

from tests.e2e.conftest import (  # noqa: F401  (pytestmark applies to this module)
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    DESKTOP,
    NARROWEST,
    PHONE,
    ROOT,
    SHOTS,
    YES,
    Tab,
    assert_accessible,
    expect,
    no_sideways_scroll,
    png,
    pytestmark,
    serve_pages,
    shot,
    too_wide,
)

README_SHOTS = ROOT / "docs" / "screenshots"

# Every page of this work, as an admin sees it (the login page is visited signed out).
ADMIN_PAGES = {
    "users": "/admin/users",
    "users-inactive": "/admin/users?status=inactive",
    "purge": "/admin/purge",
    "audit": "/admin/audit",
    "endpoints": "/admin/endpoints",
    "media": "/admin/media",
    "media-protection": "/admin/media/protection",
    "account": "/account",
    "not-found": "/no-such-page",
    "sign-out": "/logout",
    "trash": "/trash",
    "gallery": "/",
}
# The gallery and the trash are another part of the work: here only their header, toasts
# and dialogs (outside <main>) are held to axe; their own tests check the rest.


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from serve_pages(tmp_path_factory, "a11y")


@pytest.fixture
def admin_tab(browser, server, seeded):
    tab = Tab(browser, server.url)
    tab.sign_in()
    yield tab
    tab.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_page_passes_axe_and_fits(admin_tab, viewport, scheme):
    tab, page = admin_tab, admin_tab.page
    page.set_viewport_size(viewport)
    page.emulate_media(color_scheme=scheme)
    size = "desktop" if viewport is DESKTOP else "phone"
    for name, path in ADMIN_PAGES.items():
        page.goto(path)
        page.wait_for_load_state("networkidle")
        assert_accessible(page, f"{name} {size} {scheme}")
        assert no_sideways_scroll(page), f"{name} scrolls sideways at {size}: {too_wide(page)}"
        shot(page, f"{name}-{size}-{scheme}")
    assert tab.csp == [] and tab.page_errors == []


def test_the_signed_out_pages_pass_axe(browser, server, seeded):
    tab = Tab(browser, server.url)
    try:
        for viewport, size in ((DESKTOP, "desktop"), (PHONE, "phone")):
            tab.page.set_viewport_size(viewport)
            tab.page.goto("/login")
            assert_accessible(tab.page, f"login {size}")
            shot(tab.page, f"login-{size}")
            tab.page.goto("/no-such-page")
            assert_accessible(tab.page, f"404 signed out {size}")
        # A lockout: the form stays and says how long to wait.
        page = tab.page
        for _ in range(12):
            page.goto("/login")
            page.get_by_label("Username").fill("nobody-at-all")
            page.get_by_label("Password").fill("wrong")
            page.get_by_role("button", name="Sign in").click()
            if "Try again in" in page.content():
                break
        expect(page.get_by_role("alert")).to_contain_text(re.compile(r"Try again in \d+"))
        expect(page.get_by_label("Password")).to_be_visible()
        assert_accessible(page, "login locked out")
        shot(page, "login-locked-out-phone")
        assert tab.csp == [] and tab.page_errors == []
    finally:
        tab.close()


def test_every_page_fits_360_px_with_a_compact_header(admin_tab):
    page = admin_tab.page
    page.set_viewport_size(NARROWEST)
    for name, path in ADMIN_PAGES.items():
        page.goto(path)
        assert no_sideways_scroll(page), f"{name} scrolls sideways at 360 px: {too_wide(page)}"
    page.set_viewport_size(PHONE)
    page.goto("/admin/users")
    header = page.locator("header.topbar").bounding_box()
    assert header["height"] <= 64
    # The menu opens and closes by keyboard; its links are 44 px tall touch targets.
    toggle = page.get_by_role("button", name="Menu")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    link = page.get_by_role("link", name="Audit")
    expect(link).to_be_visible()
    assert link.bounding_box()["height"] >= 44
    assert_accessible(page, "menu open")
    shot(page, "menu-open-phone")
    page.keyboard.press("Escape")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_be_focused()
    # A tablet folds the links into Menu too, rather than wrapping them onto three rows.
    page.set_viewport_size({"width": 1024, "height": 768})
    assert page.locator("header.topbar").bounding_box()["height"] <= 64
    expect(toggle).to_be_visible()
    toggle.click()
    expect(page.get_by_role("link", name="Audit")).to_be_visible()
    assert no_sideways_scroll(page), too_wide(page)
    page.keyboard.press("Escape")
    page.set_viewport_size(PHONE)
    # The purge chart's text is readable on a phone (it was 6 px).
    page.goto("/admin/purge")
    heights = page.eval_on_selector_all(
        ".chart text", "ts => ts.map(t => t.getBoundingClientRect().height)")
    assert heights and min(heights) >= 10, heights
    # Touch targets: buttons 44 px, checkboxes 24 px.
    for button in page.locator("main .btn").all()[:6]:
        assert button.bounding_box()["height"] >= 44
    page.goto("/trash")
    box = page.locator('input[type="checkbox"]').first.bounding_box()
    assert box["width"] >= 24 and box["height"] >= 24


def tab_until(page, predicate, limit=40) -> None:
    for _ in range(limit):
        if page.evaluate(predicate):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"never reached: {predicate}")


def focus_inside(page, selector: str) -> bool:
    return page.evaluate("s => !!document.activeElement.closest(s)", selector)


def test_deactivate_and_delete_a_user_by_keyboard_alone(admin_tab, seeded):
    tab, page = admin_tab, admin_tab.page
    page.goto("/admin/users?q=elena")
    row = page.locator("tr.user-row", has_text="elena")
    expect(row).to_have_count(1)

    # Deactivate: Tab to the row's button, Enter opens the orange dialog.
    tab_until(page, "() => document.activeElement.dataset.action === 'deactivate'")
    page.keyboard.press("Enter")
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Can be reactivated")
    # Focus moved in, onto the harmless button: Enter here would not deactivate.
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    assert_accessible(page, "deactivate dialog")
    shot(page, "users-deactivate-dialog")
    # Tab stays inside the dialog, both ways.
    for _ in range(5):
        page.keyboard.press("Tab")
        assert focus_inside(page, "[data-dialog]")
    for _ in range(5):
        page.keyboard.press("Shift+Tab")
        assert focus_inside(page, "[data-dialog]")
    # Escape closes it and gives focus back to the button that opened it.
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(row.locator('[data-action="deactivate"]')).to_be_focused()

    page.keyboard.press("Enter")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Tab")  # Cancel -> Deactivate user
    expect(dialog.get_by_role("button", name="Deactivate user")).to_be_focused()
    page.keyboard.press("Enter")
    expect(row.locator(".badge", has_text="inactive")).to_be_visible()
    expect(dialog).to_have_count(0)
    # Focus is on the re-rendered row, not lost on <body>.
    assert focus_inside(page, "#" + row.get_attribute("id"))
    assert_accessible(page, "toast shown, inactive row")
    shot(page, "users-deactivated-toast")

    # Delete: the red dialog wants the username typed; all by keyboard.
    tab_until(page, "() => document.activeElement.dataset.action === 'delete' && "
                    "document.activeElement.closest('tr').textContent.includes('elena')")
    page.keyboard.press("Enter")
    expect(dialog).to_contain_text("cannot be undone")
    expect(dialog).to_contain_text("photo")  # the dry run's consequences arrived
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    confirm = dialog.get_by_role("button", name="Delete permanently")
    expect(confirm).to_be_disabled()
    assert_accessible(page, "delete dialog")
    page.keyboard.press("Shift+Tab")  # back to the confirmation field (the last enabled)
    assert page.evaluate("() => document.activeElement.matches('[data-confirm-text]')")
    page.keyboard.type("elena")
    expect(confirm).to_be_enabled()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(confirm).to_be_focused()
    shot(page, "users-delete-dialog")
    page.keyboard.press("Enter")
    expect(row).to_have_count(0)
    expect(tab.toast("deleted permanently")).to_be_visible()
    assert page.evaluate("() => document.activeElement !== document.body")
    assert tab.csp == [] and tab.page_errors == [] and tab.console_errors == []


def test_trash_and_purge_confirm_in_the_styled_dialog(admin_tab, seeded):
    """No browser confirm(): the same dialog, with a count and thumbnails, and the
    X-Confirm-Delete header leaves only from its button."""
    tab, page = admin_tab, admin_tab.page
    admin = seeded["admin"]
    image = admin.call("POST", "/api/v1/images",
                       files={"file": ("to-trash.png", png(40), "image/png")}).json()
    admin.call("DELETE", f"/api/v1/images/{image['id']}", headers=YES)
    page.goto("/trash")
    row = page.locator("#trash tbody tr", has_text="to-trash.png")
    # Bulk buttons wait for a selection.
    bulk = page.get_by_role("button", name="Delete selected forever")
    expect(bulk).to_be_disabled()
    row.locator('input[name="ids"]').check()
    expect(bulk).to_be_enabled()
    row.locator('input[name="ids"]').uncheck()
    expect(bulk).to_be_disabled()

    sent = []
    page.on("request", lambda r: sent.append((r.method, r.url, r.headers.get("x-confirm-delete"))))
    opener = row.get_by_role("button", name="Delete forever")
    opener.click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("to-trash.png")
    expect(dialog.locator(".modal-thumbs img")).to_have_count(1)
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    assert_accessible(page, "trash dialog")
    shot(page, "trash-delete-dialog")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(opener).to_be_focused()
    assert not any(method == "DELETE" for method, _, _ in sent)

    opener.click()
    dialog.get_by_role("button", name="Delete forever").click()
    expect(row).to_have_count(0)
    deletes = [header for method, _, header in sent if method == "DELETE"]
    assert deletes == ["yes"]
    assert tab.dialogs == []  # the browser's confirm() never opened

    page.goto("/admin/purge")
    run = page.get_by_role("button", name="Run now")
    if page.locator("#purge-run-now[hx-confirm]").count():
        run.click()
        expect(dialog).to_contain_text(re.compile(r"Delete the \d+ expired items? for good"))
        page.keyboard.press("Escape")
    assert "Delete the 0" not in page.content()
    assert tab.dialogs == [] and tab.csp == [] and tab.page_errors == []


def test_error_toasts_stay_and_the_stack_is_capped(admin_tab):
    page = admin_tab.page
    page.clock.install()  # time flows, and can be fast-forwarded past the toasts' timers
    page.goto("/")
    for n in range(6):
        # Refused htmx requests (sharing photos that do not exist) answer error toasts.
        # (Uploads have their own panel and no toasts: tests/e2e/test_uploads.py.)
        page.evaluate("url => htmx.ajax('POST', url, {source: document.body, "
                      "target: '#lightbox'})", f"/images/{uuid.UUID(int=n)}/share")
        expect(page.locator("#toasts .toast-error")).to_have_count(min(n + 1, 4))
    toasts = page.locator("#toasts .toast")
    assert toasts.count() <= 4
    # A long name does not make a nine-line toast.
    box = page.locator("#toasts .toast").last.bounding_box()
    assert box["height"] < 120
    assert_accessible(page, "toasts shown")
    shot(page, "gallery-error-toasts")
    # Errors are alerts and stay until dismissed (no timer runs on them).
    errors = page.locator("#toasts .toast-error")
    shown = errors.count()
    assert shown >= 1
    page.clock.fast_forward(15_000)  # longer than any status toast lives (5 s, Undo 10 s)
    expect(page.locator("#toasts .toast-success")).to_have_count(0)
    expect(errors).to_have_count(shown)
    errors.last.get_by_role("button", name="Dismiss").click()
    expect(errors).to_have_count(shown - 1)


def test_the_skip_link_leads_to_the_content(admin_tab):
    page = admin_tab.page
    page.goto("/account")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()


def test_readme_screenshots(admin_tab):
    """The README opens with these. A normal run writes them with the other artefacts;
    ``make screenshots`` (UPDATE_README_SCREENSHOTS=1) refreshes the committed ones."""
    page = admin_tab.page
    folder = README_SHOTS if os.environ.get("UPDATE_README_SCREENSHOTS") else SHOTS / "readme"
    folder.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 760})
    page.emulate_media(color_scheme="light")
    page.goto("/")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(folder / "gallery.png"))
    page.goto("/admin/users")
    page.wait_for_load_state("networkidle")
    page.locator("tr.user-row", has_text="olga").locator('[data-action="delete"]').click()
    expect(page.get_by_role("alertdialog")).to_contain_text("stored files")
    page.screenshot(path=str(folder / "delete-user.png"))
    page.keyboard.press("Escape")
    page.set_viewport_size(PHONE)
    page.emulate_media(color_scheme="dark")
    page.goto("/admin/purge")
    page.wait_for_load_state("networkidle")
    page.locator(".chart-box").evaluate("box => box.scrollIntoView({block: 'center'})")
    page.screenshot(path=str(folder / "purge-phone-dark.png"))
    for name in ("gallery", "delete-user", "purge-phone-dark"):
        assert (folder / f"{name}.png").stat().st_size > 10_000
