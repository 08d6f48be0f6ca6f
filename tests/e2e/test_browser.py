"""Real Chromium (Python Playwright, sync API) against the app started by `make run`.
(The users page's dialogs and the account and admin pages' flows, at both sizes, are in
tests/e2e/test_admin_flows.py.)

The server starts once for the module on a fresh instance (no demo data) and the browser
once for the session; each test gets its own browser context, signs in through the login
form and works on images with names of its own, so the tests do not depend on each other.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import (  # noqa: F401  (pytestmark applies to this module)
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    SIZES,
    Tab,
    expect,
    png,
    pytestmark,
    unique_name,
)
from tests.support.server import AppServer


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
    # The upload panel says it, not a toast.
    expect(page.locator("#upload-title")).to_have_text("1 photo uploaded")
    expect(page.locator("#toasts .toast")).to_have_count(0)
    # The thumbnail is served through its stable /media URL and actually loads.
    thumb = card.locator("img")
    expect(thumb).to_have_attribute("src", re.compile(r"^/media/[0-9a-f-]{36}/thumb$"))
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


@pytest.mark.parametrize("size", list(SIZES))
def test_toasts_never_cover_the_end_of_the_page(signed_in, size):
    """Toasts sit over the bottom of the screen. While one shows, the page grows by the
    room it takes, so the last row (and its buttons) can still be scrolled clear of it;
    once it is gone the page is its own length again."""
    tab, page = signed_in, signed_in.page
    page.set_viewport_size(SIZES[size])
    name = unique_name("room")
    tab.upload_and_see(name, png(1))
    tab.trash_from_gallery(name)
    toast = tab.toast("moved to the trash")
    expect(toast).to_be_visible()
    toast.hover()  # a status toast closes by itself after 10 s, not while hovered
    # A page longer than the screen, whose very end is a row of buttons.
    page.evaluate("""() => {
        const row = document.createElement('div');
        row.id = 'last-row';
        row.style.marginTop = '3000px';
        row.innerHTML = '<button type="button" class="btn">Last</button>';
        document.getElementById('main').appendChild(row);
    }""")
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    button = page.locator("#last-row button").bounding_box()
    toasts = page.locator("#toasts").bounding_box()
    assert button["y"] + button["height"] <= toasts["y"], (button, toasts)
    toast.get_by_role("button", name="Dismiss").click()
    expect(page.locator("#toasts .toast")).to_have_count(0)
    expect(page.locator("#main")).to_have_css(
        "padding-bottom", "16px" if size == "phone" else "24px")
    assert tab.csp == [] and tab.page_errors == []


# The old signed URLs died after SIGNED_URL_TTL_S; this module's server sets it to 1 s, so
# a page kept open past it proves its image URLs outlive any such lifetime.
SHORT_TTL_S = 1


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with AppServer(tmp_path_factory.mktemp("e2e"), SIGNED_URL_TTL_S=str(SHORT_TTL_S)) as app:
        yield app


def test_images_keep_their_urls_open_in_a_tab_and_share_by_link(signed_in, browser, server):
    tab, page = signed_in, signed_in.page
    name = unique_name("stable")
    card = tab.upload_and_see(name, png(7))
    src = card.locator("img").get_attribute("src")
    href = src.removesuffix("/thumb")
    # Left open longer than SIGNED_URL_TTL_S: the photo still opens in the viewer, and
    # the full image loads from the URL the page was rendered with.
    page.wait_for_timeout(SHORT_TTL_S * 1000 + 1500)
    card.locator("a.thumb").click()
    shown = page.locator(".viewer img").first
    expect(shown).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=shown.element_handle())
    page.keyboard.press("Escape")
    expect(page.locator(".viewer")).to_have_count(0)
    # A later render (a day later as well: the URL carries no expiry) gives the same URLs,
    # so the browser cache answers them.
    page.reload()
    card = tab.card(name)
    expect(card.locator("img")).to_have_attribute("src", src)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=card.locator("img").element_handle())
    original = browser.new_page(storage_state=page.context.storage_state())
    try:
        assert original.goto(server.url + href).status == 200
    finally:
        original.close()

    # The viewer's Share gives a link in a field with a Copy button.
    card.locator("a.thumb").click()
    page.locator(".viewer").get_by_role("button", name="Share").click()
    field = page.locator(".viewer input.share-url")
    expect(field).to_have_value(re.compile(re.escape(href) + r"\?exp=\d+&sid=[\w-]+&sig="))
    expect(tab.toast("Link ready").last).to_be_visible()
    # Someone without an account opens the link.
    stranger = browser.new_context()
    try:
        answer = stranger.request.get(field.input_value())
        assert answer.status == 200 and answer.headers["content-type"] == "image/png"
        assert stranger.request.get(server.url + href).status == 401
    finally:
        stranger.close()
    assert not tab.console_errors and not tab.page_errors and not tab.csp


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
    tab.confirm(name)
    expect(row).to_have_count(0)
    expect(tab.toast("was deleted permanently")).to_be_visible()
    assert tab.dialogs == []  # the styled dialog asked, not the browser's confirm()

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
    tab.confirm()
    expect(page.locator("#trash tbody tr", has_text=drop)).to_have_count(0)
    expect(page.locator("#trash tbody tr", has_text=keep)).to_have_count(1)
    expect(tab.toast("Deleted 1 item for good")).to_be_visible()
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
    tab.confirm(drop)
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
    tab.confirm("Delete all")
    expect(page.locator("#trash")).to_contain_text("The trash is empty.")
    expect(page.locator("#trash tbody tr")).to_have_count(0)
    expect(tab.toast("for good")).to_be_visible()
    assert tab.dialogs == []

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

    # A file the server refuses is named once, in the upload panel, not in a toast.
    name = unique_name("not-an-image")
    tab.upload(name, b"just some text, not pixels\n" * 20)
    failed = page.locator("#upload-errors li")
    expect(failed).to_have_text([f"{name}: The file is not a photo Papelera can read."])
    expect(page.locator("#upload-title")).to_have_text("0 photos uploaded, 1 not uploaded")
    expect(page.locator("#toasts .toast")).to_have_count(0)

    # Any other refused htmx request (here: sharing a photo that does not exist) swaps an
    # error toast into the toast area, never into what it targeted.
    page.evaluate("""() => htmx.ajax('POST', '/images/00000000-0000-4000-8000-000000000000/share',
                                     {source: document.body, target: '#lightbox'})""")
    error = page.locator("#toasts .toast-error")
    expect(error).to_have_count(1)
    expect(error).to_have_attribute("role", "alert")
    expect(error.locator(".toast-message")).to_have_text("No such photo.")

    # The gallery is intact: the errors went to the panel and the toast area.
    expect(page.locator("#gallery .card")).to_have_count(cards_before)
    expect(tab.card(keep)).to_have_count(1)
    assert page.locator("#gallery .toast").count() == 0
    assert page.locator("#lightbox .toast").count() == 0
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
