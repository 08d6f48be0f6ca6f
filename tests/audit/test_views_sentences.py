"""The audit log in sentences (issue 17 item 10, UX review minor 7): one row per action, no
raw JSON or bytes, dry runs as previews, people and photos by name, in both languages."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ADMIN_PASSWORD, USER_PASSWORD, Api, login_api, png_bytes
from tests.helpers import Browser

YES = {"X-Confirm-Delete": "yes"}


def rows(html: str) -> list[str]:
    """Each row of the log as the reader sees it: tags gone, spaces squeezed."""
    body = html[html.index("<tbody>"):]
    found = re.findall(r'<tr id="event-\d+">(.*?)</tr>', body, flags=re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in found]


@pytest.fixture
def history(app, alice, alice_api, admin_api, make_user, client):
    """ana's and the admin's everyday actions, through the API and the pages."""
    ids = [alice_api.upload(png_bytes(color=(i, 1, 1)), name=f"p{i}.png").get_json()["id"]
           for i in range(4)]
    alice_api.delete(f"/api/v1/images/{ids[0]}", headers=YES)
    alice_api.delete(f"/api/v1/images/{ids[1]}?dry_run=true")
    alice_api.post(f"/api/v1/images/{ids[0]}/restore")
    alice_api.delete(f"/api/v1/images/{ids[2]}", headers=YES)
    alice_api.delete(f"/api/v1/images/{ids[3]}", headers=YES)
    alice_api.delete("/api/v1/trash?dry_run=true")
    alice_api.delete("/api/v1/trash", headers=YES)
    bob = make_user("bob")
    Api(client, login_api(client, "bob", USER_PASSWORD), bob).upload(png_bytes(), name="b.png")
    admin_api.patch(f"/api/v1/users/{bob.id}/deactivate", headers=YES)
    admin_api.delete(f"/api/v1/users/{bob.id}?permanent=true&force=true&dry_run=true")
    deleted = admin_api.delete(f"/api/v1/users/{bob.id}?permanent=true&force=true",
                               headers={"X-Confirm-Delete": "bob"})
    assert deleted.status_code == 200, deleted.text
    admin_api.patch("/api/v1/admin/media/config", json={"cache_ttl_s": 60})
    return ids


def test_the_log_reads_as_sentences_one_row_per_action(app, history):
    admin = Browser(app.test_client(), "founder", ADMIN_PASSWORD)
    page = admin.request("GET", "/admin/audit", htmx=False).text
    lines = rows(page)
    text = "\n".join(lines)
    assert "alice moved p0.png to the trash" in text
    assert "alice put p0.png back from the trash" in text
    assert "alice previewed moving p1.png to the trash" in text
    assert "preview, nothing changed" in text
    assert re.search(r"alice previewed emptying the trash \(2 photos, [\d.]+ K?B\)", text)
    assert re.search(r"alice emptied the trash \(2 photos, [\d.]+ K?B\)", text)
    assert "founder deactivated bob" in text
    assert re.search(r"founder previewed deleting the account bob for good \(1 photo, \d+ B\)",
                     text)
    assert "founder changed the media settings" in text and "server cache lifetime" in text
    # One row for the account's deletion (it wrote four events), none with raw JSON,
    # raw bytes counts, internal keys or ISO times.
    assert len([line for line in lines if "deleted the account bob for good" in line
                and "previewed" not in line]) == 1
    assert "started deleting" not in text and "finished deleting" not in text
    assert '{"' not in page[page.index("<tbody>"):]
    for raw in ("bytes_freed", "images_deleted", "consequences", "dry run", "owner",
                "cache_ttl_s", "removed user"):
        assert raw not in text, raw
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:", text)
    assert "deleted for good on" in text  # the move's purge date, as a date


def test_the_log_in_spanish(app, history):
    admin = Browser(app.test_client(), "founder", ADMIN_PASSWORD)
    page = admin.request("GET", "/admin/audit", htmx=False, headers={"Accept-Language": "es"})
    text = "\n".join(rows(page.text))
    assert "alice movió p0.png a la papelera" in text
    assert re.search(r"alice previsualizó vaciar la papelera \(2 fotos, [\d,]+ K?B\)", text)
    assert "vista previa, no cambió nada" in text
    assert "founder desactivó a bob" in text
    assert "usuario usuario" not in text and "imagen" not in text
