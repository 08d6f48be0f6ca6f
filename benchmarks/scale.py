#!/usr/bin/env python
"""Scale benchmark (issue 19 item 6): every everyday page and API call at 10k and at
``--rows`` images (default 1,000,000), on SQLite and on PostgreSQL when it answers.

For each engine and size a throwaway database (benchmarks/scratch.py: ``DATABASE_URL`` is
never read) gets the schema by the app's migrations (``flask db upgrade``), 100 users
and an admin (the embedded user store), a few real uploads through the API (real
thumbnails), then in bulk (benchmarks/library.py): the images (one user owns 10 %),
``media_stats`` for 20 % of them, and as many audit events as images on a valid hash chain.

Each operation runs in-process through the Flask test client with bearer tokens, over
distinct users, cursors, images and filters: 1 warm-up per size, then ``--runs`` (20)
timed runs per size, alternating between the two libraries (both stay open) so that a
busy machine slows both alike; its time is the median. A non-2xx answer fails the run.
At the large size four bulk operations follow: restore 1,000 ids, restore-all of the big
user's trash, ``flask doctor``'s peak RSS growth, and the permanent deletion of the big
user (the request, then the purge's resumption until the user is gone). Objects of the
bulk rows are hard links to copies of the real uploads' files (under ext4's 65,000 links
per file), so the store holds what the rows say.

Progress goes to stderr; the last stdout line is one JSON object keyed by engine:
``{"sqlite": {"ops": {name: {"small_ms", "large_ms", "growth"}}, "max_growth", "worst",
"bulk": {"restore_1000_ids_s", "restore_all_10000_s", "user_delete_100000_s",
"doctor_peak_rss_mb"}, "rows": {...}}, "postgresql": {...}}``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.memory import PeakRss  # noqa: E402  (the repository root is on the path now)

MIGRATIONS = str(ROOT / "migrations")
ADMIN, ADMIN_PASSWORD = "founder", "founder-password-1"
PASSWORD = "user-password-1"
USERS = 100
SMALL = 10_000

# Fixed operation names (issue 19 item 1): what a person or a script does every day.
OPS = ("control_healthz", "gallery_page1_big_user", "gallery_page1_typical_user",
       "gallery_more", "api_images_page1", "api_images_cursor", "viewer",
       "trash_page", "trash_more", "api_trash_cursor", "account", "admin_users",
       "user_modal_deactivate", "user_modal_delete", "user_delete_dry_run",
       "admin_audit", "admin_audit_deep", "audit_api", "audit_api_deep", "audit_api_action",
       "audit_api_actor_action", "purge_overview", "purge_page", "purge_dry_run",
       "trash_dry_run", "admin_media", "media_stats_api")
BULK = ("restore_1000_ids_s", "restore_all_10000_s", "user_delete_100000_s",
        "doctor_peak_rss_mb")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="images in the large library (default 1000000)")
    parser.add_argument("--small", type=int, default=SMALL,
                        help="images in the small library (default 10000)")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per op (default 20)")
    parser.add_argument("--engines", default="sqlite,postgresql",
                        help="comma-separated; postgresql is skipped when it does not answer")
    parser.add_argument("--no-bulk", action="store_true", help="skip the bulk operations")
    return parser.parse_args(argv)


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Failed(SystemExit):
    pass


@dataclass
class Instance:
    kind: str
    rows: int
    app: object
    client: object
    tokens: dict = field(default_factory=dict)
    users: list = field(default_factory=list)  # [(id, username)], the big owner first
    data: dict = field(default_factory=dict)

    def request(self, method: str, path: str, token: str, **kw):
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
        response = self.client.open(path, method=method, headers=headers, **kw)
        body = response.get_data()
        if not 200 <= response.status_code < 300:
            raise Failed(f"{self.kind} {self.rows}: {method} {path} answered "
                         f"{response.status_code}: {body[:300]!r}")
        return response


def jpeg(seed: int) -> bytes:
    from PIL import Image

    rng = random.Random(seed)
    image = Image.new("RGB", (640, 480), tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(40):
        x, y = rng.randrange(600), rng.randrange(440)
        image.paste(tuple(rng.randrange(256) for _ in range(3)), (x, y, x + 40, y + 40))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def build(kind: str, rows: int, tmp: Path, url: str) -> Instance:
    """A library of ``rows`` images at ``url``, with its app and tokens."""
    from flask_migrate import upgrade

    from app import create_app
    from app.audit.models import AuditEvent, AuditHead
    from app.core.db import utcnow
    from app.core.extensions import db
    from app.core.uow import unit_of_work
    from app.images.models import Image
    from app.media.models import MediaStat
    from app.users.repository import get_users
    from app.users.service import create_user
    from benchmarks import library
    from benchmarks.scratch import refuse_if_not_empty

    refuse_if_not_empty(url)
    os.environ["PAPELERA_INSTANCE"] = str(tmp / "instance")
    config = {
        "TESTING": True,  # no scheduler, no JSON log lines on stderr
        "SECRET_KEY": "bench-secret-key-0123456789",
        "SQLALCHEMY_DATABASE_URI": url,
        "MONGO_URI": f"mongomock://scale-{kind}-{rows}",
        "STORAGE_URL": f"file://{tmp / 'objects'}",
        "ADMIN_USERNAME": ADMIN, "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "RATELIMIT_STORAGE_URI": "memory://",
        "SCHEDULER_ENABLED": False,
        "ARGON2_MEMORY_KIB": 1024, "ARGON2_TIME_COST": 1,  # cheap hashes: 100 users
    }
    started = time.perf_counter()
    app = create_app(config)
    with app.app_context():
        upgrade(directory=MIGRATIONS)
    app = create_app(config)  # the first start on the migrated schema: ids, founder
    instance = Instance(kind, rows, app, app.test_client())
    now = utcnow()
    with app.app_context():
        users = get_users()
        admin = users.by_username(ADMIN)
        made = [create_user(users, username=f"u{n:03d}", email=f"u{n:03d}@example.com",
                            password=PASSWORD, now=now) for n in range(USERS)]
        instance.users = [(u.id, u.username) for u in made]
        owners = [u.id for u in made]
        db.session.remove()
    say(f"{kind} {rows}: schema and {USERS} users in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    inserted = library.bulk_insert(url, Image.__table__, library.IMAGE_COLUMNS,
                                   library.image_rows(rows, owners, now))
    say(f"{kind} {rows}: {inserted} images in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    ids = (row["id"] for row in library.image_rows(rows, owners, now))
    stats = library.bulk_insert(url, MediaStat.__table__, library.STAT_COLUMNS,
                                library.stat_rows(ids))
    last = {}
    audit = library.bulk_insert(url, AuditEvent.__table__, library.AUDIT_COLUMNS,
                                _remember_last(library.audit_rows(rows, owners + [admin.id],
                                                                  now), last))
    with app.app_context(), unit_of_work():
        db.session.merge(AuditHead(id=1, last_id=last["id"], last_hash=last["hash"]))
    with app.app_context():
        db.session.remove()
    _recount(app)
    library.analyze(url)
    say(f"{kind} {rows}: {stats} media stats and {audit} chained audit events, analysed, "
        f"in {time.perf_counter() - started:.1f} s")

    client = instance.client
    for username, password in [(ADMIN, ADMIN_PASSWORD)] + [(name, PASSWORD)
                                                            for _, name in instance.users]:
        answer = client.post("/api/v1/auth/token",
                             json={"username": username, "password": password})
        if answer.status_code != 201:
            raise Failed(f"token for {username}: {answer.status_code} {answer.get_data()[:200]}")
        instance.tokens[username] = answer.get_json()["token"]
    big = instance.users[0][1]
    for n in range(3):  # real objects and thumbnails for a few rows
        instance.request("POST", "/api/v1/images", instance.tokens[big],
                         data={"file": (io.BytesIO(jpeg(n)), f"real{n}.jpg")},
                         content_type="multipart/form-data")
    started = time.perf_counter()
    linked = _link_objects(instance, tmp / "objects", owners, now)
    say(f"{kind} {rows}: {2 * linked} objects hard-linked to the real uploads in "
        f"{time.perf_counter() - started:.1f} s")
    _sample(instance)
    return instance


def _link_objects(instance: Instance, root: Path, owners: list[str], now) -> int:
    """The bulk rows' objects: hard links to copies of the real uploads' files."""
    import shutil

    from sqlalchemy import select

    from app.core.extensions import db
    from app.images.models import Image
    from benchmarks import library

    with instance.app.app_context():
        real = db.session.execute(select(Image.storage_key, Image.thumbnail_key)
                                  .where(Image.file_name.like("real%.jpg"))).all()
        db.session.remove()
    sources: dict[str, list[str]] = {"originals": [], "thumbnails": []}
    copies = root.parent / "sources"  # outside the store, on the same file system
    copies.mkdir(exist_ok=True)
    for n in range(max(1, instance.rows // 60_000 + 1)):
        for original, thumbnail in real:
            for kind, key in (("originals", original), ("thumbnails", thumbnail)):
                target = copies / f"{kind}-{n}-{Path(key).name}"
                shutil.copyfile(root / key, target)
                sources[kind].append(str(target))
    return library.link_objects(str(root), library.image_rows(instance.rows, owners, now),
                                sources["originals"], sources["thumbnails"])


def _recount(app) -> None:
    """Per-owner counters (app.images.counters, where present) and the media totals row
    (app.media.metrics.repair_totals, where present) from the rows just written straight
    into SQL, as the app would have kept them."""
    from app.core.extensions import db

    try:
        from app.images import counters
    except ImportError:  # before the counters
        return
    with app.app_context():
        counters.reset()
        from app.media import metrics
        if hasattr(metrics, "repair_totals"):
            metrics.repair_totals()
        db.session.remove()


def _remember_last(rows, last: dict):
    for row in rows:
        last.update(id=row["id"], hash=row["hash"])
        yield row


def _sample(instance: Instance) -> None:
    """Ids and cursors to spread the runs over: distinct images, depths and filters."""
    from sqlalchemy import select

    from app.core.extensions import db
    from app.core.pagination import encode_cursor
    from app.images.models import Image, with_trashed

    rng = random.Random(5)
    big = instance.users[0][0]
    with instance.app.app_context():
        active = db.session.execute(with_trashed(
            select(Image.id, Image.created_at).where(Image.owner_id == big,
                                                     Image.is_deleted.is_(False)))).all()
        trashed = db.session.execute(with_trashed(
            select(Image.id, Image.deleted_at).where(Image.owner_id == big,
                                                     Image.is_deleted.is_(True),
                                                     Image.purge_state.is_(None)))).all()
        db.session.rollback()
    picks = rng.sample(active, min(len(active), 200))
    instance.data["images"] = [str(i) for i, _ in picks]
    instance.data["gallery_cursors"] = [encode_cursor(at, i) for i, at in picks]
    tpicks = rng.sample(trashed, min(len(trashed), 200))
    instance.data["trash_cursors"] = [encode_cursor(at, i) for i, at in tpicks]
    instance.data["trash_ids"] = [str(i) for i, _ in trashed]
    instance.data["audit_cursors"] = [encode_cursor(rng.randrange(2, instance.rows))
                                      for _ in range(200)]


def _ops(instance: Instance) -> dict:
    """Each op: a function of the run number, answering the response (checked 2xx)."""
    from benchmarks.library import ACTIONS

    admin = instance.tokens[ADMIN]
    big_id, big = instance.users[0]
    typical = [name for _, name in instance.users[10:60]]
    data = instance.data
    actions = [a for a, _ in ACTIONS]
    actors = [uid for uid, _ in instance.users]
    htmx = {"HX-Request": "true"}
    req = instance.request

    def pick(items, n):
        return items[n % len(items)]

    return {
        "control_healthz": lambda n: req("GET", "/healthz", admin),
        "gallery_page1_big_user": lambda n: req("GET", "/", instance.tokens[big]),
        "gallery_page1_typical_user": lambda n: req("GET", "/",
                                                    instance.tokens[pick(typical, n)]),
        "gallery_more": lambda n: req("GET", f"/?cursor={pick(data['gallery_cursors'], n)}",
                                      instance.tokens[big], headers=htmx),
        "api_images_page1": lambda n: req("GET", "/api/v1/images", instance.tokens[big]),
        "api_images_cursor": lambda n: req(
            "GET", f"/api/v1/images?cursor={pick(data['gallery_cursors'], n + 7)}",
            instance.tokens[big]),
        "viewer": lambda n: req("GET", f"/images/{pick(data['images'], n)}",
                                instance.tokens[big]),
        "trash_page": lambda n: req("GET", "/trash", instance.tokens[big]),
        "trash_more": lambda n: req("GET", f"/trash?cursor={pick(data['trash_cursors'], n)}",
                                    instance.tokens[big], headers=htmx),
        "api_trash_cursor": lambda n: req(
            "GET", f"/api/v1/trash?cursor={pick(data['trash_cursors'], n + 7)}",
            instance.tokens[big]),
        "account": lambda n: req("GET", "/account", instance.tokens[big]),
        "admin_users": lambda n: req("GET", "/admin/users", admin),
        "user_modal_deactivate": lambda n: req(
            "GET", f"/admin/users/{big_id}/confirm/deactivate", admin),
        "user_modal_delete": lambda n: req("GET", f"/admin/users/{big_id}/confirm/delete",
                                           admin),
        "user_delete_dry_run": lambda n: req(
            "DELETE", f"/api/v1/users/{big_id}?permanent=true&force=true&dry_run=true", admin,
            headers={"X-Confirm-Delete": big}),
        "admin_audit": lambda n: req("GET", "/admin/audit", admin),
        "admin_audit_deep": lambda n: req(
            "GET", f"/admin/audit?cursor={pick(data['audit_cursors'], n)}", admin),
        "audit_api": lambda n: req("GET", "/api/v1/audit", admin),
        "audit_api_deep": lambda n: req(
            "GET", f"/api/v1/audit?cursor={pick(data['audit_cursors'], n + 7)}", admin),
        "audit_api_action": lambda n: req("GET", f"/api/v1/audit?action={pick(actions, n)}",
                                          admin),
        "audit_api_actor_action": lambda n: req(
            "GET", f"/api/v1/audit?actor={pick(actors, n)}&action={pick(actions, n * 7)}",
            admin),
        "purge_overview": lambda n: req("GET", "/api/v1/admin/purge", admin),
        "purge_page": lambda n: req("GET", "/admin/purge", admin),
        "purge_dry_run": lambda n: req("DELETE", "/api/v1/admin/purge?dry_run=true", admin,
                                       headers={"X-Confirm-Delete": "yes"}),
        "trash_dry_run": lambda n: req("DELETE", "/api/v1/trash?dry_run=true",
                                       instance.tokens[big],
                                       headers={"X-Confirm-Delete": "yes"}),
        "admin_media": lambda n: req("GET", "/admin/media", admin),
        "media_stats_api": lambda n: req("GET", "/api/v1/admin/media/stats", admin),
    }


def measure(small: Instance, large: Instance, runs: int) -> dict[str, tuple[float, float]]:
    """Median ms per op at both sizes: a warm-up each, then ``runs`` timed runs that
    alternate between the two libraries, so a busy machine slows both alike and the
    ratio stays readable."""
    ops = {instance.rows: _ops(instance) for instance in (small, large)}
    medians = {}
    for name in OPS:  # no app context around requests: each gets its own (and its own g)
        times: dict[int, list[float]] = {small.rows: [], large.rows: []}
        for instance in (small, large):
            ops[instance.rows][name](runs + 1)
        for n in range(runs):
            for instance in (small, large) if n % 2 else (large, small):
                started = time.perf_counter()
                ops[instance.rows][name](n)
                times[instance.rows].append((time.perf_counter() - started) * 1000)
        medians[name] = (statistics.median(times[small.rows]),
                         statistics.median(times[large.rows]))
        say(f"{small.kind}: {name} {medians[name][0]:.1f} ms at {small.rows}, "
            f"{medians[name][1]:.1f} ms at {large.rows}")
    return medians


def bulk(instance: Instance) -> dict:
    """The four bulk operations, at the large size, in an order that leaves each its data:
    restore 1,000 ids, restore all, doctor (report only), then delete the big user."""
    from app.core.db import utcnow
    from app.core.extensions import db
    from app.storage import get_storage
    from app.users.deletion import resume_user_deletions
    from app.users.repository import get_users

    big_id, big = instance.users[0]
    token = instance.tokens[big]
    result = {}
    trash = instance.data["trash_ids"]
    ids = trash[:min(1000, len(trash) // 2)]  # and leave the rest to restore-all
    started = time.perf_counter()
    answer = instance.request("POST", "/api/v1/trash/restore", token, json={"ids": ids})
    result["restore_1000_ids_s"] = round(time.perf_counter() - started, 2)
    say(f"{instance.kind} {instance.rows}: restore of {len(ids)} ids "
        f"({answer.get_json().get('restored')} restored) in {result['restore_1000_ids_s']} s")

    started, restored, calls = time.perf_counter(), 0, 0
    while True:
        body = instance.request("POST", "/api/v1/trash/restore", token,
                                json={"all": True}).get_json()
        restored, calls = restored + body.get("restored", 0), calls + 1
        if not body.get("remaining"):
            break
        if not body.get("restored"):
            raise Failed(f"restore all stopped moving: {body}")
    result["restore_all_10000_s"] = round(time.perf_counter() - started, 2)
    say(f"{instance.kind} {instance.rows}: restore all, {restored} items in {calls} calls, "
        f"{result['restore_all_10000_s']} s")

    with instance.app.app_context():
        runner = instance.app.test_cli_runner()
        with PeakRss(every_s=0.05) as memory:
            outcome = runner.invoke(args=["doctor"])
        db.session.remove()
    result["doctor_peak_rss_mb"] = round(memory.growth, 1)
    say(f"{instance.kind} {instance.rows}: flask doctor exit {outcome.exit_code}, peak RSS "
        f"+{memory.growth:.1f} MB")

    started = time.perf_counter()
    instance.request("DELETE", f"/api/v1/users/{big_id}?permanent=true&force=true",
                     instance.tokens[ADMIN], headers={"X-Confirm-Delete": big})
    first = time.perf_counter() - started
    with instance.app.app_context():
        storage = get_storage()
        while get_users().get(big_id) is not None:
            # As the purge would once the deletion's lease has expired.
            resume_user_deletions(storage, utcnow() + timedelta(hours=1), 500)
        db.session.remove()
    result["user_delete_100000_s"] = round(time.perf_counter() - started, 2)
    say(f"{instance.kind} {instance.rows}: user delete: request {first:.1f} s, whole "
        f"{result['user_delete_100000_s']} s")
    return result


def close(instance: Instance) -> None:
    from app.core.extensions import db

    with instance.app.app_context():
        db.session.remove()
        db.engine.dispose()


def run_engine(kind: str, args, tmp: Path) -> dict | None:
    from benchmarks.scratch import scratch_database
    from tests.support.postgres import postgres_url

    if kind == "postgresql" and postgres_url() is None:
        say("PostgreSQL does not answer: skipped")
        return None
    result = {}
    with ExitStack() as stack:
        instances = []
        for size in (args.small, args.rows):
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(
                prefix=f"papelera-scale-{kind}-{size}-")))
            url = stack.enter_context(scratch_database(kind, folder))
            instance = build(kind, size, folder, url)
            stack.callback(close, instance)
            instances.append(instance)
        small, large = instances
        medians = measure(small, large, args.runs)
        if not args.no_bulk:
            result["bulk"] = bulk(large)
    ops = {}
    for name in OPS:
        small, large = medians[name]
        ops[name] = {"small_ms": round(small, 2), "large_ms": round(large, 2),
                     "growth": round(large / small, 2) if small else None}
    worst = max((n for n in OPS if n != "control_healthz"), key=lambda n: ops[n]["growth"])
    result.update(ops=ops, max_growth=ops[worst]["growth"], worst=worst,
                  rows={"small": args.small, "large": args.rows})
    result.setdefault("bulk", dict.fromkeys(BULK))
    return result


def main(argv=None) -> dict:
    args = parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory(prefix="papelera-scale-") as tmp:
        for kind in [k.strip() for k in args.engines.split(",") if k.strip()]:
            if kind not in ("sqlite", "postgresql"):
                raise SystemExit(f"unknown engine {kind!r}")
            outcome = run_engine(kind, args, Path(tmp))
            if outcome is not None:
                results[kind] = outcome
    print(json.dumps(results), flush=True)
    return results


if __name__ == "__main__":
    main()
