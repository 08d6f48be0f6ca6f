"""Targets that are not an ORM row: a collection acted on as a whole, or a handle."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Snapshot:
    """A collection (a user's trash, the purge queue) as one ``@delete_endpoint`` target.

    Its ``etag`` changes whenever what it holds changes (``fingerprint``, see
    ``app.images.totals``), not only its size, so a client can dry-run it and then act
    with ``If-Match`` on exactly what it was shown.
    """

    kind: str
    id: str
    count: int
    bytes: int
    members: tuple[str, ...] = ()  # a chosen part of the collection, when not all of it
    fingerprint: str = ""  # which rows, in which state

    @property
    def etag(self) -> str:
        fingerprint = (f"{self.kind}:{self.id}:{self.count}:{self.bytes}:{self.fingerprint}:"
                       f"{','.join(self.members)}")
        return f'"{self.kind}-{hashlib.sha256(fingerprint.encode()).hexdigest()[:16]}"'


@dataclass(frozen=True)
class Handle:
    """One thing known by its id and a state (a session, a token) as a target: its
    ``etag`` changes when ``state`` does."""

    kind: str
    id: str
    state: str = ""

    @property
    def etag(self) -> str:
        digest = hashlib.sha256(f"{self.kind}:{self.id}:{self.state}".encode()).hexdigest()
        return f'"{self.kind}-{digest[:16]}"'
