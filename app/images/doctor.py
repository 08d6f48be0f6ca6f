"""Reconcile image rows with stored objects: ``flask doctor [--fix]``.

Two kinds of orphan: objects no row points at (an upload that crashed after writing
them, or a bucket restored from an older backup), and rows whose original or thumbnail
is missing (objects lost outside Papelera). Objects younger than ``min_age`` are left
alone: an upload in progress writes its objects before its row. Stored variants
(``variants/``) are checked for orphans only: a lost variant is rendered again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from app.core.db import end_read
from app.core.extensions import db
from app.images.models import Image, ImageVariant, with_trashed
from app.images.service import trash_rows
from app.purge.batch import claim_and_delete, new_claim_id

PREFIXES = ("originals/", "thumbnails/", "variants/")


@dataclass
class DoctorReport:
    rows: int = 0
    objects: int = 0
    orphan_objects: list[str] = field(default_factory=list)
    rows_missing_objects: list[str] = field(default_factory=list)
    fixed_objects: int = 0
    fixed_rows: int = 0

    @property
    def healthy(self) -> bool:
        return not self.orphan_objects and not self.rows_missing_objects


def _known_keys() -> dict[str, str]:
    """key -> image id, for every row, trashed or not, read in pages."""
    known: dict[str, str] = {}
    last = None
    while True:
        statement = select(Image.id, Image.storage_key, Image.thumbnail_key).order_by(Image.id)
        if last is not None:
            statement = statement.where(Image.id > last)
        rows = db.session.execute(with_trashed(statement.limit(5000))).all()
        if not rows:
            return known
        for row in rows:
            known[row.storage_key] = known[row.thumbnail_key] = str(row.id)
        last = rows[-1].id


def _variant_keys() -> set[str]:

    return set(db.session.execute(select(ImageVariant.key)).scalars())


def examine(storage, *, now: datetime, min_age: timedelta) -> DoctorReport:
    known = _known_keys()
    variants = _variant_keys()
    report = DoctorReport(rows=len(set(known.values())))
    present: set[str] = set()
    for prefix in PREFIXES:
        for key, modified in storage.iter_objects(prefix):
            report.objects += 1
            present.add(key)
            if key not in known and key not in variants and now - modified >= min_age:
                report.orphan_objects.append(key)
    missing = {image_id for key, image_id in known.items() if key not in present}
    report.rows_missing_objects = sorted(missing)
    end_read()
    return report


def repair(report: DoctorReport, storage, *, now: datetime, batch_size: int = 500) -> None:
    """Delete orphan objects; delete rows whose objects are gone (they cannot be shown)."""
    if report.orphan_objects:
        errors = storage.delete_many(report.orphan_objects)
        report.fixed_objects = len(report.orphan_objects) - len(errors)
    for start in range(0, len(report.rows_missing_objects), batch_size):
        ids = [uuid.UUID(i) for i in report.rows_missing_objects[start:start + batch_size]]
        # Into the trash first (claims only take trashed rows), then out for good.
        trash_rows(Image.id.in_(ids), deleted_by="doctor", now=now, purge_after=now)
        result = claim_and_delete(Image.id.in_(ids), storage=storage,
                                  claim_id=new_claim_id("doctor"), now=now,
                                  batch_size=len(ids))
        report.fixed_rows += result.deleted
