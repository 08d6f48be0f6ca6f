"""The /admin/media page: stats, SVG charts, the cache and tracking settings form."""

from __future__ import annotations

import re

from app.media.stats import hourly_chart
from tests.conftest import ADMIN_PASSWORD, USER_PASSWORD
from tests.helpers import Browser
from tests.media.conftest import picture


def test_the_page_shows_stats_charts_and_the_settings(app, client, alice_api):
    image = alice_api.upload(picture(), name="sunset.png").get_json()
    alice_api.get(image["thumbnail_url"])
    alice_api.get(image["thumbnail_url"])
    browser = Browser(client, "founder", ADMIN_PASSWORD)
    page = browser.request("GET", "/admin/media", htmx=False)
    assert page.status_code == 200
    html = page.text
    assert 'href="/admin/media"' in html  # the nav link
    assert re.search(r'id="media-requests">\s*2<', html)
    assert "sunset.png" in html and "alice" in html
    assert html.count("<svg class=\"chart\"") == 2 and "<rect" in html
    assert 'hx-post="/admin/media/settings"' in html and 'name="csrf_token"' in html
    assert " style=" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    # Legible on a phone: no text smaller than 12 units in a 420-unit-wide chart.
    sizes = {int(s) for s in re.findall(r'font-size="(\d+)"', html)}
    assert sizes and min(sizes) >= 12
    fragment = browser.request("GET", "/admin/media")
    assert fragment.text.lstrip().startswith('<section id="media-admin"')


def test_the_form_saves_and_shows_errors_beside_the_field(app, client, admin_api):
    browser = Browser(client, "founder", ADMIN_PASSWORD)
    form = {"cache_enabled": "on", "cache_ttl_s": "120", "cache_max_bytes": "1000",
            "browser_max_age_s": "60", "events_retention_days": "9"}
    saved = browser.request("POST", "/admin/media/settings", data=form)
    assert saved.status_code == 200 and "Saved." in saved.text
    config = admin_api.get("/api/v1/admin/media/config").get_json()
    assert config["cache_ttl_s"] == 120 and config["events_retention_days"] == 9
    assert config["tracking_enabled"] is False  # an unchecked box

    bad = browser.request("POST", "/admin/media/settings",
                          data={**form, "events_retention_days": "400"})
    assert bad.status_code == 400
    assert re.search(r'id="events_retention_days-error">[^<]*events_retention_days', bad.text)
    assert 'value="400"' in bad.text  # what was typed is shown again
    assert admin_api.get("/api/v1/admin/media/config").get_json()["events_retention_days"] == 9
    text = browser.request("POST", "/admin/media/settings", data={**form, "cache_ttl_s": "abc"})
    assert text.status_code == 400 and 'id="cache_ttl_s-error"' in text.text

    no_csrf = browser.request("POST", "/admin/media/settings", data=form, csrf=False)
    assert no_csrf.status_code in (400, 403)


def test_the_page_is_for_admins(app, make_user):
    user = make_user()
    browser = Browser(app.test_client(), user.username, USER_PASSWORD)
    assert browser.request("GET", "/admin/media", htmx=False).status_code == 403
    assert 'href="/admin/media"' not in browser.request("GET", "/", htmx=False).text
    assert browser.request("POST", "/admin/media/settings",
                           data={"cache_ttl_s": "5"}).status_code == 403


def test_chart_labels_are_never_repeated():
    series = [{"hour": f"2026-11-30T{h:02d}:00:00Z", "requests": h, "bytes_served": 0}
              for h in range(24)]
    chart = hourly_chart(series, "requests")
    texts = [label["text"] for label in chart.labels]
    assert texts == ["00:00", "06:00", "12:00", "18:00"]
    assert chart.bars[23]["height"] > chart.bars[1]["height"] > chart.bars[0]["height"] == 0
