"""The pages in Spanish in real Chromium: a browser that asks for Spanish
(``locale="es-ES"``, so ``Accept-Language: es-ES``) gets every page in Spanish (the
gallery, the trash, the viewer with its optimizer, the account page, every admin page,
the error pages and the sign-in lockout), with dialogs open and toasts shown, at 1280×800
and 390×844; each state passes axe-core and leaves a screenshot
(tests/artifacts/screenshots/<page>-<size>-es.png). The header's switcher takes the
reader back to English."""

from __future__ import annotations

import re

import pytest
import requests

from tests.e2e.conftest import (  # noqa: F401  (pytestmark applies to this module)
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    DESKTOP,
    PHONE,
    SIZES,
    YES,
    Tab,
    assert_accessible,
    expect,
    png,
    pytestmark,
    serve_pages,
    shot,
)

SPANISH = "es-ES"
PASSWORD = "a-long-password"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from serve_pages(tmp_path_factory, "es")


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
        expect(page.get_by_role("button", name="Vaciar la papelera")).to_be_visible()
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


# -- every other page, with its dialogs and toasts, at both sizes --------------------------

# Each admin page with its heading in Spanish (the page is not just labelled "es").
ADMIN_PAGES_ES = {
    "account": ("/account", "Tu cuenta"),
    "purge": ("/admin/purge", "Purga"),
    "audit": ("/admin/audit", "Registro de auditoría"),
    "endpoints": ("/admin/endpoints", "Rutas de eliminación"),
    "media": ("/admin/media", "Medios"),  # with its protection panel
    "media-protection": ("/admin/media/protection", "Protección de medios"),
    "users-inactive": ("/admin/users?status=inactive", "Usuarios"),
    "not-found": ("/no-such-page", "Aquí no hay nada"),
}


@pytest.fixture
def admin_es(browser, server, seeded, size):
    tab = spanish_tab(browser, server, ADMIN_USERNAME, ADMIN_PASSWORD)
    tab.page.set_viewport_size(SIZES[size])
    yield tab
    tab.close()


def test_every_admin_page_in_spanish(admin_es, size):
    tab, page = admin_es, admin_es.page
    for name, (path, heading) in ADMIN_PAGES_ES.items():
        page.goto(path)
        page.wait_for_load_state("networkidle")
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        # One header row in Spanish too (its longer words wrapped it to two at 1280 px).
        assert page.locator("header.topbar").bounding_box()["height"] <= 64, name
        check(page, name, size)
    # /admin/media shows the protection panel in Spanish too.
    page.goto("/admin/media")
    expect(page.locator("#media-protection h2")).to_have_text("Protección")
    assert tab.csp == [] and tab.page_errors == []


def test_dialogs_and_toasts_in_spanish(admin_es, seeded, size):
    """The users page's orange and red dialogs, the trash's dialog, and toasts after a
    change on the account, media and users pages."""
    tab, page = admin_es, admin_es.page
    page.goto("/admin/users?q=ana")
    row = page.locator("tr.user-row", has_text="ana")
    dialog = page.get_by_role("alertdialog")
    row.locator('[data-action="deactivate"]').click()
    expect(dialog).to_contain_text("Se puede reactivar más tarde")
    expect(dialog.get_by_role("button", name="Cancelar")).to_be_focused()
    check(page, "users-deactivate-dialog", size)
    page.keyboard.press("Escape")
    row.locator('[data-action="delete"]').click()
    expect(dialog.get_by_role("button", name="Eliminar para siempre")).to_be_disabled()
    expect(dialog.locator("#delete-consequences")).not_to_be_empty()  # the dry run arrived
    check(page, "users-delete-dialog", size)
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)

    page.goto("/trash")
    trash_row = page.locator("#trash tbody tr").first
    trash_row.get_by_role("button", name="Eliminar para siempre").click()
    expect(dialog).to_contain_text("¿Eliminar para siempre?")
    expect(dialog.locator(".modal-thumbs img")).to_have_count(1)
    check(page, "trash-delete-dialog", size)
    page.keyboard.press("Escape")

    page.goto("/account")
    panel = page.locator("#retention-panel")
    panel.get_by_label("Predeterminado del servidor", exact=False).check()
    panel.get_by_role("button", name="Guardar").click()
    expect(page.locator("#toasts .toast")).to_contain_text("predeterminado del servidor")
    check(page, "account-toast", size)

    page.goto("/admin/media")
    settings = page.locator("#media-settings")
    settings.get_by_role("button", name="Guardar").click()
    expect(page.locator("#media-settings")).to_contain_text("Guardado.")
    check(page, "media-saved", size)
    assert tab.csp == [] and tab.page_errors == [] and tab.dialogs == []


