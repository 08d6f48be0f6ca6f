"""The protection panel for people (issue 17 item 8, UX review M8): durations in
minutes, hours or days, each error once beside its field in words, readable Remove
buttons, blocks with the app's times and the photo's thumbnail and name."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from tests.conftest import ADMIN_PASSWORD, build_app
from tests.helpers import Browser
from tests.media.conftest import picture
from tests.media.helpers import set_media_config

SETTINGS = {"per_minute": "5", "per_hour": "100", "per_day": "1000", "threshold": "2",
            "block_for_s": "2", "block_for_s_unit": "hours", "block_scope": "media"}


@pytest.fixture
def app(tmp_path):
    return build_app(tmp_path)


@pytest.fixture
def admin(app):
    return Browser(app.test_client(), "founder", ADMIN_PASSWORD)


def test_block_duration_in_units_and_errors_once_in_words(app, admin, admin_api):
    saved = admin.request("POST", "/admin/media/protection/settings", data=SETTINGS)
    assert saved.status_code == 200, saved.text
    config = admin_api.get("/api/v1/admin/media/config").get_json()
    assert config["auto_block"]["block_for_s"] == 7200
    assert re.search(r'name="block_for_s" value="2"', saved.text)
    assert '<option value="hours" selected>' in saved.text

    bad = admin.request("POST", "/admin/media/protection/settings",
                        data={**SETTINGS, "per_minute": "-1", "block_for_s": "soon"})
    assert bad.status_code == 400
    assert "HX-Retarget" not in bad.headers  # no toast: the errors sit by their fields
    assert re.search(r'id="per_minute-error">Enter a whole number from 1 to 1,000,000,000\.<',
                     bad.text)
    assert 'id="block_for_s-error"' in bad.text and 'aria-invalid="true"' in bad.text
    assert "rate_limits" not in bad.text and "auto_block" not in bad.text
    assert 'value="-1"' in bad.text  # what was typed stays
    assert admin_api.get("/api/v1/admin/media/config").get_json()["rate_limits"][
        "per_minute"] != -1

    spanish = admin.request("POST", "/admin/media/protection/settings",
                            data={**SETTINGS, "threshold": "0"},
                            headers={"Accept-Language": "es"})
    assert "Introduce un número entero de 1 a 1,000,000,000." in spanish.text


def test_a_bad_list_entry_is_told_once_in_words(app, admin):
    bad = admin.request("POST", "/admin/media/protection/lists/allow_ips",
                        data={"entry": "not-an-ip"})
    assert bad.status_code == 400 and "HX-Retarget" not in bad.headers
    assert bad.text.count('class="field-error"') == 1
    assert "“not-an-ip” is not an IP address or network" in bad.text
    assert "allow_ips:" not in bad.text and 'value="not-an-ip"' in bad.text
    host_bits = admin.request("POST", "/admin/media/protection/lists/block_ips",
                              data={"entry": "10.0.0.1/8"})
    assert "type 10.0.0.0/8 for the whole network" in host_bits.text
    domain = admin.request("POST", "/admin/media/protection/lists/allowed_referrers",
                           data={"entry": "not a domain"}, headers={"Accept-Language": "es"})
    assert "no es un nombre de dominio" in domain.text

    added = admin.request("POST", "/admin/media/protection/lists/allow_ips",
                          data={"entry": "203.0.113.0/24"})
    assert added.status_code == 200
    # Remove reads as a button of the page, not the dark header's quiet style.
    assert re.search(r'class="btn btn-small btn-danger-soft"[^>]*\n?[^>]*'
                     r'hx-post="/admin/media/protection/lists/allow_ips/remove"', added.text)
    assert "btn-quiet" not in added.text


def test_blocks_show_times_as_the_app_does_and_the_photo(app, admin, alice_api):
    image = alice_api.upload(picture((64, 48)), name="sunset.png").get_json()
    url = alice_api.post(f"/api/v1/images/{image['id']}/share", json={"ttl_s": 3600}) \
        .get_json()["url"]
    parts = urlsplit(url)
    set_media_config(app, auto_block={"threshold_per_image_per_hour": 1, "block_for_s": 600})
    visitor = app.test_client()
    codes = [visitor.get(f"{parts.path}?{parts.query}",
                         environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code
             for _ in range(2)]
    assert codes == [200, 403]
    page = admin.request("GET", "/admin/media/protection", htmx=False).text
    row = page[page.index('id="block-198-51-100-7"'):]
    row = row[:row.index("</tr>")]
    assert "sunset.png" in row and f'href="/images/{image["id"]}"' in row
    assert f'src="/media/{image["id"]}/thumb"' in row
    assert not re.search(r">\d{4}-\d\d-\d\dT", row)  # no raw ISO text
    assert "ago" in row and "in 10 minutes" in row
    assert "Too many requests for one photo" in row
    # The page's cards count it, beside the block list.
    media = admin.request("GET", "/admin/media", htmx=False).text
    assert re.search(r'id="media-blocked">1<', media) and "0 on the block list" in media
