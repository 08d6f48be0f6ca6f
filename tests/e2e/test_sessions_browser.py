"""Real Chromium: the account page's session list signs other browsers out, for good, at
1280×800 and at 390×844."""

from __future__ import annotations

import re

from tests.e2e.conftest import (  # noqa: F401  (pytestmark applies to this module)
    SIZES,
    Tab,
    expect,
    pytestmark,
)


def test_sign_out_another_browser_then_everywhere(signed_in, browser, server, size):
    laptop, page = signed_in, signed_in.page
    page.set_viewport_size(SIZES[size])
    phone = Tab(browser, server.url)
    try:
        phone.sign_in()
        page.goto("/account")
        rows = page.locator("#sessions-panel tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.filter(has_text="This device")).to_have_count(1)

        other = rows.filter(has_not_text="This device")
        other.get_by_role("button", name="Sign out").click()
        expect(laptop.toast("That session was signed out")).to_be_visible()
        expect(rows).to_have_count(1)
        phone.page.goto("/account")
        phone.page.wait_for_url(re.compile(r"/login"))

        page.get_by_role("button", name="Sign out everywhere", exact=True).click()
        page.wait_for_url(re.compile(r"/login$"))
        page.goto("/account")
        page.wait_for_url(re.compile(r"/login"))
        assert laptop.console_errors == [] and laptop.csp == [] and laptop.page_errors == []
    finally:
        phone.close()
