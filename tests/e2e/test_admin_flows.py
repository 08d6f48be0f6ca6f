"""The account page's and the admin pages' flows in real Chromium, each at 1280×800 and at
390×844 (the ``size`` fixture): language, password, retention and export on /account;
Run now on /admin/purge; the audit log's filters; deactivating and deleting a user through
the dialogs; the media settings and the protection lists on /admin/media. (The session
list's flow is tests/e2e/test_sessions_browser.py, at both sizes too.)

One server and one seeded library for the module; each test works on users and data of
its own, so the order does not matter."""

from __future__ import annotations

import io
import itertools
import json
import re
import zipfile

import pytest

from tests.e2e.conftest import (  # noqa: F401  (pytestmark applies to this module)
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    SIZES,
    YES,
    Api,
    Tab,
    expect,
    png,
    pytestmark,
    serve_pages,
    sync_api,
)

PASSWORD = "flows-password-1"
_names = itertools.count(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from serve_pages(tmp_path_factory, "flows")


def new_user(server, stem: str) -> str:
    username = f"{stem}{next(_names)}"
    made = server.flask("users", "create", username, "--email", f"{username}@example.com",
                        "--password", PASSWORD)
    assert made.returncode == 0, made.stderr
    return username


@pytest.fixture
def open_tab(browser, server, size):
    """Tabs at the test's size, signed in as whom the test says; all closed at the end."""
    tabs = []

    def make(username=ADMIN_USERNAME, password=ADMIN_PASSWORD, locale=None) -> Tab:
        tab = Tab(browser, server.url, locale=locale)
        tab.page.set_viewport_size(SIZES[size])
        tab.sign_in(username, password)
        tabs.append(tab)
        return tab

    yield make
    for tab in tabs:
        tab.close()


def clean(tab: Tab, refused: bool = False) -> None:
    """No CSP report, script error or native dialog; no console error either, unless the
    test was refused on purpose (the browser logs each 4xx answer)."""
    assert tab.csp == [] and tab.page_errors == []
    errors = [e for e in tab.console_errors if not (refused and " 400 " in e)]
    assert errors == []
    assert tab.dialogs == []  # no browser confirm(): the page's own dialog asks


def dismiss_toasts(page) -> None:
    """On a phone the toasts sit over the bottom of the page: close them as a person would
    to reach what is under them."""
    toasts = page.locator("#toasts .toast")
    for _ in range(10):
        if not toasts.count():
            return
        try:  # it may close itself meanwhile
            toasts.first.get_by_role("button", name="Dismiss").click(timeout=1000)
        except sync_api.TimeoutError:
            pass
    expect(toasts).to_have_count(0)


def settled(page) -> None:
    """Wait until htmx has wired what it just swapped in (20 ms after it lands: a person
    cannot click in that gap, a script can)."""
    for _ in range(250):
        if page.evaluate("() => !document.querySelector("
                         "'.htmx-added, .htmx-settling, .htmx-swapping, .htmx-request')"):
            return
        page.wait_for_timeout(20)
    raise AssertionError("htmx never settled")


def open_menu(page) -> None:
    """On a phone the header's links sit behind Menu."""
    toggle = page.get_by_role("button", name=re.compile("^(Menu|Menú)$"))
    if toggle.is_visible():
        toggle.click()


# -- /account ----------------------------------------------------------------------------

def test_language_is_switched_in_the_header_and_remembered_per_user(open_tab, server, size):
    username = new_user(server, "lang")
    tab = open_tab(username, PASSWORD)
    page = tab.page
    page.goto("/account")
    open_menu(page)
    page.locator("header").get_by_role("button", name="Español").click()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page).to_have_url(re.compile(r"/account$"))  # the same page, now in Spanish
    expect(page.get_by_role("heading", level=1)).to_have_text("Tu cuenta")
    # Remembered for the user: another browser (asking for English) gets Spanish.
    other = open_tab(username, PASSWORD)
    other.page.goto("/account")
    expect(other.page.locator("html")).to_have_attribute("lang", "es")
    open_menu(other.page)
    other.page.locator("header").get_by_role("button", name="English").click()
    expect(other.page.locator("html")).to_have_attribute("lang", "en")
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    clean(tab)
    clean(other)


