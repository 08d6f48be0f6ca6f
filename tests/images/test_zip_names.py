"""'Download as zip' keeps each photo's own file name (ux review, minor 2): no id prefix,
clashes numbered as a file manager numbers them, every entry a safe single name."""

from __future__ import annotations

import io
import re
import zipfile

import pytest

from app.users.export import safe_file_name, unique_name
from tests.conftest import USER_PASSWORD, png_bytes
from tests.helpers import Browser


@pytest.fixture
def browser(app, alice):
    return Browser(app.test_client(), "alice", USER_PASSWORD)


def upload(browser, color, name) -> str:
    answer = browser.upload(png_bytes(color=color), name=name)
    assert answer.status_code == 201, answer.text
    return re.search(r'id="image-([0-9a-f-]+)"', answer.text).group(1)


def zip_of(browser, ids) -> zipfile.ZipFile:
    query = "&".join(f"ids={image_id}" for image_id in ids)
    answer = browser.request("GET", f"/images/zip?{query}", htmx=False)
    assert answer.status_code == 200 and answer.mimetype == "application/zip"
    return zipfile.ZipFile(io.BytesIO(answer.data))


def test_entries_keep_the_photos_own_names_and_number_clashes(browser):
    ids = [upload(browser, (10, 20, 30), "trip-002.png"),
           upload(browser, (40, 50, 60), "trip-002.png"),
           upload(browser, (70, 80, 90), "TRIP-002.png"),
           upload(browser, (15, 25, 35), "café au lait.png")]
    with zip_of(browser, ids) as archive:
        names = archive.namelist()
        assert sorted(names) == sorted(["trip-002.png", "trip-002 (2).png",
                                        "TRIP-002 (3).png", "café au lait.png"])
        assert not any(image_id in name for name in names for image_id in ids)
        contents = {archive.read(name) for name in names}
    assert contents == {png_bytes(color=c) for c in [(10, 20, 30), (40, 50, 60),
                                                     (70, 80, 90), (15, 25, 35)]}


def test_unsafe_names_become_single_safe_names(browser):
    ids = [upload(browser, (1, 2, 3), ".."),
           upload(browser, (4, 5, 6), "a:b*c?d<e>f|g.png"),
           upload(browser, (7, 8, 9), "missing.json")]
    with zip_of(browser, ids) as archive:
        names = archive.namelist()
    assert sorted(names) == sorted(["photo", "a_b_c_d_e_f_g.png", "missing (2).json"])
    for name in names:
        assert "/" not in name and "\\" not in name and ".." not in name
        assert not name.startswith(".")


@pytest.mark.parametrize(("given", "safe"), [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\boot.ini", "boot.ini"),
    ("a..b...jpg", "a.b.jpg"),
    ("..", "photo"),
    (".", "photo"),
    ("", "photo"),
    (" .hidden.jpg ", "hidden.jpg"),
    ("tab\there.jpg", "tab_here.jpg"),
    ("x" * 300 + ".jpeg", "x" * 145 + ".jpeg"),
])
def test_safe_file_name(given, safe):
    assert safe_file_name(given) == safe


def test_unique_name_skips_names_already_taken():
    taken: set[str] = set()
    assert [unique_name(n, taken) for n in ["a.jpg", "a (2).jpg", "a.jpg", "A.JPG", "b"]] \
        == ["a.jpg", "a (2).jpg", "a (3).jpg", "A (4).JPG", "b"]
    assert unique_name("b", taken) == "b (2)"
