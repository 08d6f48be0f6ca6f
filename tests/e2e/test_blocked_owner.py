"""An owner behind an auto-blocked address, in Chromium at 1280×800 and 390×844 (issue 17
item 9, UX review M9): a share link fetched too often from the household's one address
blocks it; the owner's gallery still shows every thumbnail and says why, with the time
the block ends; an admin behind the same address lifts it from the gallery's banner."""

from __future__ import annotations

import itertools
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
    png,
    pytestmark,
    shot,
)

PASSWORD = "blocked-password-1"
_names = itertools.count(1)


@pytest.fixture(params=list(SIZES), ids=list(SIZES))
def size(request) -> str:
    return request.param


def blocked_household(server) -> tuple[str, list[str], str]:
    """A new owner with three photos and a share link; the link fetched anonymously until
    this machine's address (the browser's too) is auto-blocked. Returns the username,
    the photo names and the link."""
    admin = Api(server.url, ADMIN_USERNAME, ADMIN_PASSWORD)
    username = f"owner{next(_names)}"
    admin.call("POST", "/api/v1/users", json={"username": username,
                                               "email": f"{username}@example.com",
                                               "password": PASSWORD, "role": "user"})
    owner = Api(server.url, username, PASSWORD)
    names, ids = [], []
    for n in range(3):
        name = f"{username}-photo-{n}.png"
        answer = owner.call("POST", "/api/v1/images", files={"file": (name, png(40 + n),
                                                                     "image/png")})
        names.append(name)
        ids.append(answer.json()["id"])
    url = owner.call("POST", f"/api/v1/images/{ids[0]}/share", json={"ttl_s": 3600}) \
        .json()["url"]
    admin.call("PATCH", "/api/v1/admin/media/config",
               json={"auto_block": {"threshold_per_image_per_hour": 2, "block_for_s": 3600}})
    parts = urlsplit(url)
    link = f"{server.url}{parts.path}?{parts.query}"
    codes = [requests.get(link, timeout=30).status_code for _ in range(3)]
    assert codes == [200, 200, 403], codes
    return username, names, link


def tiles_loaded(page) -> list[int]:
    """The natural width of every gallery thumbnail, once each has finished loading."""
    page.wait_for_function("() => [...document.querySelectorAll('#gallery img')]"
                           ".every(img => img.complete)")
    return page.evaluate("() => [...document.querySelectorAll('#gallery img')]"
                         ".map(img => img.naturalWidth)")


def test_the_owner_sees_every_photo_and_why_and_an_admin_lifts_it(browser, server, size):
    username, names, link = blocked_household(server)

    owner = Tab(browser, server.url)
    admin = Tab(browser, server.url, locale="es-ES")
    try:
        page = owner.page
        page.set_viewport_size(SIZES[size])
        owner.sign_in(username, PASSWORD)
        page.goto("/")
        banner = page.locator(".blocked-banner")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("Your address was blocked for too many requests until")
        expect(banner).to_contain_text("UTC")
        expect(banner.get_by_role("button", name="Lift the block")).to_have_count(0)
        widths = tiles_loaded(page)
        assert len(widths) == 3 and all(widths), widths  # no broken thumbnail
        for name in names:
            expect(owner.card(name)).to_be_visible()
        # The viewer: the photo loads, and its Info panel says the same.
        owner.card(names[1]).locator("a.thumb").click()
        photo = page.locator(".viewer .viewer-img")
        page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                               arg=photo.element_handle())
        shot(page, f"blocked-owner-viewer-{size}")
        page.goto("/")
        shot(page, f"blocked-owner-gallery-{size}")
        assert_accessible(page, "gallery with the blocked-address banner")
        assert owner.console_errors == [] and owner.page_errors == [] and owner.csp == []

        # An admin behind the same address, in Spanish: the banner offers to lift it.
        page = admin.page
        page.set_viewport_size(SIZES[size])
        page.goto("/login")  # in Spanish: the browser asks for it
        page.get_by_label("Nombre de usuario").fill(ADMIN_USERNAME)
        page.get_by_label("Contraseña").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Iniciar sesión").click()
        page.wait_for_url(re.compile(r"/$"))
        banner = page.locator(".blocked-banner")
        expect(banner).to_contain_text("Tu dirección se bloqueó por demasiadas solicitudes")
        banner.get_by_role("button", name="Levantar el bloqueo").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        expect(dialog.get_by_role("button", name="Cancelar")).to_be_focused()
        assert_accessible(page, "lift dialog over the gallery")
        dialog.get_by_role("button", name="Levantar el bloqueo").click()
        expect(page.locator(".blocked-banner")).to_have_count(0)
        expect(page.get_by_role("dialog")).to_have_count(0)
        assert requests.get(link, timeout=30).status_code == 200  # served again
        page.reload()
        expect(page.locator(".blocked-banner")).to_have_count(0)
        assert admin.page_errors == [] and admin.csp == []
    finally:
        owner.close()
        admin.close()