def test_password_change_shows_errors_beside_the_fields_then_works(open_tab, server, size):
    username = new_user(server, "pw")
    tab = open_tab(username, PASSWORD)
    page = tab.page
    page.goto("/account")
    panel = page.locator("#password-panel")
    expect(panel.locator("#password-rules")).to_contain_text("At least")

    panel.get_by_label("Current password").fill("not-my-password")
    panel.get_by_label(re.compile(r"^New password")).fill("a-new-long-password")
    panel.get_by_label("Repeat the new password").fill("a-new-long-password")
    panel.get_by_role("button", name="Change password").click()
    current = page.locator("#password-panel").get_by_label("Current password")
    expect(current).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#password-panel")).to_contain_text("This is not your current password.")

    panel = page.locator("#password-panel")
    panel.get_by_label("Current password").fill(PASSWORD)
    panel.get_by_label(re.compile(r"^New password")).fill("a-new-long-password")
    panel.get_by_label("Repeat the new password").fill("a-different-password")
    panel.get_by_role("button", name="Change password").click()
    expect(page.locator("#password-panel")).to_contain_text("The two passwords differ.")

    panel = page.locator("#password-panel")
    panel.get_by_label("Current password").fill(PASSWORD)
    panel.get_by_label(re.compile(r"^New password")).fill("a-new-long-password")
    panel.get_by_label("Repeat the new password").fill("a-new-long-password")
    panel.get_by_role("button", name="Change password").click()
    expect(tab.toast("Your password was changed")).to_be_visible()
    expect(page.locator("#password-panel .field-error")).to_have_count(0)
    # This browser stays signed in; the new password signs in elsewhere.
    page.goto("/account")
    expect(page).to_have_url(re.compile(r"/account$"))
    open_tab(username, "a-new-long-password")
    clean(tab, refused=True)


def test_retention_is_chosen_with_a_warning_for_delete_at_once(open_tab, server, size):
    tab = open_tab(new_user(server, "keep"), PASSWORD)
    page = tab.page
    page.goto("/account")
    panel = page.locator("#retention-panel")
    panel.get_by_label("7 days").check()
    panel.get_by_role("button", name="Save").click()
    expect(tab.toast("stay in the trash for 7 days")).to_be_visible()
    page.reload()
    expect(page.locator("#retention-panel").get_by_label("7 days")).to_be_checked()

    panel = page.locator("#retention-panel")
    panel.get_by_label("Delete at once").check()
    expect(panel.locator("#at-once-warning")).to_be_visible()
    panel.get_by_role("button", name="Save").click()
    expect(page.locator("#toasts .toast-warning")).to_contain_text("skip the waiting time")

    # Too many days: the field itself refuses (its max), nothing is sent or changed.
    panel = page.locator("#retention-panel")
    panel.get_by_label("Another number of days:").check()
    days = panel.get_by_label("Number of days", exact=True)
    days.fill("100000")
    panel.get_by_role("button", name="Save").click()
    assert days.evaluate("e => e.validity.rangeOverflow")
    page.reload()
    expect(page.locator("#retention-panel").get_by_label("Delete at once")).to_be_checked()
    clean(tab)


def test_export_downloads_json_and_zip(open_tab, server, size):
    username = new_user(server, "export")
    tab = open_tab(username, PASSWORD)
    page = tab.page
    tab.upload_and_see("exported.png", png(71))
    page.goto("/account")
    panel = page.locator("#export-panel")
    with page.expect_download() as got:
        panel.get_by_role("link", name="Download data (JSON)").click()
    data = json.loads(got.value.path().read_text(encoding="utf-8"))
    assert data["user"]["username"] == username
    assert [image["file_name"] for image in data["images"]] == ["exported.png"]
    assert got.value.suggested_filename.endswith(".json")
    with page.expect_download() as got:
        panel.get_by_role("link", name="Download everything (ZIP)").click()
    with open(got.value.path(), "rb") as stream, zipfile.ZipFile(io.BytesIO(stream.read())) as z:
        names = z.namelist()
    assert any(name.endswith("exported.png") for name in names), names
    clean(tab)


# -- /admin/purge --------------------------------------------------------------------------

