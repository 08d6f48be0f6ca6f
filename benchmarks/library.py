"""Big libraries, fast: image rows, media stats and a hash-chained audit log in bulk.

Used by ``benchmarks/scale.py``. The schema is the app's own (``flask db upgrade`` or
``create_all``); rows go in with ``COPY`` on PostgreSQL and ``executemany`` in large
transactions with ``PRAGMA synchronous=OFF`` on SQLite (that connection only: the app's
own connections keep their settings). Every row is a function of its index and the
seed, so the same library is built on both engines.

The shape follows the scale review (docs/benchmarks.md, "Scale"): one owner holds 10 % of
the images, the others a share falling off as 1/√rank; ``created_at`` uniform over three
years; sizes log-normal (median ≈2.5 MB); 10 % trashed, deleted over the retention period
so that about one day's worth is due (what a daily purge leaves); ``media_stats`` for 20 %
of the images; as many audit events as images, chained with the app's ``compute_hash``.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace

import sqlalchemy as sa

IMAGE_COLUMNS = ("id", "owner_id", "file_name", "storage_key", "thumbnail_key", "content_type",
                 "size_bytes", "thumbnail_bytes", "variant_bytes", "width", "height", "sha256",
                 "created_at", "is_deleted", "deleted_at", "deleted_by", "purge_after",
                 "purge_state", "claim_id", "claimed_at", "version")
STAT_COLUMNS = ("image_id", "views", "downloads", "proxy_requests", "bytes_served",
                "cache_hits", "not_modified", "bytes_from_cache")
AUDIT_COLUMNS = ("id", "at", "actor_id", "actor_role", "action", "outcome", "target_type",
                 "target_id", "ip", "user_agent", "request_id", "details", "prev_hash", "hash")
# (action, share): uploads and views of the gallery dominate, as in a real log.
ACTIONS = (("image_uploaded", 40), ("image_trashed", 15), ("image_restored", 5),
           ("login", 20), ("image_deleted", 8), ("trash_emptied", 2), ("purge_batch", 4),
           ("purge_run", 1), ("user_created", 1), ("share_created", 3), ("token_revoked", 1))
BATCH = 20_000


@dataclass
class Shape:
    big_share: float = 0.10
    trashed_share: float = 0.10
    retention_days: int = 30
    due_days: float = 1.0  # a daily purge leaves at most a day's worth due
    stats_share: float = 0.20


def owners_for(count: int, owners: list[str], rng: random.Random, shape: Shape) -> list[str]:
    """``owners[0]`` gets ``big_share`` of the images, the rest a 1/√rank share."""
    weights = [1 / math.sqrt(rank + 1) for rank in range(len(owners) - 1)]
    others = rng.choices(owners[1:], weights=weights, k=count)
    return [owners[0] if rng.random() < shape.big_share else other for other in others]


def image_rows(count: int, owners: list[str], now: datetime, *, seed: int = 7,
               shape: Shape | None = None) -> Iterator[dict]:
    shape = shape or Shape()
    rng = random.Random(seed)
    who = owners_for(count, owners, rng, shape)
    span = timedelta(days=3 * 365).total_seconds()
    trash_span = (shape.retention_days + shape.due_days) * 86400
    for n in range(count):
        image_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        created = now - timedelta(seconds=rng.random() * span)
        trashed = rng.random() < shape.trashed_share
        deleted_at = now - timedelta(seconds=rng.random() * trash_span) if trashed else None
        if deleted_at is not None and deleted_at < created:
            created = deleted_at - timedelta(hours=1)
        hexid = image_id.hex
        yield {
            "id": image_id, "owner_id": who[n], "file_name": f"IMG_{n:07d}.jpg",
            "storage_key": f"originals/{created:%Y/%m}/{hexid}",
            "thumbnail_key": f"thumbnails/{created:%Y/%m}/{hexid}.webp",
            "content_type": "image/jpeg",
            "size_bytes": int(min(rng.lognormvariate(math.log(2_500_000), 0.8), 60_000_000)),
            "thumbnail_bytes": rng.randint(8_000, 40_000), "variant_bytes": 0,
            "width": 4032, "height": 3024, "sha256": f"{rng.getrandbits(256):064x}",
            "created_at": created, "is_deleted": trashed, "deleted_at": deleted_at,
            "deleted_by": who[n] if trashed else None,
            "purge_after": deleted_at + timedelta(days=shape.retention_days) if trashed
            else None,
            "purge_state": None, "claim_id": None, "claimed_at": None, "version": 1,
        }


def stat_rows(image_ids: Iterable[uuid.UUID], *, seed: int = 11,
              shape: Shape | None = None) -> Iterator[dict]:
    shape = shape or Shape()
    rng = random.Random(seed)
    for image_id in image_ids:
        if rng.random() >= shape.stats_share:
            continue
        requests = int(rng.paretovariate(1.2)) + rng.randint(0, 5)
        hits = rng.randint(0, requests)
        yield {"image_id": image_id, "views": rng.randint(0, requests),
               "downloads": rng.randint(0, 2), "proxy_requests": requests,
               "bytes_served": requests * 30_000, "cache_hits": hits,
               "not_modified": rng.randint(0, requests - hits),
               "bytes_from_cache": hits * 30_000}


def audit_rows(count: int, actors: list[str], now: datetime, *, first_id: int = 1,
               prev_hash: str | None = None, seed: int = 13) -> Iterator[dict]:
    """``count`` events chained after ``prev_hash`` with the app's own hashing; the last
    row's ``hash`` is the new head."""
    from app.audit.service import GENESIS, compute_hash

    rng = random.Random(seed)
    names = [a for a, _ in ACTIONS]
    weights = [w for _, w in ACTIONS]
    prev = prev_hash or GENESIS
    start = now - timedelta(days=3 * 365)
    step = (now - start) / max(count, 1)
    for n in range(count):
        action = rng.choices(names, weights=weights)[0]
        actor = rng.choice(actors)
        event = SimpleNamespace(
            id=first_id + n, at=start + step * n, actor_id=actor, actor_role="user",
            action=action, outcome="ok", target_type="image",
            target_id=uuid.UUID(int=rng.getrandbits(128)).hex, ip="192.0.2.0",
            user_agent="bench", request_id=None, details={"n": n})
        event.prev_hash = prev
        event.hash = compute_hash(prev, event)
        prev = event.hash
        yield vars(event)


