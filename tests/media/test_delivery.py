"""/media answers: bodies, HTTP caching (ETag, 304), Range, HEAD, download, bad options."""

from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage
from PIL import features

from tests.conftest import png_bytes
from tests.media.conftest import picture


@pytest.fixture
def uploaded(alice_api):
    data = picture()
    body = alice_api.upload(data, name="Straße café.png").get_json()
    return body, data


FORMS = ["", "/thumb", "?w=320&fmt=webp&q=70"]


def test_original_is_served_byte_for_byte_with_safe_headers(alice_api, uploaded):
    body, data = uploaded
    response = alice_api.get(body["url"])
    assert response.status_code == 200
    assert response.data == data
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Content-Length"] == str(len(data))
    assert response.headers["Cache-Control"] == "private, max-age=86400"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    (policy,) = response.headers.getlist("content-security-policy")  # its own, alone
    assert "sandbox" in policy
    assert response.headers.getlist("X-Content-Type-Options") == ["nosniff"]
    assert response.headers["Accept-Ranges"] == "bytes"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("inline; ")
    assert "filename*=UTF-8''Stra%C3%9Fe%20caf%C3%A9.png" in disposition
    assert 'filename="Stra_e caf_.png"' in disposition


@pytest.mark.parametrize("name, saved_as", [("poly.html", "poly.html.png"),
                                             ("noext", "noext.png"),
                                             ("Photo.PNG", "Photo.PNG")])
def test_an_original_is_saved_with_the_extension_of_what_it_is(alice_api, name, saved_as):
    """A PNG uploaded as ``poly.html`` stays byte for byte, but a browser saving it gets
    a ``.png`` (security review F15), never an ``.html`` file."""
    body = alice_api.upload(png_bytes(), name=name).get_json()
    response = alice_api.get(f"{body['url']}?download=1")
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="{saved_as}"; filename*=UTF-8\'\'{saved_as}')


