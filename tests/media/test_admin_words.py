"""Words (issue 17 item 10): the pages say "photos" ("fotos"), never "images"
("imágenes"), in both languages; the selection's Clear is "Quitar selección"."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ADMIN_PASSWORD, build_app, png_bytes
from tests.helpers import Browser

PAGES = ["/", "/trash", "/account", "/admin/users", "/admin/media", "/admin/media/protection",
         "/admin/audit", "/admin/purge", "/admin/endpoints"]
ENGLISH = re.compile(r"\bimages?\b", re.IGNORECASE)
SPANISH = re.compile(r"\bim[aá]gen(es)?\b", re.IGNORECASE)


@pytest.fixture
def app(tmp_path):
    return build_app(tmp_path)


def visible_text(html: str) -> str:
    """What a reader sees as prose: no scripts or styles, no code (routes such as
    /api/v1/images are names, not words), no tags (attributes go with them)."""
    html = re.sub(r"<(script|style|code)\b.*?</\1>", " ", html, flags=re.S | re.I)
    return re.sub(r"<[^>]+>", " ", html)


@pytest.mark.parametrize("language, word", [("en", ENGLISH), ("es", SPANISH)])
def test_every_page_says_photos(app, alice_api, language, word):
    ids = [alice_api.upload(png_bytes(color=(i, 20, 20)), name=f"p{i}.png").get_json()["id"]
           for i in range(2)]
    alice_api.delete(f"/api/v1/images/{ids[0]}", headers={"X-Confirm-Delete": "yes"})
    admin = Browser(app.test_client(), "founder", ADMIN_PASSWORD)
    admin.upload(png_bytes(color=(9, 9, 9)), name="mine.png")
    headers = {"Accept-Language": language}
    found = {}
    pages = {path: admin.request("GET", path, htmx=False, headers=headers) for path in PAGES}
    pages["deactivate dialog"] = admin.request(
        "GET", f"/admin/users/{alice_api.user.id}/confirm/deactivate", headers=headers)
    for where, page in pages.items():
        assert page.status_code == 200, where
        text = " ".join(visible_text(page.text).split())
        hits = [text[max(0, m.start() - 50):m.end() + 10] for m in word.finditer(text)]
        if hits:
            found[where] = hits
    assert found == {}


def test_spanish_clear_is_quitar_seleccion(app, alice_api):
    alice_api.upload(png_bytes(), name="p.png")
    admin = Browser(app.test_client(), "founder", ADMIN_PASSWORD)
    admin.upload(png_bytes(color=(3, 3, 3)), name="mine.png")
    page = admin.request("GET", "/", htmx=False, headers={"Accept-Language": "es"}).text
    assert ">Quitar selección</button>" in page and ">Borrar<" not in page


def test_a_dry_run_summary_reads_in_words(app, alice_api):
    """A page's dry run names the action as the audit log does, not its code."""
    admin = Browser(app.test_client(), "founder", ADMIN_PASSWORD)
    admin.upload(png_bytes(color=(4, 4, 4)), name="mine.png")
    page = admin.request("GET", "/", htmx=False).text
    image_id = re.search(r'id="image-([0-9a-f-]{36})"', page).group(1)
    for language, words in (("en", "Moved to the trash</strong> would affect"),
                            ("es", "1 foto")):
        dry = admin.request("DELETE", f"/images/{image_id}?dry_run=true",
                            headers={"Accept-Language": language})
        assert dry.status_code == 200, dry.text
        assert words in dry.text and "soft delete" not in dry.text.lower()
