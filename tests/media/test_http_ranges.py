"""Range and conditional requests on /media as RFC 9110 says (issue 18 item 5), in-process;
curl, wget and aria2c resume against a live server in tests/integration/test_serving.py."""

from __future__ import annotations

import pytest

from tests.media.conftest import picture

FORMS = ["", "/thumb", "?w=320&fmt=webp"]


@pytest.fixture
def image(alice_api):
    return alice_api.upload(picture(size=(800, 600))).get_json()


def whole(alice_api, url):
    response = alice_api.get(url)
    assert response.status_code == 200
    return response.data, response.headers["ETag"]


@pytest.mark.parametrize("form", FORMS)
def test_416_says_the_length_and_is_never_stored(alice_api, image, form):
    data, _ = whole(alice_api, image["url"] + form)
    for past in (f"bytes={len(data)}-", f"bytes={len(data) + 10}-{len(data) + 20}", "bytes=-0"):
        response = alice_api.get(image["url"] + form, headers={"Range": past})
        assert response.status_code == 416, past
        assert response.headers["Content-Range"] == f"bytes */{len(data)}"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.get_json()["code"] == "range_not_satisfiable"


@pytest.mark.parametrize("header", ["items=0-1", "pages=1", "bytes=abc", "bytes=100-50",
                                    "bytes=", "bytes=-", "bytes 0-10", "bytes=٠-٣"])
def test_a_range_that_is_not_one_valid_byte_range_is_ignored(alice_api, image, header):
    data, _ = whole(alice_api, image["url"])
    response = alice_api.get(image["url"], headers={"Range": header})
    assert response.status_code == 200, header
    assert response.data == data
    assert "Content-Range" not in response.headers


@pytest.mark.parametrize("form", FORMS)
def test_several_ranges_get_the_whole_image_never_416(alice_api, image, form):
    data, _ = whole(alice_api, image["url"] + form)
    for header in ("bytes=0-9,20-29", "bytes=0-9, -5", f"bytes=0-1,{len(data) + 5}-"):
        response = alice_api.get(image["url"] + form, headers={"Range": header})
        assert response.status_code == 200, header
        assert response.data == data


def test_single_ranges_still_answer_206(alice_api, image):
    data, _ = whole(alice_api, image["url"])
    cases = {"bytes=0-99": data[:100], "bytes=-500": data[-500:],
             f"bytes={len(data) - 7}-": data[-7:], "bytes=0-99999999": data,
             "BYTES=5-9": data[5:10], "bytes=0-9,": data[:10]}
    for header, expected in cases.items():
        response = alice_api.get(image["url"], headers={"Range": header})
        assert response.status_code == 206, header
        assert response.data == expected, header
        start = data.index(expected) if expected != data else 0
        assert response.headers["Content-Range"] == \
            f"bytes {start}-{start + len(expected) - 1}/{len(data)}"
        assert response.headers["Content-Length"] == str(len(expected))


@pytest.mark.parametrize("form", FORMS)
def test_if_range_matches_only_the_same_strong_tag(alice_api, image, form):
    data, etag = whole(alice_api, image["url"] + form)
    url = image["url"] + form
    ranged = {"Range": "bytes=0-9"}
    assert alice_api.get(url, headers={**ranged, "If-Range": etag}).status_code == 206
    for other in (f"W/{etag}", '"something-else"', "Mon, 07 Dec 2026 00:00:00 GMT"):
        response = alice_api.get(url, headers={**ranged, "If-Range": other})
        assert response.status_code == 200, other
        assert response.data == data


@pytest.mark.parametrize("form", FORMS)
def test_a_failed_if_match_is_412_without_a_body_and_wins_over_range(alice_api, image, form):
    data, etag = whole(alice_api, image["url"] + form)
    url = image["url"] + form
    for header in ('"nope"', f"W/{etag}"):
        for extra in ({}, {"Range": "bytes=0-9"}):
            response = alice_api.get(url, headers={"If-Match": header, **extra})
            assert response.status_code == 412, (header, extra)
            assert response.data == b""
            assert response.headers.get("Content-Length", "0") == "0"
            assert response.headers["Cache-Control"] == "no-store"
    assert alice_api.get(url, headers={"If-Match": etag}).data == data
    assert alice_api.get(url, headers={"If-Match": "*"}).status_code == 200
    assert alice_api.get(url, headers={"If-Match": f'"x", {etag}', "Range": "bytes=0-9"}) \
        .status_code == 206


def test_if_none_match_comes_before_range(alice_api, image):
    _, etag = whole(alice_api, image["url"])
    response = alice_api.get(image["url"], headers={"If-None-Match": etag, "Range": "bytes=0-9"})
    assert response.status_code == 304


def test_head_ignores_range(alice_api, image):
    data, _ = whole(alice_api, image["url"])
    head = alice_api.client.head(image["url"], headers=alice_api.headers({"Range": "bytes=0-9"}))
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(data))


def test_a_range_of_a_streamed_original_is_read_from_storage_at_its_offset(app, alice_api,
                                                                          image):
    app.config["MEDIA_CONFIG"] = {"cache_max_bytes": 0}
    data, _ = whole(alice_api, image["url"])
    response = alice_api.get(image["url"], headers={"Range": "bytes=1000-"})
    assert response.status_code == 206 and response.headers["X-Cache"] == "BYPASS"
    assert response.data == data[1000:]
