"""Object storage: chosen once per app from ``STORAGE_URL``.

``file:///path`` gives LocalStorage, ``s3://bucket?endpoint_url=…&region=…`` S3Storage.
"""

from __future__ import annotations

from urllib.parse import urlparse

from flask import current_app

from app.config import s3_options
from app.storage.base import Storage, StorageError
from app.storage.local import LocalStorage
from app.storage.s3 import S3Storage

__all__ = ["Storage", "StorageError", "LocalStorage", "S3Storage", "get_storage",
           "storage_from_config", "init_app"]


def storage_from_config(config) -> Storage:
    url = config["STORAGE_URL"]
    if url.startswith("s3://"):
        opts = s3_options(url)
        return S3Storage(opts["bucket"], endpoint_url=opts["endpoint_url"],
                         region=opts["region"], prefix=opts["prefix"],
                         public_url=config.get("STORAGE_PUBLIC_URL"))
    return LocalStorage(urlparse(url).path, config["SECRET_KEY"])


def get_storage() -> Storage:
    return current_app.extensions["papelera.storage"]


def init_app(app) -> None:
    storage = app.config.get("STORAGE") or storage_from_config(app.config)
    app.extensions["papelera.storage"] = storage
    from app.storage.views import bp

    app.register_blueprint(bp)
