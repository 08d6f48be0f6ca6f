#!/usr/bin/env python
"""Serving benchmark: Flask's development server against gunicorn as `make run` starts it.

Sets up a throwaway instance in a temporary folder (SQLite, the embedded user store,
local objects; ``DATABASE_URL``, ``MONGO_URI``, ``STORAGE_URL`` and ``REDIS_URL`` are
ignored, so nothing outside that folder is touched), seeds one user with 48 images, and
measures with wrk (``-t2 -c16 -d10s --latency`` by default) four paths under each server:

  gallery    GET /                       the user's gallery page (session cookie)
  api_list   GET /api/v1/images          the JSON list (bearer token)
  thumbnail  GET <thumbnail_url>         one thumbnail through /media
  bare       GET /_bench/bare            a route that returns "ok", under the same app

Servers: ``dev`` is ``flask run`` (what `make run` used to start); ``gunicorn`` is
``gunicorn --config gunicorn.conf.py`` without ``REDIS_URL`` (one worker, threads: what
`make run` starts now); ``gunicorn-redis`` is the same with ``REDIS_URL`` pointing at a
throwaway ``redis-server`` started on a free port (several workers, as `make run` does
with Redis; skipped when ``redis-server`` is not installed).

Prints a table to stderr and one JSON line to stdout: ``{"duration_s", "connections",
"servers": {server: {path: {"rps", "p50_ms", "p99_ms", "vs_bare"}}}, "speedup":
{server: {path: rps / dev_rps}}}``. wrk shares the cores with the server: compare ratios
within one run, not absolute figures across machines.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PATHS = ("gallery", "api_list", "thumbnail", "bare")
USERNAME, PASSWORD = "bench", "bench-password-1"
ADMIN_PASSWORD = "bench-admin-password"
# The settings a developer's shell may carry that would point the app at real services.
IGNORED = ("DATABASE_URL", "MONGO_URI", "STORAGE_URL", "STORAGE_PUBLIC_URL", "REDIS_URL",
           "SECRET_KEY", "PAPELERA_ENV", "FLASK_APP", "FLASK_DEBUG", "WEB_CONCURRENCY",
           "GUNICORN_THREADS", "GUNICORN_CMD_ARGS", "TRUSTED_PROXIES")
# The app under test, plus one bare route: the same hooks, no work.
BENCH_APP = '''
from app import create_app

app = create_app()


@app.get("/_bench/bare")
def bare():
    return "ok"


bare.is_public = True
'''


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per path (10)")
    parser.add_argument("--connections", type=int, default=16, help="wrk -c (16)")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t (2)")
    parser.add_argument("--images", type=int, default=48, help="images seeded (48)")
    parser.add_argument("--dev-root", type=Path, default=None,
                        help="serve `dev` from this checkout instead (an older commit, e.g. "
                             "`git archive <commit> | tar -x -C DIR`), for a before/after")
    parser.add_argument("--servers", default="dev,gunicorn,gunicorn-redis",
                        help="comma-separated: dev, gunicorn, gunicorn-redis (default all)")
    return parser.parse_args(argv)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One server process on a throwaway instance, in a process group of its own."""

    def __init__(self, kind: str, workdir: Path, env: dict, root: Path = ROOT,
                 app_spec: str = "bench_app:app") -> None:
        self.kind, self.workdir, self.root, self.app_spec = kind, workdir, root, app_spec
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "HOST": "127.0.0.1", "PORT": str(self.port),
                    "PYTHONPATH": os.pathsep.join([str(workdir), str(root)])}
        self.redis = None
        if kind == "gunicorn-redis":
            redis_port = free_port()
            self.redis = subprocess.Popen(
                ["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "",
                 "--appendonly", "no", "--dir", str(workdir)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            self.env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
        self.log = open(workdir / f"{kind}.log", "ab")  # noqa: SIM115  (closed in stop())
        self.process = None

    def command(self) -> list[str]:
        if self.kind == "dev":
            return [str(VENV_BIN / "flask"), "--app", "bench_app", "run", "--host",
                    "127.0.0.1", "--port", str(self.port)]
        return [str(VENV_BIN / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py"),
                self.app_spec]

    def start(self, timeout: float = 90) -> Server:
        self.process = subprocess.Popen(self.command(), cwd=self.root, env=self.env,
                                        stdout=self.log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the {self.kind} server exited; see {self.log.name}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"the {self.kind} server never answered; see {self.log.name}")

    def stop(self) -> None:
        if self.redis is not None:
            self.redis.terminate()
            self.redis.wait(timeout=10)
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()


def photo(index: int) -> bytes:
    """A 1024 x 768 JPEG with some detail, different for every index."""
    image = Image.effect_mandelbrot((1024, 768), (-2 + index * 0.01, -1.2, 1, 1.2), 60)
    out = io.BytesIO()
    mirrored = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    Image.merge("RGB", (image, image.rotate(index), mirrored)).save(out, format="JPEG",
                                                                     quality=85)
    return out.getvalue()


def seed(url: str, n: int) -> None:
    admin = requests.post(f"{url}/api/v1/auth/token", timeout=30,
                          json={"username": "admin", "password": ADMIN_PASSWORD})
    admin.raise_for_status()
    headers = {"Authorization": f"Bearer {admin.json()['token']}"}
    created = requests.post(f"{url}/api/v1/users", headers=headers, timeout=30, json={
        "username": USERNAME, "email": f"{USERNAME}@example.com", "password": PASSWORD})
    created.raise_for_status()
    headers = {"Authorization": f"Bearer {token(url)}"}
    for index in range(n):
        response = requests.post(f"{url}/api/v1/images", headers=headers, timeout=60,
                                 files={"file": (f"photo-{index}.jpg", photo(index),
                                                 "image/jpeg")})
        response.raise_for_status()


def token(url: str) -> str:
    response = requests.post(f"{url}/api/v1/auth/token", timeout=30,
                             json={"username": USERNAME, "password": PASSWORD})
    response.raise_for_status()
    return response.json()["token"]


def session_cookie(url: str) -> str:
    """Sign in through the login form; the Cookie header a browser would send."""
    with requests.Session() as browser:
        page = browser.get(f"{url}/login", timeout=30)
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
        done = browser.post(f"{url}/login", timeout=30, allow_redirects=False, data={
            "csrf_token": csrf, "username": USERNAME, "password": PASSWORD})
        if done.status_code != 303:
            raise SystemExit(f"sign-in failed: {done.status_code}")
        return "; ".join(f"{c.name}={c.value}" for c in browser.cookies)


def targets(url: str, n: int) -> dict[str, tuple[str, list[str]]]:
    """Each path's URL and headers, checked once before wrk runs."""
    bearer = f"Authorization: Bearer {token(url)}"
    listing = requests.get(f"{url}/api/v1/images?limit={n}", timeout=30,
                           headers={"Authorization": bearer.split(": ", 1)[1]}).json()
    if len(listing["items"]) != n:
        raise SystemExit(f"expected {n} images, the API lists {len(listing['items'])}")
    thumbnail = listing["items"][0]["thumbnail_url"]
    result = {
        "gallery": (f"{url}/", [f"Cookie: {session_cookie(url)}"]),
        "api_list": (f"{url}/api/v1/images?limit={n}", [bearer]),
        "thumbnail": (thumbnail if thumbnail.startswith("http") else f"{url}{thumbnail}", []),
        "bare": (f"{url}/_bench/bare", []),
    }
    for name, (target, headers) in result.items():
        answer = requests.get(target, timeout=30, allow_redirects=False,
                              headers=dict(h.split(": ", 1) for h in headers))
        if answer.status_code != 200:
            raise SystemExit(f"{name}: {target} answered {answer.status_code}")
    return result


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(target: str, headers: list[str], args) -> dict:
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s",
               "--latency", "--timeout", "10s"]
    for header in headers:
        command += ["-H", header]
    output = subprocess.run(command + [target], capture_output=True, text=True, check=True,
                            timeout=args.duration + 60).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    if bad or errors:
        say(f"  warning: {bad.group(0) if bad else ''} {errors.group(0) if errors else ''}")
    return {
        "rps": round(float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)), 1),
        "p50_ms": round(_ms(re.search(r"\s50%\s+(\S+)", output).group(1)), 2),
        "p99_ms": round(_ms(re.search(r"\s99%\s+(\S+)", output).group(1)), 2),
        "non_2xx": int(bad.group(1)) if bad else 0,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (make bench installs it: apt-get install wrk)")
    kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    if "gunicorn-redis" in kinds and shutil.which("redis-server") is None:
        say("redis-server is not installed: skipping gunicorn-redis")
        kinds.remove("gunicorn-redis")
    with tempfile.TemporaryDirectory(prefix="papelera-bench-serve-") as tmp:
        workdir = Path(tmp)
        (workdir / "bench_app.py").write_text(BENCH_APP)
        env = {k: v for k, v in os.environ.items() if k not in IGNORED}
        env.update({
            "PAPELERA_INSTANCE": str(workdir / "instance"),
            "ADMIN_USERNAME": "admin", "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "SCHEDULER_ENABLED": "false", "SIGNED_URL_TTL_S": "3600",
            "ARGON2_MEMORY_KIB": "1024", "ARGON2_TIME_COST": "1", "PYTHONUNBUFFERED": "1",
        })
        subprocess.run([str(VENV_BIN / "flask"), "--app", "app", "db", "upgrade"], cwd=ROOT,
                       env=env, check=True, capture_output=True)
        results: dict[str, dict] = {}
        for index, kind in enumerate(kinds):
            root = args.dev_root if kind == "dev" and args.dev_root else ROOT
            server = Server(kind, workdir, env, root).start()
            try:
                if index == 0:
                    say(f"seeding {args.images} images")
                    seed(server.url, args.images)
                paths = targets(server.url, args.images)
                results[kind] = {}
                for name in PATHS:
                    target, headers = paths[name]
                    results[kind][name] = wrk(target, headers, args)
                    say(f"{kind:>9} {name:>10}: {results[kind][name]['rps']:>8.1f} req/s  "
                        f"p50 {results[kind][name]['p50_ms']:>7.2f} ms  "
                        f"p99 {results[kind][name]['p99_ms']:>7.2f} ms")
                bare = results[kind]["bare"]["rps"]
                for name in PATHS:
                    results[kind][name]["vs_bare"] = round(results[kind][name]["rps"] / bare, 3)
            finally:
                server.stop()
    summary = {"duration_s": args.duration, "connections": args.connections,
               "wrk_threads": args.threads, "images": args.images, "cores": os.cpu_count(),
               "dev_root": str(args.dev_root) if args.dev_root else None,
               "servers": results}
    if "dev" in results:  # each gunicorn setup against the old server, path by path
        summary["speedup"] = {
            kind: {name: round(results[kind][name]["rps"] / results["dev"][name]["rps"], 2)
                   for name in PATHS}
            for kind in results if kind != "dev"}
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
