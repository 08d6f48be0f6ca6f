"""Reconcile image rows with stored objects: ``flask doctor [--fix]``; and the per-owner
counters with the rows: ``flask doctor --counters``.

Two kinds of orphan: objects no row points at (an upload that crashed after writing
them, or a bucket restored from an older backup), and rows whose original or thumbnail
is missing (objects lost outside Papelera). Objects younger than ``min_age`` are left
alone: an upload in progress writes its objects before its row. Stored variants
(``variants/``) are checked for orphans only: a lost variant is rendered again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from app.core.db import end_read
from app.core.extensions import db
from app.images import counters
from app.images.erasure import claim_and_delete, new_claim_id
from app.images.models import Image
from app.images.service import trash_rows

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


LISTED = "doctor_listed_keys"  # a temporary table: the store's keys, on one connection
LIST_BATCH = 5000


def examine(storage, *, now: datetime, min_age: timedelta) -> DoctorReport:
    """Compare the rows with the store's listing in SQL, not in memory.

    The listing is streamed into a temporary table in batches, then two anti-joins on
    the key indexes find what one side has and the other lacks. Memory stays flat
    whatever the library's size (a dict of every key took 1.78 GB at 1M images); only
    the problems found are held.
    """
    report = DoctorReport()
    with db.engine.connect() as connection:
        connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {LISTED} (key VARCHAR(512) PRIMARY KEY, "
            "modified VARCHAR(40) NOT NULL)")
        try:
            report.objects = _list_into(connection, storage)
            report.rows = connection.execute(
                text("SELECT count(*) FROM images")).scalar_one()
            oldest = _stamp(now - min_age)
            report.orphan_objects = list(connection.execute(text(f"""
                SELECT l.key FROM {LISTED} l
                WHERE l.modified <= :oldest
                  AND NOT EXISTS (SELECT 1 FROM images i WHERE i.storage_key = l.key)
                  AND NOT EXISTS (SELECT 1 FROM images i WHERE i.thumbnail_key = l.key)
                  AND NOT EXISTS (SELECT 1 FROM image_variants v WHERE v.key = l.key)
                ORDER BY l.key"""), {"oldest": oldest}).scalars())
            report.rows_missing_objects = [str(uuid.UUID(str(value))) for value in
                                           connection.execute(text(f"""
                SELECT i.id FROM images i
                WHERE NOT EXISTS (SELECT 1 FROM {LISTED} l WHERE l.key = i.storage_key)
                   OR NOT EXISTS (SELECT 1 FROM {LISTED} l WHERE l.key = i.thumbnail_key)
                """)).scalars()]
            report.rows_missing_objects.sort()
        finally:
            connection.rollback()
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {LISTED}")
            connection.commit()
    end_read()
    return report


def _stamp(moment: datetime) -> str:
    """A UTC time as fixed-width text: compared as text, it compares as time."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _list_into(connection, storage) -> int:
    """Stream every key under the prefixes into the temporary table; how many."""
    insert_key = text(f"INSERT INTO {LISTED} (key, modified) VALUES (:key, :modified)")
    count, batch = 0, []
    for prefix in PREFIXES:
        for key, modified in storage.iter_objects(prefix):
            batch.append({"key": key, "modified": _stamp(modified)})
            if len(batch) >= LIST_BATCH:
                connection.execute(insert_key, batch)
                count, batch = count + len(batch), []
    if batch:
        connection.execute(insert_key, batch)
        count += len(batch)
    return count


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


# -- counters (``flask doctor --counters``) --------------------------------------------

@dataclass
class CountersReport:
    owners: int = 0  # counter rows checked
    drift: list = field(default_factory=list)  # counters.Drift found by the recount
    repaired: list = field(default_factory=list)  # counters.Drift as written by repair

    @property
    def healthy(self) -> bool:
        return not self.drift


def check_counters(*, repair: bool) -> CountersReport:
    """Recount every owner's totals from ``images`` (one grouped, streamed query) and,
    with ``repair``, set those that differ to a recount made again under the owner's
    lock (``counters.repair``): a change committed meanwhile is never overwritten."""
    report = CountersReport()
    report.drift = sorted(counters.drift(), key=lambda d: d.owner_id)
    report.owners = counters.counter_rows()
    end_read()
    if repair:
        for found in report.drift:
            written = counters.repair(found.owner_id)
            if written is not None:
                report.repaired.append(written)
    return report
