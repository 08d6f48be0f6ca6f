"""The pages in Spanish in real Chromium: a browser that asks for Spanish
(``locale="es-ES"``, so ``Accept-Language: es-ES``) gets the gallery, the trash, the viewer
and /admin/users in Spanish, each passing axe-core, with a screenshot of each page
(tests/artifacts/screenshots/*-es.png). The header's switcher takes the reader back to
English."""

from __future__ import annotations

import re

import pytest
import requests

from tests.e2e.conftest import (  # noqa: F401  (pytestmark applies to this module)
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    Tab,
    expect,
    png,
    pytestmark,
)
from tests.e2e.test_pages_a11y import DESKTOP, PHONE, assert_accessible, shot

SPANISH = "es-ES"
PASSWORD = "a-long-password"
YES = {"X-Confirm-Delete": "yes"}


def token(base: str, username: str, password: str) -> dict:
    answer = requests.post(f"{base}/api/v1/auth/token",
                           json={"username": username, "password": password}, timeout=30)
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def make_user(server, username: str) -> dict:
    admin = token(server.url, ADMIN_USERNAME, ADMIN_PASSWORD)
    made = requests.post(f"{server.url}/api/v1/users", headers=admin, timeout=30, json={
        "username": username, "email": f"{username}@example.com", "password": PASSWORD,
        "role": "user"})
    assert made.status_code == 201, made.text
    return token(server.url, username, PASSWORD)


def upload(server, headers, name: str, seed: int) -> str:
    answer = requests.post(f"{server.url}/api/v1/images", headers=headers, timeout=60,
                           files={"file": (name, png(seed), "image/png")})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


@pytest.fixture(scope="module")
def lucia(server):
    """Lucía's library: one photo kept, one in the trash."""
    headers = make_user(server, "lucia")
    kept = upload(server, headers, "puerto.png", 3)
    trashed = upload(server, headers, "faro.png", 4)
    gone = requests.delete(f"{server.url}/api/v1/images/{trashed}",
                           headers={**headers, **YES}, timeout=30)
    assert gone.status_code in (200, 204), gone.text
    return {"kept": kept, "trashed": trashed}


def spanish_tab(browser, server, username: str, password: str) -> Tab:
    """Signed in through the form, which is in Spanish too (its labels are not English)."""
    tab = Tab(browser, server.url, locale=SPANISH)
    page = tab.page
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    page.get_by_label("Nombre de usuario").fill(username)
    page.get_by_label("Contraseña").fill(password)
    page.get_by_role("button", name="Iniciar sesión").click()
    page.wait_for_url(re.compile(r"/$"))
    return tab


def check(page, name: str, size: str) -> None:
    expect(page.locator("html")).to_have_attribute("lang", "es")
    assert_accessible(page, f"{name} in Spanish ({size})")
    shot(page, f"{name}-{size}-es")


def test_an_empty_gallery_in_spanish(browser, server):
    make_user(server, "marta")
    tab = spanish_tab(browser, server, "marta", PASSWORD)
    try:
        tab.page.goto("/")
        expect(tab.page.locator("main")).to_contain_text("Aún no hay fotos")
        expect(tab.page.get_by_role("link", name="Galería")).to_be_visible()
        check(tab.page, "gallery-empty", "desktop")
        assert tab.csp == [] and tab.page_errors == []
    finally:
        tab.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_gallery_trash_and_viewer_in_spanish(browser, server, lucia, viewport):
    size = "desktop" if viewport is DESKTOP else "phone"
    tab = spanish_tab(browser, server, "lucia", PASSWORD)
    page = tab.page
    page.set_viewport_size(viewport)
    try:
        page.goto("/")
        expect(page.locator("#gallery")).to_contain_text("puerto.png")
        check(page, "gallery", size)

        page.goto("/trash")
        expect(page.get_by_role("heading", level=1)).to_have_text("Papelera")
        row = page.locator("#trash tbody tr", has_text="faro.png")
        expect(row.get_by_role("button", name="Restaurar")).to_be_visible()
        expect(row.get_by_role("button", name="Eliminar para siempre")).to_be_visible()
        expect(page.locator("main")).to_contain_text("1 elemento")
        expect(page.get_by_role("button", name="Vaciar la Papelera")).to_be_visible()
        check(page, "trash", size)

        page.goto(f"/images/{lucia['kept']}")
        expect(page.get_by_role("button", name="Información")).to_be_visible()
        expect(page.get_by_role("link", name="Descargar").first).to_be_visible()
        check(page, "viewer", size)
        assert tab.csp == [] and tab.page_errors == []
    finally:
        tab.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_admin_users_in_spanish(browser, server, lucia, viewport):
    size = "desktop" if viewport is DESKTOP else "phone"
    tab = spanish_tab(browser, server, ADMIN_USERNAME, ADMIN_PASSWORD)
    page = tab.page
    page.set_viewport_size(viewport)
    try:
        page.goto("/admin/users")
        expect(page.get_by_role("heading", level=1)).to_have_text("Usuarios")
        expect(page.get_by_role("button", name="Crear usuario")).to_be_visible()
        row = page.locator("tr.user-row", has_text="lucia")
        expect(row).to_contain_text("activa")
        check(page, "users", size)
        if size == "phone":
            assert page.locator("header.topbar").bounding_box()["height"] <= 64
        assert tab.csp == [] and tab.page_errors == []
    finally:
        tab.close()


def test_the_header_switches_a_spanish_reader_to_english(browser, server):
    """Signed out (the login page), the switcher sits in the header itself; its choice
    is remembered by a cookie, over the browser's Spanish."""
    tab = Tab(browser, server.url, locale=SPANISH)
    page = tab.page
    try:
        for viewport in (PHONE, DESKTOP):
            page.set_viewport_size(viewport)
            page.goto("/login")
            switcher = page.locator("header.topbar").get_by_role("form", name="Idioma")
            expect(switcher.get_by_role("button", name="English")).to_be_visible()
            assert page.locator("header.topbar").bounding_box()["height"] <= 64
        assert_accessible(page, "login in Spanish")
        shot(page, "login-desktop-es")
        switcher.get_by_role("button", name="English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        expect(page.locator("header.topbar").get_by_role("button", name="Español")).to_be_visible()
    finally:
        tab.close()
