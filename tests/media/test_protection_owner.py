"""An owner behind an auto-blocked address (issue 17 item 9, UX review M9): their own
photos still load, their pages say why share links fail, and an admin lifts it there.
The block still holds for anonymous and share-link traffic, and the block list spares
no one."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.conftest import ADMIN_PASSWORD, USER_PASSWORD
from tests.helpers import Browser
from tests.media.conftest import picture, protection_app
from tests.media.helpers import set_media_config

CONFIRM = {"X-Confirm-Delete": "yes"}
HOME = "127.0.0.1"  # the test client's address: the owner's browser and the abuser share it
OTHER = "198.51.100.8"


@pytest.fixture(params=[("sqlite", "memory"), ("postgresql", "redis")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def app(request, tmp_path, postgres_database):
    yield from protection_app(*request.param, tmp_path, postgres_database)


@pytest.fixture
def image(alice_api):
    return alice_api.upload(picture((64, 48)), name="beach.png").get_json()


@pytest.fixture
def link(alice_api, image):
    url = alice_api.post(f"/api/v1/images/{image['id']}/share", json={"ttl_s": 3600}) \
        .get_json()["url"]
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def hammer(app, link, ip=HOME, times=3):
    """An anonymous visitor fetching the share link until ``ip`` is auto-blocked."""
    anonymous = app.test_client()
    codes = [anonymous.get(link, environ_base={"REMOTE_ADDR": ip}).status_code
             for _ in range(times)]
    assert codes[-1] == 403, codes
    return anonymous


def test_an_auto_blocked_owner_still_sees_their_photos_and_is_told_why(app, image, link, alice,
                                                                      make_user):
    set_media_config(app, auto_block={"threshold_per_image_per_hour": 2, "block_for_s": 3600})
    owner = Browser(app.test_client(), "alice", USER_PASSWORD)
    anonymous = hammer(app, link)

    # The owner, signed in, fetching her own photos: served, however often.
    for _ in range(4):
        assert owner.client.get(image["thumbnail_url"]).status_code == 200
        assert owner.client.get(image["url"]).status_code == 200
    # The block still holds for anonymous and share-link traffic from that address,
    # for someone else signed in, and for the owner's own link opened signed out.
    assert anonymous.get(link).get_json()["code"] == "ip_blocked"
    bob = Browser(app.test_client(), make_user("bob").username, USER_PASSWORD)
    assert bob.client.get(link).status_code == 403
    assert app.test_client().get(link, environ_base={"REMOTE_ADDR": OTHER}).status_code == 200

    # Her gallery and viewer say so, with the time it ends; not a lift button (not admin).
    gallery = owner.request("GET", "/", htmx=False).text
    assert "Your address was blocked for too many requests until" in gallery
    assert "UTC" in gallery and "Lift the block" not in gallery
    viewer = owner.request("GET", f"/images/{image['id']}", htmx=False).text
    assert "Your address was blocked for too many requests" in viewer
    spanish = owner.request("GET", "/", htmx=False, headers={"Accept-Language": "es"}).text
    assert "Tu dirección se bloqueó por demasiadas solicitudes hasta las" in spanish
    # Another address: nothing to tell.
    elsewhere = owner.request("GET", "/", htmx=False,
                              environ_base={"REMOTE_ADDR": OTHER}).text
    assert "blocked-banner" not in elsewhere


def test_an_admin_behind_the_block_lifts_it_from_the_gallery(app, image, link):
    set_media_config(app, auto_block={"threshold_per_image_per_hour": 2, "block_for_s": 0})
    admin = Browser(app.test_client(), "founder", ADMIN_PASSWORD)
    anonymous = hammer(app, link)
    assert admin.client.get(image["thumbnail_url"]).status_code == 200  # admins see all

    gallery = admin.request("GET", "/", htmx=False).text
    assert "until an administrator lifts it" in gallery and "Lift the block" in gallery
    confirm = admin.request("GET", f"/admin/media/protection/blocks/{HOME}/confirm")
    assert confirm.status_code == 200 and 'hx-target="#block-127-0-0-1"' in confirm.text
    assert 'id="block-127-0-0-1"' in gallery  # what the lift's answer replaces
    lifted = admin.request("DELETE", f"/admin/media/protection/blocks/{HOME}",
                           headers=CONFIRM)
    assert lifted.status_code == 200
    assert anonymous.get(link).status_code == 200
    assert "blocked-banner" not in admin.request("GET", "/", htmx=False).text


def test_site_scope_auto_block_spares_signed_in_pages_not_anonymous_ones(app, image, link):
    set_media_config(app, block_scope="site",
                     auto_block={"threshold_per_image_per_hour": 2, "block_for_s": 600})
    owner = Browser(app.test_client(), "alice", USER_PASSWORD)
    anonymous = hammer(app, link)
    assert anonymous.get("/api/v1/images").status_code == 403
    page = owner.request("GET", "/", htmx=False)
    assert page.status_code == 200 and "blocked-banner" in page.text


def test_the_block_list_spares_no_one_but_the_owner_is_told(app, image):
    set_media_config(app, block_ips=[HOME])
    owner = Browser(app.test_client(), "alice", USER_PASSWORD)
    assert owner.client.get(image["thumbnail_url"]).status_code == 403
    gallery = owner.request("GET", "/", htmx=False).text
    assert "is on the block list" in gallery
