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
    assert re.search(r'id="events_retention_days-error">Enter a whole number of days from 1 '
                     r'to 365\.<', bad.text)
    assert "events_retention_days must" not in bad.text  # words, not the setting's key
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


def test_sizes_and_times_are_typed_in_units_and_stored_in_bytes_and_seconds(app, client,
                                                                          admin_api):
    """Issue 17 item 8: KB/MB and minutes/hours/days in the form, stored as before."""
    browser = Browser(client, "founder", ADMIN_PASSWORD)
    page = browser.request("GET", "/admin/media", htmx=False).text
    assert "(bytes)" not in page and "(seconds)" not in page
    form = {"cache_enabled": "on", "cache_ttl_s": "2", "cache_ttl_s_unit": "hours",
            "cache_max_bytes": "1.5", "cache_max_bytes_unit": "MB",
            "browser_max_age_s": "30", "browser_max_age_s_unit": "days",
            "events_retention_days": "9", "events_retention_days_unit": "days"}
    saved = browser.request("POST", "/admin/media/settings", data=form)
    assert saved.status_code == 200, saved.text
    config = admin_api.get("/api/v1/admin/media/config").get_json()
    assert (config["cache_ttl_s"], config["cache_max_bytes"], config["browser_max_age_s"]) \
        == (7200, 1572864, 30 * 86400)
    # Shown back in the largest unit each is a whole number of.
    page = browser.request("GET", "/admin/media", htmx=False).text
    assert re.search(r'name="cache_ttl_s" value="2"', page)
    assert re.search(r'<option value="hours" selected>hours</option>', page)
    assert re.search(r'name="cache_max_bytes" value="1536"', page)  # 1.5 MB = 1536 KB
    assert re.search(r'name="browser_max_age_s" value="30"', page)

    # Out of range: one inline error in words, nothing saved, no toast.
    bad = browser.request("POST", "/admin/media/settings",
                          data={**form, "cache_ttl_s": "8", "cache_ttl_s_unit": "days"})
    assert bad.status_code == 400
    assert bad.text.count('class="field-error"') == 2  # the summary and the field's own
    assert re.search(r'id="cache_ttl_s-error">Enter a time from 1 second to 7 days\.<',
                     bad.text)
    assert "HX-Retarget" not in bad.headers and "toast" not in bad.text
    assert "cache_ttl_s must" not in bad.text
    assert admin_api.get("/api/v1/admin/media/config").get_json()["cache_ttl_s"] == 7200
    big = browser.request("POST", "/admin/media/settings",
                          data={**form, "cache_max_bytes": "101"})
    assert "Enter a size from 0 to 100 MB." in big.text

    spanish = browser.request("POST", "/admin/media/settings",
                              data={**form, "cache_max_bytes": "abc"},
                              headers={"Accept-Language": "es"})
    assert spanish.status_code == 400
    assert "Introduce un tamaño de 0 a 100 MB." in spanish.text
    assert ">horas</option>" in spanish.text
