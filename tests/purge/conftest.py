"""Fixtures for the purge: images in every state, written fast, and storages that misbehave."""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from app.core.db import utcnow
from app.core.extensions import db
from app.images import counters
from app.images.models import Image, with_trashed
from app.storage import get_storage

# States an image can be in, relative to "now".
ACTIVE, TRASHED, EXPIRED = "active", "trashed", "expired"


def add_images(app, owner_id: str, count: int, state: str = EXPIRED, *, storage=None,
               deleted_days_ago: int = 40, size: int = 100) -> list[str]:
    """Rows and their two objects, without Pillow: the purge never reads the bytes."""
    now = utcnow()
    rows = []
    with app.app_context():
        storage = storage or get_storage()
        for _ in range(count):
            token = secrets.token_hex(16)
            original, thumbnail = f"originals/t/{token}", f"thumbnails/t/{token}.webp"
            storage.put(original, b"o" * size, "image/png")
            storage.put(thumbnail, b"t" * 10, "image/webp")
            row = {"id": uuid.uuid4(), "owner_id": owner_id, "file_name": f"{token[:6]}.png",
                   "storage_key": original, "thumbnail_key": thumbnail,
                   "content_type": "image/png", "size_bytes": size, "thumbnail_bytes": 10,
                   "width": 1, "height": 1, "sha256": "0" * 64, "created_at": now,
                   "is_deleted": False, "version": 1}
            if state in (TRASHED, EXPIRED):
                deleted_at = now - timedelta(days=deleted_days_ago)
                purge_after = (now - timedelta(days=1) if state == EXPIRED
                               else now + timedelta(days=10))
                row.update(is_deleted=True, deleted_at=deleted_at, deleted_by=owner_id,
                           purge_after=purge_after)
            rows.append(row)
        db.session.execute(insert(Image), rows)
        db.session.commit()
        counters.reset([owner_id])  # rows written straight into SQL: recount the owner
    return [str(r["id"]) for r in rows]


def image_rows(app) -> dict[str, Image]:
    with app.app_context():
        rows = db.session.execute(with_trashed(select(Image))).scalars().all()
        db.session.commit()
        return {str(r.id): r for r in rows}


def stored_keys(app) -> set[str]:
    with app.app_context():
        return set(get_storage().iter_keys())


def assert_consistent(app) -> None:
    """The purge's promise: every object has a row, and every row that is not being
    purged has both of its objects."""
    rows = image_rows(app)
    keys = stored_keys(app)
    row_keys = {k for r in rows.values() for k in (r.storage_key, r.thumbnail_key)}
    assert keys <= row_keys, f"objects without a row: {sorted(keys - row_keys)[:5]}"
    for row in rows.values():
        if row.purge_state is None:
            assert {row.storage_key, row.thumbnail_key} <= keys, f"row {row.id} lost its objects"


class FlakyStorage:
    """Wraps a storage: keys in ``fail`` answer a per-key error, ``down`` fails the call,
    ``delay`` slows each call, ``gate`` blocks each call until it is set."""

    def __init__(self, inner, *, fail=(), down=False, delay=0.0, gate=None):
        self.inner, self.fail, self.down = inner, set(fail), down
        self.delay, self.gate = delay, gate
        self.calls: list[int] = []
        self.entered = threading.Event()

    def delete_many(self, keys):
        keys = list(keys)
        self.calls.append(len(keys))
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(10)
        if self.delay:
            time.sleep(self.delay)
        if self.down:
            raise ConnectionError("the object store is unreachable")
        errors = {k: "AccessDenied: refused" for k in keys if k in self.fail}
        errors.update(self.inner.delete_many([k for k in keys if k not in self.fail]))
        return errors

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture
def owner(make_user):
    return make_user()
