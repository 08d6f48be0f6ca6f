"""The media admin page for people, in Chromium at 1280×800 and 390×844 (issue 17 item 8,
UX review M8): sizes and times typed with units, each error once beside its field in
words (no toast, no setting's key), Remove buttons axe can read, and an automatic block
listed with the app's times and the photo's thumbnail and name, lifted from its row."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import requests

from tests.e2e.conftest import (  # noqa: F401  (pytestmark applies to this module)
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    SIZES,
    Api,
    Tab,
    assert_accessible,
    expect,
    no_sideways_scroll,
    png,
    pytestmark,
    shot,
    too_wide,
)


@pytest.fixture(params=list(SIZES), ids=list(SIZES))
def size(request) -> str:
    return request.param


@pytest.fixture
def admin_tab(browser, server, size):
    tab = Tab(browser, server.url)
    tab.page.set_viewport_size(SIZES[size])
    tab.sign_in(ADMIN_USERNAME, ADMIN_PASSWORD)
    yield tab
    tab.close()


def settled(page) -> None:
    for _ in range(250):
        if page.evaluate("() => !document.querySelector("
                         "'.htmx-added, .htmx-settling, .htmx-swapping, .htmx-request')"):
            return
        page.wait_for_timeout(20)
    raise AssertionError("htmx never settled")


def test_settings_in_units_errors_once_and_readable_lists(admin_tab, size):
    tab, page = admin_tab, admin_tab.page
    page.goto("/admin/media")
    settings = page.locator("#media-settings")
    expect(settings).not_to_contain_text("(bytes)")
    expect(settings).not_to_contain_text("(seconds)")

    # Eight days is more than the cache keeps anything: told once, beside the field.
    ttl = settings.get_by_label("Keep photos in the server cache for", exact=True)
    ttl.fill("8")
    settings.get_by_label("Keep photos in the server cache for: unit").select_option("days")
    settings.get_by_role("button", name="Save").click()
    settled(page)
    settings = page.locator("#media-settings")
    ttl = settings.get_by_label("Keep photos in the server cache for", exact=True)
    expect(ttl).to_have_attribute("aria-invalid", "true")
    expect(settings.locator("#cache_ttl_s-error")).to_have_text(
        "Enter a time from 1 second to 7 days.")
    expect(page.locator("#toasts .toast")).to_have_count(0)
    assert_accessible(page, f"media settings with an error ({size})")

    ttl.fill("2")
    settings.get_by_label("Keep photos in the server cache for: unit").select_option("hours")
    size_field = settings.get_by_label("Largest photo kept in the server cache", exact=True)
    size_field.fill("3")
    settings.get_by_label("Largest photo kept in the server cache: unit").select_option("MB")
    settings.get_by_role("button", name="Save").click()
    expect(page.locator("#media-settings")).to_contain_text("Saved.")
    page.reload()
    settings = page.locator("#media-settings")
    expect(settings.get_by_label("Keep photos in the server cache for", exact=True)) \
        .to_have_value("2")
    expect(settings.get_by_label("Keep photos in the server cache for: unit")) \
        .to_have_value("hours")
    expect(settings.get_by_label("Largest photo kept in the server cache", exact=True)) \
        .to_have_value("3")
    expect(settings.get_by_label("Largest photo kept in the server cache: unit")) \
        .to_have_value("MB")

    # A bad address: one error, in words, beside the field; no toast, no key name.
    allowed = page.locator("#list-allow_ips")
    allowed.get_by_label("IP or CIDR").fill("not-an-ip")
    allowed.get_by_role("button", name="Add").click()
    settled(page)
    allowed = page.locator("#list-allow_ips")
    expect(allowed.locator(".field-error")).to_have_count(1)
    expect(allowed.locator(".field-error")).to_contain_text("is not an IP address or network")
    expect(page.locator("#toasts .toast")).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text("allow_ips:")
    allowed.get_by_label("IP or CIDR").fill("203.0.113.0/24")
    allowed.get_by_role("button", name="Add").click()
    remove = page.locator("#list-allow_ips").get_by_role("button", name="Remove 203.0.113.0/24")
    expect(remove).to_be_visible()
    assert_accessible(page, f"media page with a listed address ({size})")  # Remove's contrast
    settled(page)
    remove.click()
    expect(page.locator("#list-allow_ips")).to_contain_text("None.")

    # The block duration with its unit; an error beside the field.
    protection = page.locator("#protection-settings")
    protection.get_by_label("Block for", exact=True).fill("-1")
    protection.get_by_role("button", name="Save").click()
    settled(page)
    protection = page.locator("#protection-settings")
    expect(protection.locator("#block_for_s-error")).to_be_visible()
    expect(protection.get_by_label("Block for", exact=True)) \
        .to_have_attribute("aria-invalid", "true")
    protection.get_by_label("Block for", exact=True).fill("30")
    protection.get_by_label("Block for: unit").select_option("minutes")
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url.endswith("/admin/media/protection/settings")) as saved:
        protection.get_by_role("button", name="Save").click()
    assert saved.value.ok
    assert no_sideways_scroll(page), too_wide(page)
    shot(page, f"admin-media-form-{size}")
    assert tab.page_errors == [] and tab.csp == []


def test_an_automatic_block_shows_its_photo_and_times(admin_tab, server, size):
    page = admin_tab.page
    admin = Api(server.url, ADMIN_USERNAME, ADMIN_PASSWORD)
    name = f"hammered-{size}.png"
    image = admin.call("POST", "/api/v1/images", files={"file": (name, png(70), "image/png")}) \
        .json()
    url = admin.call("POST", f"/api/v1/images/{image['id']}/share", json={"ttl_s": 3600}) \
        .json()["url"]
    admin.call("PATCH", "/api/v1/admin/media/config",
               json={"auto_block": {"threshold_per_image_per_hour": 1, "block_for_s": 1800}})
    parts = urlsplit(url)
    link = f"{server.url}{parts.path}?{parts.query}"
    assert [requests.get(link, timeout=30).status_code for _ in range(2)] == [200, 403]

    page.goto("/admin/media")
    row = page.locator("#ip-blocks tbody tr", has_text="127.0.0.1")
    expect(row).to_contain_text(name)
    expect(row).to_contain_text("Too many requests for one photo")
    row.scroll_into_view_if_needed()  # the thumbnail loads lazily, once near the screen
    thumb = row.locator("img.mini")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=thumb.element_handle())  # an admin's fetch is never blocked
    assert row.get_by_role("link", name=re.compile(re.escape(name))) \
        .get_attribute("href") == f"/images/{image['id']}"
    expect(row.locator("time")).to_have_count(2)
    assert not re.search(r"\d{4}-\d\d-\d\dT", row.inner_text())
    expect(row).to_contain_text("in 30 minutes")
    assert_accessible(page, f"media page with an automatic block ({size})")
    shot(page, f"admin-media-block-{size}")

    row.get_by_role("button", name="Lift the block on 127.0.0.1").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    dialog.get_by_role("button", name="Lift block").click()
    expect(page.locator("#ip-blocks tbody tr", has_text="127.0.0.1")).to_have_count(0)
    assert requests.get(link, timeout=30).status_code == 200