def test_thumbnail_and_variant_have_their_own_types(alice_api, uploaded):
    body, _ = uploaded
    thumb = alice_api.get(body["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.headers["Content-Type"] == "image/webp"
    variant = alice_api.get(f"{body['url']}?w=320&fmt=jpeg&q=60")
    assert variant.status_code == 200 and variant.headers["Content-Type"] == "image/jpeg"
    with PILImage.open(io.BytesIO(variant.data)) as image:
        assert (image.format, image.size) == ("JPEG", (320, 240))


@pytest.mark.parametrize("form", FORMS)
def test_if_none_match_answers_304_with_the_same_caching_headers(alice_api, uploaded, form):
    body, _ = uploaded
    first = alice_api.get(body["url"] + form)
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith('W/')
    again = alice_api.get(body["url"] + form, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == first.headers["Cache-Control"]
    stale = alice_api.get(body["url"] + form, headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200 and stale.data == first.data


def test_etags_differ_per_variant_and_follow_the_content(alice_api, uploaded):
    body, data = uploaded
    tags = {alice_api.get(body["url"] + form).headers["ETag"] for form in FORMS}
    assert len(tags) == 3
    # The same bytes uploaded again have the same tag: it comes from the content hash.
    twin = alice_api.upload(data).get_json()
    assert alice_api.get(twin["url"]).headers["ETag"] == alice_api.get(body["url"]).headers["ETag"]


@pytest.mark.parametrize("form", FORMS)
def test_range_answers_206_with_the_asked_bytes(alice_api, uploaded, form):
    body, _ = uploaded
    full = alice_api.get(body["url"] + form).data
    part = alice_api.get(body["url"] + form, headers={"Range": "bytes=10-29"})
    assert part.status_code == 206
    assert part.data == full[10:30]
    assert part.headers["Content-Range"] == f"bytes 10-29/{len(full)}"
    assert part.headers["Content-Length"] == "20"
    tail = alice_api.get(body["url"] + form, headers={"Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.data == full[-5:]


def test_range_beyond_the_end_is_416(alice_api, uploaded):
    body, data = uploaded
    response = alice_api.get(body["url"], headers={"Range": f"bytes={len(data) + 10}-"})
    assert response.status_code == 416


def test_range_on_a_streamed_original_reads_from_the_offset(app, alice_api, uploaded):
    """Past cache_max_bytes the original streams from storage; a Range starts there
    (on S3 a ranged GET) instead of reading and dropping what comes before it."""
    body, data = uploaded
    app.config["MEDIA_CONFIG"] = {"cache_max_bytes": 0}
    storage = app.extensions["papelera.storage"]
    opened = []

    class Spy:
        def __getattr__(self, name):
            return getattr(storage, name)

        def open(self, key, start=0):
            opened.append(start)
            return storage.open(key, start)

    app.extensions["papelera.storage"] = Spy()
    part = alice_api.get(body["url"], headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.data == data[100:200]
    assert part.headers["X-Cache"] == "BYPASS"
    assert opened == [100]
    head = alice_api.client.head(body["url"], headers=alice_api.headers())
    assert head.status_code == 200 and opened == [100]  # HEAD opened nothing


@pytest.mark.parametrize("form", FORMS)
def test_head_has_the_headers_and_no_body(alice_api, uploaded, form):
    body, _ = uploaded
    full = alice_api.get(body["url"] + form)
    head = alice_api.client.head(body["url"] + form, headers=alice_api.headers())
    assert head.status_code == 200
    assert head.data == b""
    for name in ("Content-Type", "Content-Length", "ETag", "Cache-Control", "Accept-Ranges"):
        assert head.headers[name] == full.headers[name], name


def test_download_is_an_attachment(alice_api, uploaded):
    body, _ = uploaded
    response = alice_api.get(body["url"] + "?download=1")
    assert response.headers["Content-Disposition"].startswith("attachment; ")
    variant = alice_api.get(body["url"] + "?w=320&fmt=webp&download=1")
    assert variant.headers["Content-Disposition"].startswith("attachment; ")
    assert "Stra%C3%9Fe%20caf%C3%A9-320.webp" in variant.headers["Content-Disposition"]


@pytest.mark.parametrize("query,option", [
    ("w=333", "w"), ("w=abc", "w"), ("w=-320", "w"), ("fmt=gif", "fmt"), ("fmt=bmp", "fmt"),
    ("q=10", "q"), ("q=96", "q"), ("q=high", "q"), ("w=320&w=640", "w"), ("size=big", "size"),
    ("download=yes", "download"),
])
def test_bad_options_are_400_naming_the_option(alice_api, uploaded, query, option):
    body, _ = uploaded
    response = alice_api.get(f"{body['url']}?{query}")
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_option"
    assert response.get_json()["option"] == option


def test_the_thumbnail_takes_no_variant_options(alice_api, uploaded):
    body, _ = uploaded
    response = alice_api.get(body["thumbnail_url"] + "?w=320")
    assert response.status_code == 400 and response.get_json()["option"] == "w"


def test_widths_come_from_media_widths(app, alice_api, uploaded):
    body, _ = uploaded
    app.config["MEDIA_WIDTHS"] = (100,)
    assert alice_api.get(body["url"] + "?w=100").status_code == 200
    assert alice_api.get(body["url"] + "?w=320").status_code == 400


def test_avif_only_when_pillow_can_encode_it(alice_api, uploaded):
    body, _ = uploaded
    response = alice_api.get(body["url"] + "?w=320&fmt=avif")
    if features.check("avif"):
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "image/avif"
    else:
        assert response.status_code == 400
        assert response.get_json()["option"] == "fmt"


def test_variants_are_never_upscaled(alice_api, uploaded):
    body, _ = uploaded
    big = alice_api.get(body["url"] + "?w=2048&fmt=png")
    with PILImage.open(io.BytesIO(big.data)) as image:
        assert image.size == (640, 480)
    # 2048 and 1280 are the same rendering of a 640-wide image: one tag, one stored object.
    same = alice_api.get(body["url"] + "?w=1280&fmt=png")
    assert same.headers["ETag"] == big.headers["ETag"]
