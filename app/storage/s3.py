"""Objects in an S3 bucket (AWS, SeaweedFS, MinIO…); browsers get them through /media."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from app.storage.base import StorageError, StorageUnreachable

# DeleteObjects takes at most 1000 keys per call.
DELETE_BATCH = 1000


class S3Storage:
    def __init__(self, bucket: str, *, endpoint_url: str | None = None, region: str = "us-east-1",
                 prefix: str = "", client=None):
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        config = BotoConfig(retries={"max_attempts": 3, "mode": "standard"},
                            s3={"addressing_style": "path"}, signature_version="s3v4")
        # A session of our own: credentials are read from the environment now, not
        # cached process-wide by boto3's default session.
        session = boto3.session.Session()
        self.client = client or session.client("s3", endpoint_url=endpoint_url,
                                               region_name=region, config=config)

    def _key(self, key: str) -> str:
        return self.prefix + key

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchBucket", "NotFound"):
                raise StorageError(f"the bucket {self.bucket!r} does not exist") from exc
            if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise StorageError(f"access to bucket {self.bucket!r} was denied: "
                                   "check the AWS credentials") from exc
            raise StorageError(f"bucket {self.bucket!r}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageUnreachable(f"cannot reach the S3 endpoint: {exc}") from exc

    def put(self, key: str, data: bytes, content_type: str) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data,
                                   ContentType=content_type)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"could not store the object: {exc}") from exc

    def open(self, key: str, start: int = 0):
        """The object's body, streamed (a ranged GET from ``start`` when it is not 0)."""
        extra = {"Range": f"bytes={start}-"} if start else {}
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key),
                                          **extra)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise KeyError(key) from None
            raise StorageError(str(exc)) from exc
        except BotoCoreError as exc:
            raise StorageUnreachable(f"cannot reach the S3 endpoint: {exc}") from exc

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise StorageError(str(exc)) from exc

    def delete_many(self, keys: Iterable[str]) -> dict[str, str]:
        """One DeleteObjects call per 1000 keys; every per-key error is read and returned."""
        keys = list(keys)
        errors: dict[str, str] = {}
        for start in range(0, len(keys), DELETE_BATCH):
            chunk = keys[start:start + DELETE_BATCH]
            try:
                answer = self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": self._key(k)} for k in chunk], "Quiet": True},
                )
            except (BotoCoreError, ClientError) as exc:
                errors.update({k: f"DeleteObjects failed: {exc}" for k in chunk})
                continue
            for error in answer.get("Errors", []):
                key = error.get("Key", "")[len(self.prefix):]
                if error.get("Code") == "NoSuchKey":
                    continue  # already gone is what we wanted
                errors[key] = f"{error.get('Code')}: {error.get('Message')}"
        return errors

    def iter_objects(self, prefix: str = ""):
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            for item in page.get("Contents", []):
                yield item["Key"][len(self.prefix):], item["LastModified"]

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        return (key for key, _ in self.iter_objects(prefix))
