"""/media on a real S3 server (SeaweedFS): streamed originals, ranged reads, stored variants."""

from __future__ import annotations

import pytest

from tests.conftest import Api, login_api
from tests.media.conftest import picture

pytestmark = pytest.mark.s3
CONFIRM = {"X-Confirm-Delete": "yes"}


def bucket_keys(app, seaweed) -> set[str]:
    answer = seaweed.client().list_objects_v2(Bucket=app.config["TEST_BUCKET"])
    return {item["Key"] for item in answer.get("Contents", [])}


@pytest.fixture
def api(s3_app):
    client = s3_app.test_client()
    return Api(client, login_api(client, "founder", "founder-password"), None)


def test_originals_stream_from_s3_with_ranges_and_head(s3_app, api):
    data = picture(size=(900, 700))
    image = api.upload(data).get_json()
    s3_app.config["MEDIA_CONFIG"] = {"cache_max_bytes": 0}  # never cached: always streamed
    full = api.get(image["url"])
    assert full.status_code == 200 and full.data == data
    assert full.headers["X-Cache"] == "BYPASS"
    part = api.get(image["url"], headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.data == data[1000:2000]
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    head = api.client.head(image["url"], headers=api.headers())
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(data))
    not_modified = api.get(image["url"], headers={"If-None-Match": full.headers["ETag"]})
    assert not_modified.status_code == 304


def test_variants_are_stored_in_the_bucket_and_purged_with_the_image(s3_app, seaweed, api):
    image = api.upload(picture(size=(900, 700))).get_json()
    before = bucket_keys(s3_app, seaweed)
    first = api.get(image["url"] + "?w=640&fmt=webp")
    assert first.status_code == 200 and first.headers["X-Cache"] == "MISS"
    assert api.get(image["url"] + "?w=640&fmt=webp").headers["X-Cache"] == "HIT"
    [variant_key] = bucket_keys(s3_app, seaweed) - before
    assert variant_key.startswith("variants/")
    thumb = len(api.get(image["thumbnail_url"]).data)
    gone = api.delete(f"/api/v1/images/{image['id']}?permanent=true", headers=CONFIRM)
    assert gone.status_code == 200
    assert gone.get_json()["deletion"]["bytes_freed"] == (image["size_bytes"] + thumb
                                                          + len(first.data))
    assert bucket_keys(s3_app, seaweed) == set()
    assert api.get(image["url"] + "?w=640&fmt=webp").status_code == 404