def test_run_now_asks_in_the_dialog_then_purges(open_tab, server, seeded, size):
    username = new_user(server, "due")
    user = open_tab(username, PASSWORD)
    user.page.goto("/account")
    user.page.locator("#retention-panel").get_by_label("Delete at once").check()
    user.page.locator("#retention-panel").get_by_role("button", name="Save").click()
    expect(user.page.locator("#toasts .toast-warning")).to_be_visible()
    api = Api(server.url, username, PASSWORD)
    image = api.call("POST", "/api/v1/images",
                     files={"file": ("due-now.png", png(72), "image/png")}).json()
    api.call("DELETE", f"/api/v1/images/{image['id']}", headers=YES)

    admin = open_tab()
    page = admin.page
    sent = []
    page.on("request", lambda r: sent.append(r.method))
    page.goto("/admin/purge")
    due = page.locator("#purge table").first.locator("tbody tr", has_text="due-now.png")
    expect(due).to_contain_text(username)  # the owner by name, not an id
    run = page.get_by_role("button", name="Run now")
    run.click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text(re.compile(r"Delete the \d+ expired items? for good now"))
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    assert "DELETE" not in sent
    run.click()
    dialog.get_by_role("button", name="Purge now").click()
    expect(page.locator("#toasts .toast")).to_contain_text(re.compile(r"Purged \d+ items?"))
    expect(page.locator("#purge")).not_to_contain_text("due-now.png")
    history = page.locator("#purge table").last.locator("tbody tr").first
    expect(history).to_contain_text("on request")
    expect(history).to_contain_text("finished")
    clean(admin)


# -- /admin/audit ----------------------------------------------------------------------------

def test_audit_filters_by_who_action_and_target(open_tab, seeded, size):
    tab = open_tab()
    page = tab.page
    page.goto("/admin/audit")
    rows = page.locator("#events tbody tr[id]")
    expect(rows.first).to_be_visible()
    form = page.get_by_role("search")
    form.get_by_label("Target").fill("bruno")
    expect(page).to_have_url(re.compile(r"target=bruno"))
    expect(rows.first).to_contain_text("bruno")
    for row in rows.all():
        expect(row).to_contain_text("bruno")
    form.get_by_label("Action").select_option("deactivate")
    expect(page).to_have_url(re.compile(r"action=deactivate"))
    # Bruno's deactivation: its "started" and its outcome are one row, in words.
    expect(rows.filter(has_text="deactivated bruno")).to_have_count(1)
    shown = rows.count()
    for row in rows.all():
        expect(row).to_contain_text("deactivated")
        expect(row).to_contain_text(ADMIN_USERNAME)
    # Reload keeps the filters (they are in the URL).
    page.reload()
    expect(page.get_by_role("search").get_by_label("Target")).to_have_value("bruno")
    expect(rows).to_have_count(shown)
    page.get_by_role("search").get_by_label("Who").fill("nobody-did-this")
    expect(page.locator("#events")).to_contain_text("No events match.")
    clean(tab)


# -- /admin/users ------------------------------------------------------------------------

def test_admin_creates_deactivates_reactivates_and_deletes_a_user(open_tab, seeded, size):
    tab = open_tab()
    page = tab.page
    username = f"made{size}{next(_names)}"
    page.goto("/admin/users")
    form = page.locator("#create-user")
    form.get_by_label("Username").fill(username)
    form.get_by_label("E-mail").fill(f"{username}@example.com")
    form.get_by_label("Password").fill("a-long-password")
    with page.expect_response(lambda r: r.request.method == "POST"
                              and "/admin/users" in r.url) as created:
        form.get_by_role("button", name="Create user").click()
    assert created.value.status in (200, 201)
    page.goto(f"/admin/users?q={username}")
    row = page.locator("tr.user-row", has_text=username)
    expect(row).to_have_count(1)

    # Deactivate through the orange dialog: it says it can be undone.
    row.locator('[data-action="deactivate"]').click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("reactivated")
    dialog.get_by_role("button", name="Deactivate user").click()
    expect(row.locator(".badge", has_text="inactive")).to_be_visible()
    settled(page)
    row.get_by_role("button", name="Reactivate").click()
    expect(row.locator(".badge", has_text="active")).to_be_visible()
    settled(page)
    dismiss_toasts(page)

    # Delete through the red dialog: the dry run's consequences, then the typed username.
    row.locator('[data-action="delete"]').click()
    expect(dialog).to_contain_text("cannot be undone")
    expect(dialog).to_contain_text("photo")  # the consequences came from the dry run
    confirm = dialog.get_by_role("button", name="Delete permanently")
    expect(confirm).to_be_disabled()
    dialog.locator("input[data-confirm-text]").fill(username[:-1])
    expect(confirm).to_be_disabled()
    dialog.locator("input[data-confirm-text]").fill(username)
    expect(confirm).to_be_enabled()
    confirm.click()
    expect(row).to_have_count(0)
    expect(tab.toast("deleted permanently")).to_be_visible()
    # The founder's own row offers neither deactivation nor deletion.
    page.goto(f"/admin/users?q={ADMIN_USERNAME}")
    own = page.locator("tr.user-row", has_text=ADMIN_USERNAME)
    expect(own).to_have_count(1)
    expect(own.locator('[data-action="delete"]')).to_have_count(0)
    clean(tab)


