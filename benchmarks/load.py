"""Load test: 50 users against gunicorn (2 workers) on PostgreSQL and a real S3 server.

    .venv/bin/python benchmarks/load.py [--users 50] [--seconds 60] [--workers 2]

Starts SeaweedFS with a bucket of its own and a throwaway PostgreSQL database
(TEST_DATABASE_URL's server, else the local one on 127.0.0.1:5432; DATABASE_URL is never
read, see benchmarks/scratch.py), applies the migrations, serves the app with gunicorn, and
drives it with a bounded pool of Python clients that upload, list, delete, restore and
read the trash, while an admin purges every few seconds (retention 0, so trashed images
become due at once and restores race the purge). At the end it checks consistency:
every image the clients created is in exactly one of active, trash or purged, every row
has both its objects and every object has a row. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from PIL import Image as PILImage

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scratch import refuse_if_not_empty, scratch_database  # noqa: E402
from tests.support.seaweed import start_seaweedfs  # noqa: E402

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def png(seed: int) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (64, 48), (seed % 256, (seed * 7) % 256, (seed * 13) % 256)).save(
        out, "PNG")
    return out.getvalue()


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.status: dict[int, int] = {}

    def add(self, seconds: float, status: int):
        with self.lock:
            self.latencies.append(seconds)
            self.status[status] = self.status.get(status, 0) + 1


def timed(stats: Stats, session: requests.Session, method: str, url: str, **kw):
    start = time.perf_counter()
    try:
        response = session.request(method, url, timeout=30, **kw)
    except requests.RequestException:
        stats.add(time.perf_counter() - start, 599)
        return None
    stats.add(time.perf_counter() - start, response.status_code)
    return response


def user_loop(base, token, stop, stats, ledger, seed):
    rng = random.Random(seed)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    confirm = {"X-Confirm-Delete": "yes"}
    active: list[str] = []
    trashed: list[str] = []
    n = 0
    while not stop.is_set():
        roll = rng.random()
        if roll < 0.30 or not active:
            n += 1
            response = timed(stats, session, "POST", f"{base}/api/v1/images",
                             files={"file": (f"p{n}.png", png(seed * 1000 + n), "image/png")})
            if response is not None and response.status_code == 201:
                image_id = response.json()["id"]
                active.append(image_id)
                ledger[image_id] = "active"
        elif roll < 0.55:
            timed(stats, session, "GET", f"{base}/api/v1/images?limit=20")
        elif roll < 0.75:
            image_id = active.pop(rng.randrange(len(active)))
            response = timed(stats, session, "DELETE", f"{base}/api/v1/images/{image_id}",
                             headers=confirm)
            if response is not None and response.status_code == 200:
                trashed.append(image_id)
                ledger[image_id] = "trash"
            else:
                active.append(image_id)
        elif roll < 0.92 and trashed:
            image_id = trashed.pop(rng.randrange(len(trashed)))
            response = timed(stats, session, "POST",
                             f"{base}/api/v1/images/{image_id}/restore")
            if response is not None and response.status_code == 200:
                active.append(image_id)
                ledger[image_id] = "active"
            elif response is not None and response.status_code in (404, 409):
                ledger[image_id] = "trash_or_purged"  # the purge won the race
        else:
            timed(stats, session, "GET", f"{base}/api/v1/trash?limit=20")
    session.close()


def admin_loop(base, token, stop, stats, interval):
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {token}", "X-Confirm-Delete": "yes"})
    while not stop.wait(interval):
        timed(stats, session, "DELETE", f"{base}/api/v1/admin/purge")
    session.close()


def check_consistency(env, ledger, s3, bucket) -> list[str]:
    import sqlalchemy as sa

    engine = sa.create_engine(env["DATABASE_URL"])
    with engine.connect() as conn:
        rows = {str(r[0]).replace("-", ""): r for r in conn.execute(sa.text(
            "SELECT id, is_deleted, storage_key, thumbnail_key FROM images"))}
    engine.dispose()
    keys = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.update(item["Key"] for item in page.get("Contents", []))
    problems = []
    row_keys = set()
    for image_id, row in rows.items():
        row_keys.update((row.storage_key, row.thumbnail_key))
        for key in (row.storage_key, row.thumbnail_key):
            if key not in keys:
                problems.append(f"row {image_id} lost object {key}")
    problems += [f"object without a row: {k}" for k in keys - row_keys]
    for image_id, expected in ledger.items():
        row = rows.get(image_id.replace("-", ""))
        state = "purged" if row is None else ("trash" if row.is_deleted else "active")
        allowed = {"active": {"active"}, "trash": {"trash", "purged"},
                   "trash_or_purged": {"trash", "purged"}}[expected]
        if state not in allowed:
            problems.append(f"image {image_id}: client saw {expected}, server has {state}")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--purge-every", type=float, default=5.0)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="papelera-load-"))
    seaweed = start_seaweedfs(work / "s3", bucket="papelera")
    server = None
    try:
        with scratch_database("postgresql", work) as db_url:
            refuse_if_not_empty(db_url)
            port = free_port()
            env = {**os.environ, "DATABASE_URL": db_url,
                   "STORAGE_URL": seaweed.storage_url("papelera"),
                   "AWS_ACCESS_KEY_ID": seaweed.access_key,
                   "AWS_SECRET_ACCESS_KEY": seaweed.secret_key,
                   "MONGO_URI": f"litemongo://{work / 'mongo'}",
                   "PAPELERA_INSTANCE": str(work / "instance"),
                   "SECRET_KEY": "load-test-secret-key-0123456789",
                   "ADMIN_USERNAME": "admin", "ADMIN_PASSWORD": "admin-password",
                   "SCHEDULER_ENABLED": "false", "TRASH_RETENTION_DAYS": "0",
                   "LOGIN_RATE_LIMIT": "10000 per minute",
                   "ARGON2_MEMORY_KIB": "8192", "ARGON2_TIME_COST": "1"}
            subprocess.run([str(VENV_BIN / "flask"), "--app", "app", "db", "upgrade"], cwd=ROOT,
                           env=env, check=True, capture_output=True)
            server = subprocess.Popen(
                [str(VENV_BIN / "gunicorn"), "-w", str(args.workers), "--threads", "8",
                 "-b", f"127.0.0.1:{port}", "--log-level", "warning", "app:create_app()"],
                cwd=ROOT, env=env, start_new_session=True, stderr=subprocess.DEVNULL)
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    time.sleep(0.2)
            admin = requests.post(f"{base}/api/v1/auth/token", json={
                "username": "admin", "password": "admin-password"}, timeout=10).json()["token"]
            tokens = []
            for i in range(args.users):
                name = f"load{i:03d}"
                requests.post(f"{base}/api/v1/users", json={
                    "username": name, "email": f"{name}@example.com",
                    "password": "load-password"},
                    headers={"Authorization": f"Bearer {admin}"}, timeout=30).raise_for_status()
                tokens.append(requests.post(f"{base}/api/v1/auth/token", json={
                    "username": name, "password": "load-password"}, timeout=30).json()["token"])
            stats, ledger, stop = Stats(), {}, threading.Event()
            threads = [threading.Thread(target=user_loop,
                                        args=(base, t, stop, stats, ledger, i))
                       for i, t in enumerate(tokens)]
            threads.append(threading.Thread(target=admin_loop,
                                            args=(base, admin, stop, stats, args.purge_every)))
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            time.sleep(args.seconds)
            stop.set()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
            # A last purge, then the books must balance.
            requests.delete(f"{base}/api/v1/admin/purge", headers={
                "Authorization": f"Bearer {admin}", "X-Confirm-Delete": "yes"}, timeout=60)
            problems = check_consistency(env, ledger, seaweed.client(), "papelera")
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
            server = None
            latencies = sorted(stats.latencies)
            total = len(latencies)
            result = {
                "users": args.users, "workers": args.workers, "seconds": round(elapsed, 1),
                "requests": total, "rps": round(total / elapsed, 1),
                "p50_ms": round(statistics.median(latencies) * 1000, 1) if total else None,
                "p95_ms": round(latencies[int(total * 0.95) - 1] * 1000, 1) if total else None,
                "errors_5xx": sum(v for k, v in stats.status.items() if k >= 500),
                "status": dict(sorted(stats.status.items())),
                "images": len(ledger), "inconsistencies": len(problems),
            }
            print(json.dumps(result))
            for problem in problems[:20]:
                print("INCONSISTENT:", problem, file=sys.stderr)
            if problems or result["errors_5xx"]:
                sys.exit(1)
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGKILL)
        seaweed.stop()


if __name__ == "__main__":
    main()
