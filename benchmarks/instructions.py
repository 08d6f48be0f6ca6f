#!/usr/bin/env python
"""Instructions per /media request, counted by valgrind (callgrind): repeatable to ~0.2 %.

`benchmarks/media.py` measures from outside, and rounds of the same code there spread by
a third on a shared machine, so a change worth a few per cent cannot be seen. This counts
the CPU instructions the app executes per request instead: the app is called as a WSGI
function in one process (no server, no sockets), with a throwaway instance as media.py
builds it (SQLite, local objects, a throwaway ``redis-server`` for the server cache and
the access generation). Each case runs twice under callgrind, with ``--small`` and
``--large`` requests; the difference divided by the difference in requests is the cost of
one request, start-up excluded:

  null      a bare WSGI function: what building each request's environ costs here
  bare_app  Flask alone (no Papelera code) answering the thumbnail's bytes
  bare      a route inside the app (every hook, no work)
  hit       a cached thumbnail (X-Cache: HIT), the owner's bearer token
  revalidate  the same with If-None-Match (304)
  hit_share the same through a share link, anonymous

Instructions are not time: a cache miss costs more than an add. They do not see what the
server, the kernel or the other processes on the cores cost (media.py does), and
time-based work (the once-a-second config check, the metrics flush) weighs more here,
where a request runs ~50 times slower. Use it to compare two commits (``--root``: a
checkout unpacked with ``git archive``), not as the targets' ratios.

Prints one line per case to stderr and one JSON object to stdout.
Needs valgrind (``make bench`` installs it with scripts/bench-deps.sh).
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve import (  # noqa: E402  (the serving benchmark's helpers)
    ADMIN_PASSWORD,
    IGNORED,
    PASSWORD,
    ROOT,
    USERNAME,
    free_port,
    photo,
    say,
)

CASES = ("null", "bare_app", "bare", "hit", "revalidate", "hit_share")

# Work done once every so many seconds, not per request: under valgrind a request runs
# some 50 times slower, so a once-a-second SQL query or Redis GET would be counted into
# every request by how long the run took (runs of one commit moved by 2-3 %). Here it
# happens once a minute, the most the settings allow (the config check too, once setup
# is done; below). What is left per request is the requests' own work.
QUIET = {"MEDIA_ACCESS_RECHECK_S": "60", "MEDIA_BLOCK_BOARD_CHECK_S": "60",
         "MEDIA_ACCESS_CACHE_MAX_AGE_S": "3600"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated (all)")
    parser.add_argument("--small", type=int, default=200, help="requests in the short run")
    parser.add_argument("--large", type=int, default=800, help="requests in the long run")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to measure")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "N"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def child(case: str, n: int, root: Path) -> None:
    """Set up an instance, then make ``n`` requests of ``case`` (run under callgrind)."""
    tmp = Path(tempfile.mkdtemp(prefix="papelera-bench-instr-"))
    port = free_port()
    redis = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port),
                              "--save", "", "--appendonly", "no", "--dir", str(tmp)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for name in (*IGNORED, "MEDIA_CONFIG"):  # settings a shell may carry
            os.environ.pop(name, None)
        os.environ.update({
            "PAPELERA_INSTANCE": str(tmp / "instance"), "ADMIN_USERNAME": "admin",
            "ADMIN_PASSWORD": ADMIN_PASSWORD, "SCHEDULER_ENABLED": "false",
            "ARGON2_MEMORY_KIB": "1024", "ARGON2_TIME_COST": "1",
            "REDIS_URL": f"redis://127.0.0.1:{port}/0", **QUIET})
        subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
                       cwd=root, check=True, capture_output=True)
        sys.path.insert(0, str(root))
        _requests(case, n)
    finally:
        redis.terminate()
        shutil.rmtree(tmp, ignore_errors=True)


def _requests(case: str, n: int) -> None:
    import logging

    from flask import Flask, Response
    from werkzeug.test import EnvironBuilder

    from app import create_app

    app = create_app()
    for handler in logging.getLogger().handlers:  # the access log: one line per request
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115  (for the process's life)

    @app.get("/_bench/bare")
    def bare():
        return "ok"

    bare.is_public = True
    client = app.test_client()
    admin = client.post("/api/v1/auth/token", json={
        "username": "admin", "password": ADMIN_PASSWORD}).get_json()["token"]
    client.post("/api/v1/users", headers={"Authorization": f"Bearer {admin}"}, json={
        "username": USERNAME, "email": f"{USERNAME}@example.com", "password": PASSWORD})
    token = client.post("/api/v1/auth/token", json={
        "username": USERNAME, "password": PASSWORD}).get_json()["token"]
    owner = {"Authorization": f"Bearer {token}"}
    image = client.post("/api/v1/images", headers=owner, data={
        "file": (io.BytesIO(photo(1)), "photo.jpg", "image/jpeg")}).get_json()
    client.patch("/api/v1/admin/media/config", headers={"Authorization": f"Bearer {admin}"},
                 json={"rate_limits": {"per_minute": 10**9, "per_hour": 10**9,
                                       "per_day": 10**9},
                       "auto_block": {"threshold_per_image_per_hour": 10**9}})
    time.sleep(1.5)  # MEDIA_CONFIG_CHECK_S: every process applies the change
    app.config["MEDIA_CONFIG_CHECK_S"] = 60.0  # then once a minute (QUIET)
    thumb = f"/media/{image['id']}/thumb"
    first = client.get(thumb, headers=owner)  # the MISS that fills the cache
    share = client.post(f"/api/v1/images/{image['id']}/share", headers=owner,
                        json={"ttl_s": 86400}).get_json()["url"]
    share_thumb = re.sub(r"^https?://[^/]+", "", share).replace(
        f"/media/{image['id']}?", f"/media/{image['id']}/thumb?")

    bare_app = Flask("bare_app")

    @bare_app.get("/bare")
    def bare_bytes():
        return Response(first.data, mimetype="image/webp")

    def null(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    targets = {
        "null": (null, "/", {}),
        "bare_app": (bare_app, "/bare", {}),
        "bare": (app, "/_bench/bare", {}),
        "hit": (app, thumb, owner),
        "revalidate": (app, thumb, {**owner, "If-None-Match": first.headers["ETag"]}),
        "hit_share": (app, share_thumb, {}),
    }
    wsgi, path, headers = targets[case]
    # What setup left is kept out of the collector's full passes: one falls in the short
    # or the long run by chance, and walks every object (tens of thousands of
    # instructions per request, as noise). The requests' own garbage is still collected.
    gc.collect()
    gc.freeze()
    base = {"Host": "127.0.0.1:5000", "User-Agent": "wrk", "Accept": "*/*", **headers}
    statuses = set()

    def start_response(status, _headers, _exc_info=None):
        statuses.add(status)

    for _ in range(n + 5):  # five more first: the later runs' state (the cache filled)
        environ = EnvironBuilder(path=path, headers=base,
                                 environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_environ()
        body = wsgi(environ, start_response)
        for _chunk in body:
            pass
        if hasattr(body, "close"):
            body.close()
    wanted = "304 NOT MODIFIED" if case == "revalidate" else "200 OK"
    if statuses != {wanted}:
        raise SystemExit(f"{case}: answered {sorted(statuses)}, not {wanted}")


def instructions(case: str, n: int, root: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
             str(Path(__file__).resolve()), "--root", str(root), "--child", case, str(n)],
            cwd=root, capture_output=True, text=True)
        found = re.search(r"Collected : (\d+)", done.stderr)
        if done.returncode != 0 or found is None:
            raise SystemExit(f"{case} x {n} failed:\n{done.stderr[-3000:]}")
        return int(found.group(1))


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]), args.root)
        return 0
    for tool in ("valgrind", "redis-server"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (make bench installs it)")
    cases = [case for case in args.cases.split(",") if case]
    unknown = set(cases) - set(CASES)
    if unknown:
        raise SystemExit(f"unknown cases: {', '.join(sorted(unknown))}")
    result = {}
    for case in cases:
        with ThreadPoolExecutor(2) as pool:  # the two runs side by side: counts, not time
            small, large = pool.map(lambda n, case=case: instructions(case, n, args.root),
                                    (args.small, args.large))
        result[case] = round((large - small) / (args.large - args.small))
        say(f"{case:>10}: {result[case]:>10,} instructions per request")
    if "bare_app" in result:
        for case in ("bare", "hit", "revalidate", "hit_share"):
            if case in result:
                result[f"{case}_ratio_to_bare_app"] = round(result["bare_app"] / result[case], 3)
    print(json.dumps({"root": str(args.root), **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