def test_after_deleting_a_user_focus_goes_to_the_next_row(open_tab, server, size):
    """ux minor 13: the deleted user's row is gone, so focus goes to the same button of
    the row now in its place, not to the top of the page."""
    stem = f"gone{size}x{next(_names)}"
    first, second = new_user(server, stem + "a"), new_user(server, stem + "b")
    tab = open_tab()
    page = tab.page
    page.goto(f"/admin/users?q={stem}")
    rows = page.locator("tr.user-row")
    expect(rows).to_have_count(2)
    page.locator("tr.user-row", has_text=first).locator('[data-action="delete"]').focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("cannot be undone")
    dialog.locator("input[data-confirm-text]").fill(first)
    dialog.get_by_role("button", name="Delete permanently").click()
    expect(rows).to_have_count(1)
    expect(dialog).to_have_count(0)
    after = page.locator("tr.user-row", has_text=second).locator('[data-action="delete"]')
    expect(after).to_be_focused()
    clean(tab)


# -- /admin/media ------------------------------------------------------------------------

def test_media_settings_and_protection_lists(open_tab, seeded, size):
    tab = open_tab()
    page = tab.page
    page.goto("/admin/media")
    settings = page.locator("#media-settings")
    label = "Keep photos in the server cache for"  # in minutes, hours or days (issue 17)
    settings.get_by_label(label, exact=True).fill("-5")
    settings.get_by_role("button", name="Save").click()
    ttl = page.locator("#media-settings").get_by_label(label, exact=True)
    expect(ttl).to_have_attribute("aria-invalid", "true")
    settled(page)
    expect(page.locator("#media-settings .field-error")).to_have_count(2)  # summary, field
    ttl.fill("2")
    page.locator("#media-settings").get_by_role("button", name="Save").click()
    expect(page.locator("#media-settings")).to_contain_text("Saved.")
    page.reload()
    expect(page.locator("#media-settings").get_by_label(label, exact=True)).to_have_value("2")

    blocked = page.locator("#list-block_ips")
    entry = blocked.get_by_label("IP or CIDR")
    entry.fill("203.0.113.0/24")
    expect(page.locator("#cidr-preview-block_ips")).to_contain_text("256")  # addresses
    entry.fill("203.0.113.7/24")  # a second preview replaces the first
    expect(page.locator("#cidr-preview-block_ips")).to_contain_text("host bits are cleared")
    entry.fill("203.0.113.0/24")
    blocked.get_by_role("button", name="Add").click()
    expect(page.locator("#list-block_ips li", has_text="203.0.113.0/24")).to_have_count(1)
    settled(page)
    page.locator("#list-block_ips").get_by_role("button", name="Remove 203.0.113.0/24").click()
    expect(page.locator("#list-block_ips")).to_contain_text("None.")

    protection = page.locator("#protection-settings")
    protection.get_by_label("Per minute").fill("900")
    # The list's own "Saved." toast may still show: wait for this form's answer.
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url.endswith("/admin/media/protection/settings")) as saved:
        protection.get_by_role("button", name="Save").click()
    assert saved.value.ok
    settled(page)
    expect(page.locator("#protection-settings").get_by_label("Per minute")).to_have_value("900")
    page.reload()
    expect(page.locator("#protection-settings").get_by_label("Per minute")).to_have_value("900")
    clean(tab, refused=True)
