"""Both storage backends behind one interface: local files, and S3 (moto, SeaweedFS)."""

from __future__ import annotations

import io

import boto3
import pytest
from moto import mock_aws

from app.storage import LocalStorage, S3Storage, StorageError
from tests.conftest import Api, login_api, png_bytes


@pytest.fixture
def local(tmp_path):
    return LocalStorage(tmp_path / "objects")


@pytest.fixture
def moto_s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="bucket")
        yield S3Storage("bucket", client=client, prefix="p")


@pytest.fixture(params=["local", "moto"])
def storage(request, local):
    if request.param == "local":
        yield local
    else:
        yield request.getfixturevalue("moto_s3")


def test_put_open_exists_delete(storage):
    storage.check()
    storage.put("originals/a", b"hello", "image/png")
    assert storage.exists("originals/a")
    with storage.open("originals/a") as stream:
        assert stream.read() == b"hello"
    assert list(storage.iter_keys("originals/")) == ["originals/a"]
    # Deleting a missing key is not an error: gone is what was asked.
    assert storage.delete_many(["originals/a", "originals/missing"]) == {}
    assert not storage.exists("originals/a")
    with pytest.raises(KeyError):
        storage.open("originals/a")


def test_delete_many_beyond_the_1000_key_limit(storage):
    keys = [f"k/{i:05d}" for i in range(2100)]
    for key in keys:
        storage.put(key, b"x", "image/png")
    assert storage.delete_many(keys) == {}
    assert list(storage.iter_keys("k/")) == []


def test_local_keys_cannot_escape_the_root(local):
    with pytest.raises(KeyError):
        local.put("../outside", b"x", "image/png")
    assert not local.exists("../../etc/passwd")


def test_s3_reads_every_per_key_error():
    class Client:
        calls = []

        def delete_objects(self, Bucket, Delete):
            self.calls.append(len(Delete["Objects"]))
            return {"Errors": [{"Key": Delete["Objects"][0]["Key"], "Code": "AccessDenied",
                                "Message": "no"},
                               {"Key": Delete["Objects"][1]["Key"], "Code": "NoSuchKey",
                                "Message": "gone"}]}

    client = Client()
    storage = S3Storage("b", client=client)
    errors = storage.delete_many([f"k{i}" for i in range(1500)])
    assert client.calls == [1000, 500]
    assert errors == {"k0": "AccessDenied: no", "k1000": "AccessDenied: no"}


def test_s3_check_names_the_problem():
    with mock_aws():
        storage = S3Storage("missing", client=boto3.client("s3", region_name="us-east-1"))
        with pytest.raises(StorageError, match="does not exist"):
            storage.check()


def test_open_from_an_offset(storage):
    storage.put("originals/r", b"0123456789", "image/png")
    with storage.open("originals/r", 6) as stream:
        assert stream.read() == b"6789"


# --- A real S3 server ---------------------------------------------------------------

def test_seaweedfs_lifecycle_through_the_api(s3_app, seaweed):
    client = s3_app.test_client()
    api = Api(client, login_api(client, "founder", "founder-password"), None)
    bucket = s3_app.config["TEST_BUCKET"]
    s3 = seaweed.client()
    data = png_bytes(size=(64, 48))
    created = api.upload(data)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert len(keys) == 2
    # Browsers get it from the app, never from the S3 server.
    assert body["url"] == f"/media/{body['id']}"
    fetched = api.get(body["url"])
    assert fetched.status_code == 200 and fetched.data == data
    assert api.delete(f"/api/v1/images/{body['id']}",
                      headers={"X-Confirm-Delete": "yes"}).status_code == 200
    assert len(s3.list_objects_v2(Bucket=bucket).get("Contents", [])) == 2  # trash keeps them
    gone = api.delete(f"/api/v1/images/{body['id']}?permanent=true",
                      headers={"X-Confirm-Delete": "yes"})
    assert gone.status_code == 200
    assert s3.list_objects_v2(Bucket=bucket).get("Contents", []) == []
    ready = client.get("/readyz").get_json()
    assert ready["checks"]["storage"]["status"] == "ok"


def test_seaweedfs_missing_bucket_is_reported(seaweed, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweed.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweed.secret_key)
    storage = S3Storage("no-such-bucket", endpoint_url=seaweed.endpoint_url)
    with pytest.raises(StorageError, match="does not exist"):
        storage.check()
    bad = S3Storage("papelera", endpoint_url=seaweed.endpoint_url,
                    client=boto3.client("s3", endpoint_url=seaweed.endpoint_url,
                                        aws_access_key_id="wrong", aws_secret_access_key="wrong",
                                        region_name="us-east-1"))
    with pytest.raises(StorageError):
        bad.check()


def test_seaweedfs_empty_trash_uses_delete_objects(s3_app, seaweed):
    client = s3_app.test_client()
    api = Api(client, login_api(client, "founder", "founder-password"), None)
    ids = [api.upload(io.BytesIO(png_bytes()).getvalue()).get_json()["id"] for _ in range(3)]
    for image_id in ids:
        api.delete(f"/api/v1/images/{image_id}", headers={"X-Confirm-Delete": "yes"})
    body = api.delete("/api/v1/trash", headers={"X-Confirm-Delete": "yes"}).get_json()
    assert body["deleted"] == 3 and body["remaining"] == 0
    bucket = s3_app.config["TEST_BUCKET"]
    assert seaweed.client().list_objects_v2(Bucket=bucket).get("Contents", []) == []


def test_app_refuses_to_start_on_a_missing_bucket(tmp_path, seaweed, monkeypatch):
    from app.core.config import ConfigError
    from tests.conftest import build_app

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweed.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweed.secret_key)
    with pytest.raises(ConfigError, match="STORAGE_URL: the bucket 'absent' does not exist"):
        build_app(tmp_path, STORAGE_URL=seaweed.storage_url("absent"))
