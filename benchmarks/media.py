#!/usr/bin/env python
"""Media delivery benchmark (issue 9's Performance section): /media against a bare route.

Sets up a throwaway instance in a temporary folder (SQLite, the embedded user store, local
objects; ``DATABASE_URL``, ``MONGO_URI``, ``STORAGE_URL`` and ``REDIS_URL`` are ignored)
and a throwaway ``redis-server`` on a free port, so that gunicorn runs 2 workers as
`make run` does with Redis (the server cache is then Redis). Seeds one user with
``--images`` photos and one ~50 MB original, then measures with wrk (``-t2 -c16 -d10s``):

  bare_app        Flask alone (no Papelera code) in its own gunicorn with the same workers
                  and threads, answering the thumbnail's bytes: the baseline of the targets
  bare            GET /_bench/bare: the same bytes from a route inside the app
  hit             a cached thumbnail (X-Cache: HIT), owner's bearer token
  hit_share       the same through a share link, anonymous (no token or user lookup)
  revalidate      the same with If-None-Match (304)
  miss            the thumbnail read from storage each time (cache_enabled off)
  variant         a 1280-wide WebP variant (stored, then cached)
  page            the gallery page (session cookie)
  hit_untracked   ``hit`` with tracking_enabled off
  hit_tracked     ``hit`` again right after, tracking on  -> tracking_cost
  share_limited   a share-link thumbnail, anonymous, rate limits on (set very high)
  share_unlimited the same with 127.0.0.0/8 in allow_ips (limits skipped)
  blocked         the share link with 127.0.0.1 in block_ips (403 once blocking exists)

Settings are changed through ``PATCH /api/v1/admin/media/config``, as an admin would.
Before the first case, 5 s of load on the bare route and the hit warm the workers up.
The server flushes its metrics every 5 s (``MEDIA_FLUSH_INTERVAL_S``), and each case
starts 6 s after the previous one ended, so it pays for its own flushes, not the last's.
Each case also reports ``cpu_ms``: the CPU time the two workers and redis-server spent per
request (psutil; ``redis_cpu_ms`` the part of it redis-server spent), steadier than
requests/s when other work shares the cores.
The cases the targets compare (bare_app, bare, hit, hit_share, revalidate, the tracking
pair and the limits pair) run in ``--rounds N`` rounds (3), each round all of them in
that order; every ratio and cost is the median of the rounds' own (``*_rounds`` lists
them), and each case's requests/s is the median of its rounds.
Then 8 clients stream the 50 MB original at once while the workers' RSS is sampled
(psutil): ``stream_rss_growth_mb`` is the largest growth of the workers' summed RSS.

Prints each case's requests/s, p50 and p99 to stderr and one JSON line to stdout.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import requests
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve import (  # noqa: E402  (the serving benchmark's helpers)
    ADMIN_PASSWORD,
    IGNORED,
    PASSWORD,
    ROOT,
    USERNAME,
    VENV_BIN,
    Server,
    photo,
    say,
    session_cookie,
    token,
    wrk,
)

BENCH_APP = '''
import os

from flask import Response

from app import create_app

app = create_app()
_BYTES = []


@app.get("/_bench/bare")
def bare():
    if not _BYTES:
        with open(os.environ["BENCH_BARE_FILE"], "rb") as handle:
            _BYTES.append(handle.read())
    return Response(_BYTES[0], mimetype="image/webp")


bare.is_public = True
'''
# The truly bare baseline: Flask alone, in its own gunicorn with the measured server's
# workers and threads, answering the same bytes (no Papelera code, no middleware).
BARE_APP = '''
import os

from flask import Flask, Response

app = Flask(__name__)
_BYTES = []


@app.get("/healthz")
def healthz():
    return "ok"


@app.get("/bare")
def bare():
    if not _BYTES:
        with open(os.environ["BENCH_BARE_FILE"], "rb") as handle:
            _BYTES.append(handle.read())
    return Response(_BYTES[0], mimetype="image/webp")
'''
CONFIG = "/api/v1/admin/media/config"
STREAM_CLIENTS = 8
FLUSH_INTERVAL_S = 5  # MEDIA_FLUSH_INTERVAL_S of the measured server
# wrk opens its 16 keep-alive connections at once and each worker keeps those it accepts:
# when one worker is busy at that instant (a scheduled flush), the other takes them all
# and the case measures one worker (half the throughput, same code). A case whose workers'
# CPU split is past LOPSIDED is measured again, at most RETAKES times (``retaken`` says).
LOPSIDED = 0.8
RETAKES = 2
PAIRS = {"hit_untracked": "hit_tracked", "share_limited": "share_unlimited"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per case (10)")
    parser.add_argument("--connections", type=int, default=16, help="wrk -c (16)")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t (2)")
    parser.add_argument("--images", type=int, default=24, help="images seeded (24)")
    parser.add_argument("--big-mb", type=int, default=50, help="the streamed original (50)")
    parser.add_argument("--only", default="", help="comma-separated cases to run (all); "
                        "bare always runs, ratios are printed only when both sides ran")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of the compared cases; ratios are their medians (3)")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="serve the app from this checkout (an older commit unpacked "
                             "with `git archive`), for a before/after: benchmarks/compare.py")
    return parser.parse_args(argv)


def big_photo(megabytes: int) -> bytes:
    """A PNG of random pixels (incompressible) of at least ``megabytes`` MiB."""
    side = int((megabytes * 2**20 / 3) ** 0.5) + 1
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def seed(url: str, n: int, big: bytes) -> tuple[dict, list[dict]]:
    admin = requests.post(f"{url}/api/v1/auth/token", timeout=30,
                          json={"username": "admin", "password": ADMIN_PASSWORD})
    admin.raise_for_status()
    admin_headers = {"Authorization": f"Bearer {admin.json()['token']}"}
    requests.post(f"{url}/api/v1/users", headers=admin_headers, timeout=30, json={
        "username": USERNAME, "email": f"{USERNAME}@example.com",
        "password": PASSWORD}).raise_for_status()
    headers = {"Authorization": f"Bearer {token(url)}"}
    images = []
    for index in range(n):
        response = requests.post(f"{url}/api/v1/images", headers=headers, timeout=60,
                                 files={"file": (f"photo-{index}.jpg", photo(index),
                                                 "image/jpeg")})
        response.raise_for_status()
        images.append(response.json())
    response = requests.post(f"{url}/api/v1/images", headers=headers, timeout=300,
                             files={"file": ("big.png", big, "image/png")})
    response.raise_for_status()
    return admin_headers, images + [response.json()]


def patch(url: str, admin_headers: dict, **changes) -> None:
    """Change settings as an admin would; then wait out MEDIA_CONFIG_CHECK_S (1 s), after
    which every worker applies them."""
    response = requests.patch(f"{url}{CONFIG}", headers=admin_headers, json=changes, timeout=30)
    if response.status_code != 200:
        raise SystemExit(f"PATCH {changes}: {response.status_code} {response.text}")
    time.sleep(1.5)


def workers(server: Server) -> list[psutil.Process]:
    root = psutil.Process(server.process.pid)
    return [p for p in root.children(recursive=True)]


def cpu_seconds(procs) -> float:
    """User and system CPU time the processes have used so far."""
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def rss(procs) -> int:
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def stream_growth(server: Server, url: str, headers: dict, size: int) -> dict:
    """8 clients download the big original at once; the workers' RSS growth at its peak."""
    procs = workers(server)
    before = rss(procs)
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss(procs))
            time.sleep(0.02)

    received = []

    def client():
        total = 0
        with requests.get(url, headers=headers, stream=True, timeout=300) as response:
            response.raise_for_status()
            for chunk in response.iter_content(256 * 1024):
                total += len(chunk)
        received.append(total)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.monotonic()
    clients = [threading.Thread(target=client) for _ in range(STREAM_CLIENTS)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    done.set()
    sampler.join()
    if received != [size] * STREAM_CLIENTS:
        raise SystemExit(f"stream: expected {STREAM_CLIENTS} x {size} bytes, got {received}")
    return {"rss_before_mb": round(before / 2**20, 1), "rss_peak_mb": round(peak[0] / 2**20, 1),
            "growth_mb": round((peak[0] - before) / 2**20, 1),
            "seconds": round(time.monotonic() - started, 2), "clients": STREAM_CLIENTS,
            "object_mb": round(size / 2**20, 1)}


def check(url: str, headers: dict, expect_status: int, expect_cache: str | None = None) -> str:
    """The X-Cache of a few requests (both workers answer some); all must agree."""
    seen = set()
    for _ in range(6):
        response = requests.get(url, headers=headers, timeout=60)
        if response.status_code != expect_status:
            raise SystemExit(f"{url}: {response.status_code}, expected {expect_status}")
        seen.add(response.headers.get("X-Cache", "-"))
    x_cache = "/".join(sorted(seen))
    if expect_cache and x_cache != expect_cache:
        raise SystemExit(f"{url}: X-Cache {x_cache}, expected {expect_cache}")
    return x_cache


def main(argv=None) -> int:
    args = parse_args(argv)
    for tool in ("wrk", "redis-server"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (make bench installs it: "
                             "scripts/bench-deps.sh)")
    say(f"making a {args.big_mb} MB original")
    big = big_photo(args.big_mb)
    with tempfile.TemporaryDirectory(prefix="papelera-bench-media-") as tmp:
        workdir = Path(tmp)
        (workdir / "bench_app.py").write_text(BENCH_APP)
        (workdir / "bare_app.py").write_text(BARE_APP)
        bare_file = workdir / "bare.bin"
        bare_file.write_bytes(b"")
        env = {k: v for k, v in os.environ.items() if k not in IGNORED}
        env.update({
            "PAPELERA_INSTANCE": str(workdir / "instance"),
            "ADMIN_USERNAME": "admin", "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "SCHEDULER_ENABLED": "true", "MAX_UPLOAD_MB": str(args.big_mb * 2),
            "ARGON2_MEMORY_KIB": "1024", "ARGON2_TIME_COST": "1", "PYTHONUNBUFFERED": "1",
            "WEB_CONCURRENCY": "2", "BENCH_BARE_FILE": str(bare_file),
            "GUNICORN_LOG_LEVEL": "warning", "MEDIA_FLUSH_INTERVAL_S": str(FLUSH_INTERVAL_S),
        })
        subprocess.run([str(VENV_BIN / "flask"), "--app", "app", "db", "upgrade"],
                       cwd=args.root, env=env, check=True, capture_output=True)
        server = Server("gunicorn-redis", workdir, env, root=args.root).start()
        # The same REDIS_URL only gives it the measured server's worker count
        # (gunicorn.conf.py); the bare app never connects.
        bare_server = Server("gunicorn-bare", workdir,
                             {**env, "REDIS_URL": server.env["REDIS_URL"]},
                             app_spec="bare_app:app").start()
        try:
            url = server.url
            say(f"seeding {args.images} images and the big original")
            admin_headers, images = seed(url, args.images, big)
            owner = {"Authorization": f"Bearer {token(url)}"}
            bearer = [f"Authorization: {owner['Authorization']}"]
            first, biggest = images[0], images[-1]
            thumb = f"{url}{first['thumbnail_url']}"
            requests.get(thumb, headers=owner, timeout=30)  # the MISS that fills the cache
            x_hit = check(thumb, owner, 200, "HIT")
            thumb_bytes = requests.get(thumb, headers=owner, timeout=30).content
            bare_file.write_bytes(thumb_bytes)
            etag = requests.get(thumb, headers=owner, timeout=30).headers["ETag"]
            variant = f"{url}{first['url']}?w=1280"
            check(variant, owner, 200)
            share = requests.post(f"{url}/api/v1/images/{first['id']}/share", headers=owner,
                                  json={"ttl_s": 86400}, timeout=30).json()["url"]
            share_thumb = share.replace(f"/media/{first['id']}?", f"/media/{first['id']}/thumb?")
            check(share_thumb, {}, 200)
            cookie = [f"Cookie: {session_cookie(url)}"]

            rounds: dict[str, list[dict]] = {}
            notes: dict[str, str] = {}
            app_procs, redis_procs = workers(server), [psutil.Process(server.redis.pid)]
            bare_procs = workers(bare_server)
            bare_app_url = f"{bare_server.url}/bare"
            # wrk sends one image thousands of times a second from one address: keep the
            # limits on but out of reach, and the auto-block threshold too, so every case
            # measures serving; the blocked case below switches a block on explicitly.
            patch(url, admin_headers,
                  rate_limits={"per_minute": 10**9, "per_hour": 10**9, "per_day": 10**9},
                  auto_block={"threshold_per_image_per_hour": 10**9})

            wanted = {name for name in args.only.split(",") if name} or None
            if wanted is not None:  # a pair's first case brings its second
                wanted |= {PAIRS[name] for name in wanted if name in PAIRS}

            def measure(target, headers, procs) -> dict:
                # The workers flush the previous case's metrics on their own schedule;
                # wait that out, so each case carries its own tracking cost, not the last's.
                time.sleep(FLUSH_INTERVAL_S + 1)
                redis_before = cpu_seconds(redis_procs)
                each_before = [cpu_seconds([proc]) for proc in procs]
                got = wrk(target, headers, args)
                each = [cpu_seconds([proc]) - before
                        for proc, before in zip(procs, each_before, strict=True)]
                got["worker_cpu_split"] = [round(part / (sum(each) or 1), 2) for part in each]
                served = got["rps"] * args.duration
                app_ms = sum(each) * 1000 / served if served else 0
                redis_ms = (cpu_seconds(redis_procs) - redis_before) * 1000 / served \
                    if served else 0
                got["cpu_ms"] = round(app_ms + redis_ms, 3) if served else None
                got["redis_cpu_ms"] = round(redis_ms, 3) if served else None
                return got

            def run(name, target, headers, note=None, procs=None):
                if wanted is not None and name not in ("bare", "bare_app") \
                        and name not in wanted:
                    return
                for retake in range(RETAKES + 1):
                    got = measure(target, headers, procs or app_procs)
                    got["retaken"] = retake
                    if max(got["worker_cpu_split"]) <= LOPSIDED:
                        break
                    say(f"{name:>17}: {got['rps']:>8.1f} req/s with the workers' CPU split "
                        f"{got['worker_cpu_split']}: measured again")
                rounds.setdefault(name, []).append(got)
                if note:
                    notes[name] = note
                say(f"{name:>17}: {got['rps']:>8.1f} req/s  p50 {got['p50_ms']:>7.2f} ms  "
                    f"p99 {got['p99_ms']:>7.2f} ms  cpu {got['cpu_ms']} ms/req "
                    f"(redis {got['redis_cpu_ms']}) split {got['worker_cpu_split']}"
                    + (f"  non-2xx/3xx {got['non_2xx']}" if got["non_2xx"] else ""))

            # Warm up (not recorded): the first seconds under load run slower (every
            # thread's first requests, the processes' allocations), which made the run's
            # first cases read low.
            for target, headers in ((f"{url}/_bench/bare", []), (bare_app_url, []),
                                    (thumb, bearer)):
                wrk(target, headers, argparse.Namespace(**{**vars(args), "duration": 5}))
            # The ratios the targets name come from rounds: each round measures the bare
            # route and every case compared with it again, in the same order, and each
            # ratio is the median of the rounds' ratios (one round's ratio compares cases
            # measured within a minute of each other).
            for _ in range(args.rounds):
                run("bare_app", bare_app_url, [], procs=bare_procs,
                    note="Flask alone in its own gunicorn, same workers and threads")
                run("bare", f"{url}/_bench/bare", [])
                run("hit", thumb, bearer, note=f"X-Cache {x_hit}")
                run("hit_share", share_thumb, [], note="the same HIT through a share link: "
                                                       "no session or token lookup")
                run("revalidate", thumb, bearer + [f"If-None-Match: {etag}"], note="304")
                if wanted is None or "hit_untracked" in wanted:
                    patch(url, admin_headers, tracking_enabled=False)
                    run("hit_untracked", thumb, bearer, note="tracking_enabled false")
                    patch(url, admin_headers, tracking_enabled=True)
                    run("hit_tracked", thumb, bearer,
                        note="tracking on, right after hit_untracked")
                if wanted is None or "share_limited" in wanted:
                    run("share_limited", share_thumb, [],
                        note="rate limits on, set too high to refuse")
                    patch(url, admin_headers, allow_ips=["127.0.0.0/8"])
                    run("share_unlimited", share_thumb, [],
                        note="127.0.0.0/8 allow-listed: no limits")
                    patch(url, admin_headers, allow_ips=[])
            patch(url, admin_headers, cache_enabled=False)
            x_miss = check(thumb, owner, 200, "BYPASS")
            run("miss", thumb, bearer, note=f"X-Cache {x_miss}: read from storage each time")
            patch(url, admin_headers, cache_enabled=True)
            x_variant = check(variant, owner, 200)
            run("variant", variant, bearer, note=f"X-Cache {x_variant}")
            run("page", f"{url}/", cookie)
            patch(url, admin_headers, allow_ips=[], block_ips=["127.0.0.1/32"])
            blocked_status = requests.get(share_thumb, timeout=30).status_code \
                if wanted is None or "blocked" in wanted else None
            run("blocked", share_thumb, [], note=f"127.0.0.1 in block_ips: answers "
                                                 f"{blocked_status}")
            patch(url, admin_headers, block_ips=[])

            stream = {"growth_mb": None}
            if wanted is None or "stream" in wanted:
                say("streaming the big original to 8 clients")
                stream = stream_growth(server, f"{url}{biggest['url']}", owner,
                                       biggest["size_bytes"])
                say(f"          stream: {stream}")
        finally:
            bare_server.stop()
            server.stop()

    def median(values):
        values = sorted(v for v in values if v is not None)
        if not values:
            return None
        middle = len(values) // 2
        return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2

    def rps(name):
        """The median of the case's rounds."""
        return median(got["rps"] for got in rounds.get(name, []))

    def per_round(a_name, b_name, fn):
        """``fn(a, b)`` in each round that measured both; the median, and each round's."""
        values = [fn(a["rps"], b["rps"]) if b["rps"] else None
                  for a, b in zip(rounds.get(a_name, []), rounds.get(b_name, []),
                                  strict=False)]
        kept = median(values)
        return (round(kept, 3) if kept is not None else None,
                [round(v, 3) if v is not None else None for v in values])

    def ratio(a, b):
        return a / b

    def cost(a, b):
        return 1 - a / b

    hit_app_ratio, hit_app_ratios = per_round("hit", "bare_app", ratio)
    revalidate_app_ratio, revalidate_app_ratios = per_round("revalidate", "bare_app", ratio)
    share_app_ratio, share_app_ratios = per_round("hit_share", "bare_app", ratio)
    hit_ratio, hit_ratios = per_round("hit", "bare", ratio)
    revalidate_ratio, revalidate_ratios = per_round("revalidate", "bare", ratio)
    tracking_cost, tracking_costs = per_round("hit_tracked", "hit_untracked", cost)
    limits_cost, limits_costs = per_round("share_limited", "share_unlimited", cost)
    limits_cpu_cost = median(
        1 - b["cpu_ms"] / a["cpu_ms"] if a["cpu_ms"] and b["cpu_ms"] else None
        for a, b in zip(rounds.get("share_limited", []), rounds.get("share_unlimited", []),
                        strict=False))
    bare = rps("bare")

    def single(name, against):
        return round(rps(name) / rps(against), 3) \
            if rps(name) is not None and rps(against) else None

    summary = {
        "duration_s": args.duration, "connections": args.connections, "workers": 2,
        "cores": os.cpu_count(), "rounds": args.rounds, "notes": notes,
        "cases": {name: {"median_rps": rps(name), "runs": runs}
                  for name, runs in rounds.items()},
        "bare_rps": bare, "hit_rps": rps("hit"),
        "revalidate_rps": rps("revalidate"), "miss_rps": rps("miss"),
        "variant_rps": rps("variant"), "page_rps": rps("page"),
        "hit_ratio_to_bare": hit_ratio, "hit_ratio_rounds": hit_ratios,
        "revalidate_ratio_to_bare": revalidate_ratio,
        "revalidate_ratio_rounds": revalidate_ratios,
        "hit_share_ratio_to_bare": single("hit_share", "bare"),
        "bare_app_rps": rps("bare_app"),
        "hit_ratio_to_bare_app": hit_app_ratio, "hit_ratio_to_bare_app_rounds": hit_app_ratios,
        "revalidate_ratio_to_bare_app": revalidate_app_ratio,
        "revalidate_ratio_to_bare_app_rounds": revalidate_app_ratios,
        "share_hit_ratio_to_bare_app": share_app_ratio,
        "share_hit_ratio_to_bare_app_rounds": share_app_ratios,
        "cpu_ms_per_request": {name: median(got["cpu_ms"] for got in runs)
                               for name, runs in rounds.items()},
        "miss_ratio_to_bare": single("miss", "bare"),
        "tracking_cost": tracking_cost, "tracking_cost_rounds": tracking_costs,
        "limits_cost": limits_cost, "limits_cost_rounds": limits_costs,
        "limits_cpu_cost": round(limits_cpu_cost, 3) if limits_cpu_cost is not None else None,
        "limits_applied": blocked_status == 403 if blocked_status is not None else None,
        "blocked_status": blocked_status,
        "blocked_ratio_to_hit": single("blocked", "hit_share"),
        "stream_rss_growth_mb": stream["growth_mb"], "stream": stream,
    }
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