def link_objects(root, rows: Iterable[dict], originals: list, thumbnails: list) -> int:
    """Every row's original and thumbnail as a hard link to one of a few real files
    (round robin, under ext4's 65,000 links per file), so that the store holds what
    the rows say: ``flask doctor`` compares like with like and deletions unlink files.
    The number of rows linked."""
    import os

    made: set[str] = set()
    done = 0
    for n, row in enumerate(rows):
        for key, sources in ((row["storage_key"], originals),
                             (row["thumbnail_key"], thumbnails)):
            path = os.path.join(root, key)
            folder = os.path.dirname(path)
            if folder not in made:
                os.makedirs(folder, exist_ok=True)
                made.add(folder)
            os.link(sources[n % len(sources)], path)
        done += 1
    return done


def _chunks(rows: Iterable[dict], size: int = BATCH) -> Iterator[list[dict]]:
    chunk: list[dict] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def bulk_insert(url: str, table: sa.Table, columns: tuple[str, ...],
                rows: Iterable[dict]) -> int:
    """Insert ``rows`` into ``table`` fast; the number inserted."""
    engine = sa.create_engine(url)
    done = 0
    try:
        if engine.dialect.name == "postgresql":
            import json

            raw = engine.raw_connection()
            try:
                cursor = raw.cursor()
                statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
                with cursor.copy(statement) as copy:
                    for row in rows:
                        copy.write_row(tuple(json.dumps(row[c]) if isinstance(row[c], dict)
                                             else row[c] for c in columns))
                        done += 1
                raw.commit()
            finally:
                raw.close()
            return done
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA synchronous = OFF")
            connection.commit()
            statement = sa.insert(table)
            for chunk in _chunks(rows, 100_000):
                with connection.begin():
                    connection.execute(statement, [{c: r[c] for c in columns} for r in chunk])
                done += len(chunk)
        return done
    finally:
        engine.dispose()


def analyze(url: str) -> None:
    """What autovacuum (PostgreSQL) or ``PRAGMA optimize`` (SQLite) would do in time."""
    engine = sa.create_engine(url)
    try:
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.exec_driver_sql("VACUUM ANALYZE")
        else:
            with engine.connect() as connection:
                connection.exec_driver_sql("ANALYZE")
                connection.commit()
    finally:
        engine.dispose()
