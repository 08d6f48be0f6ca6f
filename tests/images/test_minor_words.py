"""Messages say "photo", as the rest of the UI does (ux review, minor 1; Spanish says "foto").
API codes and field names keep "image"."""

from __future__ import annotations

import ast
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted((ROOT / "app" / "images").glob("*.py")) + [ROOT / "app" / "media" / "service.py"]
GETTEXT = {"gettext", "ngettext", "lazy_gettext", "_"}


def messages(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (isinstance(node, ast.Call) and getattr(node.func, "id", None) in GETTEXT
                and node.args and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)):
            found.append(node.args[0].value)
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_messages_say_photo_not_image(path):
    said = [text for text in messages(path) if re.search(r"\bimages?\b", text, re.I)]
    assert said == []


def test_not_a_photo_and_no_such_photo_in_both_languages(alice_api):
    bad = alice_api.upload(b"not a picture at all", name="notes.jpg")
    assert bad.status_code == 415, bad.get_json()
    assert bad.get_json()["error"] == "The file is not a photo Papelera can read."
    assert bad.get_json()["code"] == "not_an_image"  # codes are not words
    spanish = alice_api.post("/api/v1/images", headers={"Accept-Language": "es"}, data={
        "file": (io.BytesIO(b"nope"), "notes.jpg")},
        content_type="multipart/form-data")
    assert spanish.get_json()["error"] == "El archivo no es una foto que Papelera pueda leer."
    missing = alice_api.get("/api/v1/images/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404 and missing.get_json()["error"] == "No such photo."
