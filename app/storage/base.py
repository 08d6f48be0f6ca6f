"""The small interface both object stores implement."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import BinaryIO, Protocol


class StorageError(Exception):
    """The object store could not do what was asked (unreachable, denied, missing bucket)."""


class StorageUnreachable(StorageError):
    """The store did not answer at all: worth retrying, unlike a missing bucket."""


class Storage(Protocol):
    def check(self) -> None:
        """Raise StorageError unless the store is reachable and writable."""

    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def open(self, key: str, start: int = 0) -> BinaryIO:
        """A readable stream of the object from byte ``start``; KeyError when it is absent."""

    def exists(self, key: str) -> bool: ...

    def delete_many(self, keys: Iterable[str]) -> dict[str, str]:
        """Delete the keys; return ``{key: error}`` for those that could not be deleted.

        A key that is already gone counts as deleted.
        """

    def iter_objects(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        """Every stored key under ``prefix`` with its last-modified time (UTC)."""
