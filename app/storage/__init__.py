"""Object storage: chosen once per app from ``STORAGE_URL``.

``file:///path`` gives LocalStorage, ``s3://bucket?endpoint_url=…&region=…`` S3Storage.
"""

from __future__ import annotations

from urllib.parse import urlparse

from flask import current_app
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from app.core.config import ConfigError, s3_options
from app.storage.base import Storage, StorageError, StorageUnreachable
from app.storage.local import LocalStorage
from app.storage.s3 import S3Storage

__all__ = ["Storage", "StorageError", "LocalStorage", "S3Storage", "get_storage",
           "storage_from_config", "init_app"]


def storage_from_config(config) -> Storage:
    url = config["STORAGE_URL"]
    if url.startswith("s3://"):
        opts = s3_options(url)
        return S3Storage(opts["bucket"], endpoint_url=opts["endpoint_url"],
                         region=opts["region"], prefix=opts["prefix"])
    return LocalStorage(urlparse(url).path)


def get_storage() -> Storage:
    return current_app.extensions["papelera.storage"]


@retry(retry=retry_if_exception_type(StorageUnreachable), stop=stop_after_delay(20),
       wait=wait_exponential(multiplier=0.5, max=4), reraise=True)
def check_at_start(storage: Storage) -> None:
    """Wait a little for a store that is still starting (containers); fail on the rest."""
    storage.check()


def init_app(app) -> None:
    storage = app.config["STORAGE"] or storage_from_config(app.config)
    app.extensions["papelera.storage"] = storage
    if app.config["STORAGE_CHECK_AT_START"]:
        try:
            check_at_start(storage)
        except StorageError as exc:
            raise ConfigError(f"STORAGE_URL: {exc}") from exc
