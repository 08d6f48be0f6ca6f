"""Issue 18, item 15 (security N7, N10): IPv6 and list entries that must match.

- auto-block counts and blocks an IPv6 client by its /64, as the limits do (before: per
  address, so rotating addresses within the /64 was never blocked);
- ``::ffff:a.b.c.d`` list entries are stored as, and match, the IPv4 address (before:
  stored as ``::ffff:7f00:4a/128`` and never matched, since clients are matched as IPv4);
- ``*.example.org`` referrers are wildcards for the subdomains (before: accepted, then
  refused every subdomain).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from app.media.protection import address_set, block_key, parse_address, referrer_allowed
from tests.media.helpers import set_media_config

CONFIG = "/api/v1/admin/media/config"
BLOCKS = "/api/v1/admin/media/blocks"
YES = {"X-Confirm-Delete": "yes"}


@pytest.fixture
def link(alice_api):
    image = alice_api.upload().get_json()
    url = alice_api.post(f"/api/v1/images/{image['id']}/share", json={"ttl_s": 3600}) \
        .get_json()["url"]
    parts = urlsplit(url)
    return f"{parts.path}/thumb?{parts.query}"


def _get(client, path, ip):
    return client.get(path, environ_base={"REMOTE_ADDR": ip}).status_code


def test_auto_block_counts_and_blocks_the_slash_64(app, admin_api, link):
    set_media_config(app, auto_block={"threshold_per_image_per_hour": 3, "block_for_s": 600})
    client = app.test_client()
    answers = [_get(client, link, f"2001:db8:1:2::{n:x}") for n in range(1, 8)]
    assert answers == [200, 200, 200, 403, 403, 403, 403]
    assert _get(client, link, "2001:db8:1:2:ffff::1") == 403   # the same /64
    assert _get(client, link, "2001:db8:1:3::1") == 200         # the next /64
    [block] = admin_api.get(BLOCKS).get_json()["items"]
    assert block["ip"] == "2001:db8:1:2::/64"
    # Lifted by any address in it (the panel uses the network's own, 2001:db8:1:2::).
    assert admin_api.delete(f"{BLOCKS}/2001:db8:1:2::abcd", headers=YES).status_code == 200
    assert _get(client, link, "2001:db8:1:2::9") == 200
    assert admin_api.delete(f"{BLOCKS}/2001:db8:1:2::", headers=YES).status_code == 404


def test_block_keys():
    assert block_key("2001:db8::1") == block_key("2001:db8::ffff") == "2001:db8::/64"
    assert block_key("2001:db8::/64") == "2001:db8::/64"
    assert block_key("198.51.100.7") == "198.51.100.7"
    assert block_key("::ffff:198.51.100.7") == "198.51.100.7"
    assert block_key("2001:db8::/48") is None and block_key("nonsense") is None


def test_ipv4_mapped_entries_are_stored_and_matched_as_ipv4(app, admin_api, link):
    answer = admin_api.patch(CONFIG, json={"block_ips": ["::ffff:127.0.0.74",
                                                         "::ffff:10.0.0.0/104"],
                                           "allow_ips": ["::ffff:192.0.2.1"]})
    assert answer.status_code == 200
    body = answer.get_json()
    assert sorted(body["block_ips"]) == ["10.0.0.0/8", "127.0.0.74/32"]
    assert body["allow_ips"] == ["192.0.2.1/32"]
    client = app.test_client()
    assert _get(client, link, "127.0.0.74") == 403
    assert _get(client, link, "10.20.30.40") == 403
    assert _get(client, link, "127.0.0.75") == 200


def test_a_mapped_entry_stored_before_still_matches():
    entries = address_set(("::ffff:7f00:4a/128",))
    assert parse_address("127.0.0.74") in entries
    assert parse_address("::ffff:127.0.0.74") in entries
    assert parse_address("127.0.0.75") not in entries


def test_wildcard_referrers_admit_subdomains_only(app, admin_api):
    assert admin_api.patch(CONFIG, json={"allowed_referrers": ["*.example.org"]}) \
        .status_code == 200
    allowed = ("*.example.org",)

    def passes(referer):
        return referrer_allowed(referer, own_host="papelera.test", allowed=allowed,
                                allow_empty=False)

    assert passes("https://sub.example.org/page")
    assert passes("https://a.b.example.org/")
    assert not passes("https://example.org/")
    assert not passes("https://badexample.org/")
    assert not passes("https://example.org.evil.net/")
    assert referrer_allowed("https://example.org/", own_host="x", allowed=("example.org",),
                            allow_empty=False)