def test_purge_now_asks_and_answers_in_spanish(browser, server, seeded, size):
    """A user who chose "Delete at once" (the account page's warning, in Spanish) deletes
    a photo; the admin's Run now asks in the dialog and answers with a toast."""
    username = f"pablo{size}"
    headers = make_user(server, username)
    user = spanish_tab(browser, server, username, PASSWORD)
    try:
        user.page.set_viewport_size(SIZES[size])
        user.page.goto("/account")
        panel = user.page.locator("#retention-panel")
        panel.get_by_label("Eliminar de inmediato").check()
        expect(panel.locator("#at-once-warning")).to_be_visible()
        panel.get_by_role("button", name="Guardar").click()
        expect(user.page.locator("#toasts .toast")).to_contain_text("se saltan la espera")
        check(user.page, "account-delete-at-once", size)
    finally:
        user.close()
    image_id = upload(server, headers, "ola.png", 9)
    gone = requests.delete(f"{server.url}/api/v1/images/{image_id}",
                           headers={**headers, **YES}, timeout=30)
    assert gone.status_code == 200, gone.text

    admin = spanish_tab(browser, server, ADMIN_USERNAME, ADMIN_PASSWORD)
    try:
        page = admin.page
        page.set_viewport_size(SIZES[size])
        page.goto("/admin/purge")
        page.get_by_role("button", name="Ejecutar ahora").click()
        dialog = page.get_by_role("alertdialog")
        expect(dialog).to_contain_text("¿Purgar ahora?")
        check(page, "purge-dialog", size)
        dialog.get_by_role("button", name="Purgar ahora").click()
        expect(page.locator("#toasts .toast")).to_contain_text(re.compile(r"Se purg"))
        check(page, "purge-toast", size)
        assert admin.csp == [] and admin.page_errors == [] and admin.dialogs == []
    finally:
        admin.close()


def test_viewer_with_the_optimizer_in_spanish(browser, server, lucia, size):
    tab = spanish_tab(browser, server, "lucia", PASSWORD)
    page = tab.page
    page.set_viewport_size(SIZES[size])
    try:
        page.goto(f"/images/{lucia['kept']}")
        page.locator(".viewer").get_by_role("button", name="Información").click()
        expect(page.locator("#viewer-info")).to_contain_text("Optimizador")
        page.locator(".optimizer-form input[name=q]").fill("40")
        expect(page.locator(".optimizer-preview figcaption")).to_contain_text("40")
        check(page, "viewer-optimizer", size)
        assert tab.csp == [] and tab.page_errors == []
    finally:
        tab.close()


def test_error_pages_and_the_lockout_in_spanish(browser, server, size):
    tab = Tab(browser, server.url, locale=SPANISH)
    page = tab.page
    page.set_viewport_size(SIZES[size])
    try:
        page.goto("/no-such-page")
        expect(page.get_by_role("heading", level=1)).to_have_text("Aquí no hay nada")
        check(page, "not-found-signed-out", size)
        # Five wrong guesses for one name lock it out (LOGIN_USER_RATE_LIMIT of the
        # module's server); the form stays and says how long to wait, in Spanish.
        for _ in range(8):
            page.goto("/login")
            page.get_by_label("Nombre de usuario").fill(f"nadie-{size}")
            page.get_by_label("Contraseña").fill("mal")
            page.get_by_role("button", name="Iniciar sesión").click()
            if "dentro de" in page.locator("main").inner_text():
                break
        expect(page.get_by_role("alert")).to_contain_text(
            re.compile(r"Inténtalo de nuevo dentro de \d+"))
        expect(page.get_by_label("Contraseña")).to_be_visible()
        check(page, "login-locked-out", size)
        assert tab.csp == [] and tab.page_errors == []
    finally:
        tab.close()
