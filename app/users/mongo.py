"""The one function that turns ``MONGO_URI`` into a pymongo-compatible database.

``mongodb://…`` → pymongo (thread-safe, one client per process),
``litemongo:///path`` → an on-disk store (one client per thread: it is not thread-safe),
``mongomock://`` → in memory, for tests.
Clients are created lazily inside the process that uses them, never at import time,
so forked gunicorn workers each get their own.
"""

from __future__ import annotations

import os
import threading
from urllib.parse import urlparse

import mongomock
import pymongo
from pymongo import uri_parser

DATABASE = "papelera"


class MongoProvider:
    def __init__(self, uri: str):
        self.uri = uri
        self.scheme = urlparse(uri).scheme
        self._local = threading.local()
        self._shared = None
        self._pid = None
        self._lock = threading.Lock()

    def _new_client(self):
        if self.scheme in ("mongodb", "mongodb+srv"):
            options = {"tz_aware": True, "uuidRepresentation": "standard"}
            if "serverselectiontimeoutms" not in self.uri.lower():
                options["serverSelectionTimeoutMS"] = 3000  # fail fast: answer 503, not hang
            return pymongo.MongoClient(self.uri, **options)
        if self.scheme == "mongomock":
            return mongomock.MongoClient(tz_aware=True)
        import litemongo

        path = urlparse(self.uri).path
        os.makedirs(path, exist_ok=True)
        return litemongo.connect(path, tz_aware=True)

    def database(self):
        if self.scheme == "litemongo":
            client = getattr(self._local, "client", None)
            if client is None:
                client = self._local.client = self._new_client()
            return client[DATABASE]
        with self._lock:
            if self._shared is None or self._pid != os.getpid():
                self._shared, self._pid = self._new_client(), os.getpid()
        name = None
        if self.scheme.startswith("mongodb"):
            name = uri_parser.parse_uri(self.uri).get("database")
        return self._shared[name or DATABASE]

    def close(self) -> None:
        if self._shared is not None:
            self._shared.close()
            self._shared = None

    def ping(self) -> None:
        self.database().command("ping")
