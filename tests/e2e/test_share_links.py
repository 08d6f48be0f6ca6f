"""Share links a person can use (issue 17 item 7): the owner shares from the viewer with
the expiry they pick, someone without an account opens the link in a fresh browser and
sees a page (the photo, its name, a Download button), the owner revokes it from the
viewer's Share panel, and the stranger's next visit shows a readable dead-link page."""

from __future__ import annotations

import re

from tests.e2e.conftest import assert_accessible, expect, png, shot, unique_name


def test_share_from_the_viewer_open_in_a_fresh_browser_and_revoke(signed_in, browser, server):
    tab, page = signed_in, signed_in.page
    name = unique_name("shared")
    card = tab.upload_and_see(name, png(11))
    card.locator("a.thumb").click()
    viewer = page.locator(".viewer")
    viewer.get_by_role("button", name="Share").click()

    # The Share button makes a 1-day link; the panel offers the four expiries.
    panel = viewer.locator("#share-panel")
    expect(panel.locator("input.share-url")).to_have_value(re.compile(r"\?exp=\d+&sid="))
    expect(panel.get_by_role("radio", name="1 day")).to_be_checked()
    for label in ("1 hour", "7 days", "30 days"):
        expect(panel.get_by_role("radio", name=label)).not_to_be_checked()
    expect(panel.locator(".share-link")).to_have_count(1)  # the list loaded

    # Pick 7 days: a new link, listed beside the first.
    panel.get_by_role("radio", name="7 days").check()
    panel.get_by_role("button", name="Make link").click()
    expect(tab.toast("Link ready").last).to_be_visible()  # the Share button's own may still show
    panel = viewer.locator("#share-panel")
    expect(panel.get_by_role("radio", name="7 days")).to_be_checked()
    expect(panel.locator(".share-link")).to_have_count(2)
    url = panel.locator("input.share-url").input_value()
    share_id = re.search(r"sid=([^&]+)", url)[1]
    shot(page, "share-panel-desktop")
    assert_accessible(page, "viewer with the Share panel")

    # Someone without an account opens it: a page, not a bare file.
    stranger = browser.new_context(viewport={"width": 390, "height": 844}, locale="es-ES")
    try:
        visit = stranger.new_page()
        answer = visit.goto(url)
        assert answer.status == 200 and "text/html" in answer.headers["content-type"]
        expect(visit.get_by_role("heading", name=name)).to_be_visible()
        photo = visit.locator(".shared-photo img")
        visit.wait_for_function("img => img.complete && img.naturalWidth > 0",
                                arg=photo.element_handle())
        assert "w=1280" in photo.get_attribute("src")
        expect(visit.get_by_role("link", name=re.compile("Descargar el original"))).to_be_visible()
        assert visit.locator('meta[property="og:image"]').get_attribute("content") \
            .startswith(server.url)
        assert visit.locator('meta[property="og:title"]').get_attribute("content") == name
        assert stranger.cookies() == []
        shot(visit, "share-link-page-phone-es")
        assert_accessible(visit, "shared photo page")

        # The owner revokes it from the viewer's panel: it disappears from the list.
        link_row = panel.locator(f'.share-link[data-share-id="{share_id}"]')
        link_row.get_by_role("button", name="Revoke").click()
        expect(tab.toast("The share link was revoked.")).to_be_visible()
        expect(viewer.locator(f'.share-link[data-share-id="{share_id}"]')).to_have_count(0)
        expect(viewer.locator(".share-link")).to_have_count(1)

        # The stranger's next visit: a readable page in their language, 403.
        answer = visit.goto(url)
        assert answer.status == 403
        expect(visit.get_by_role("heading", name="Este enlace ya no funciona")).to_be_visible()
        shot(visit, "share-link-revoked-phone-es")
        assert_accessible(visit, "revoked share link page")
    finally:
        stranger.close()
    assert not tab.console_errors and not tab.page_errors and not tab.csp
