"""/media parameters are read one way (issue 18 item 7): ASCII digits, no leading zero,
so a Unicode digit is a 400 naming the option (never a 500, before or after the access
check) and ``0320`` or ``٣٢٠`` is never another URL for ``320``."""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit

import pytest

from tests.media.conftest import picture

UNICODE = ["²", "٣٢٠", "３２０", "𝟑𝟐𝟎", "³"]


@pytest.fixture
def image(alice_api):
    return alice_api.upload(picture()).get_json()


def share_query(alice_api, image) -> dict:
    url = alice_api.post(f"/api/v1/images/{image['id']}/share", json={"ttl_s": 3600}) \
        .get_json()["url"]
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.mark.parametrize("value", UNICODE + ["0320", "+320", "320.0", " 320", "320 ", "3_20",
                                             "-320", "0x140", ""])
def test_w_is_ascii_digits_without_leading_zero(client, alice_api, image, value):
    for who in (client, alice_api):  # anonymous (before the access check) and the owner
        response = who.get(f"{image['url']}?w={quote(value)}")
        assert response.status_code == 400, (value, response.status_code)
        body = response.get_json()
        assert (body["code"], body["option"]) == ("invalid_option", "w")
    assert alice_api.get(f"{image['url']}?w=320").status_code == 200


@pytest.mark.parametrize("value", UNICODE + ["080", "٨٠", "+80", "80.0", ""])
def test_q_is_ascii_digits_without_leading_zero(client, alice_api, image, value):
    for who in (client, alice_api):
        response = who.get(f"{image['url']}?w=320&q={quote(value)}")
        assert response.status_code == 400, (value, response.status_code)
        assert response.get_json()["option"] == "q"


@pytest.mark.parametrize("value", UNICODE)
def test_exp_in_unicode_digits_is_400_before_anything(client, alice_api, image, value):
    query = share_query(alice_api, image)
    query["exp"] = value
    response = client.get(image["url"], query_string=query)
    assert response.status_code == 400
    assert response.get_json() | {"error": ""} == {"error": "", "code": "invalid_option",
                                                   "option": "exp"}


def test_exp_with_a_leading_zero_is_not_the_same_link(client, alice_api, image):
    query = share_query(alice_api, image)
    assert client.get(image["url"], query_string=query).status_code == 200
    response = client.get(image["url"], query_string={**query, "exp": "0" + query["exp"]})
    assert response.status_code == 403
    assert response.get_json()["code"] == "invalid_share_link"
