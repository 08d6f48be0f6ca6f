"""Metrics in a real server (`make run`, gunicorn): a killed worker loses at most what it
counted since its last flush; a clean stop (SIGTERM) loses nothing."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import time

import psutil
import requests
from PIL import Image as PILImage

from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, AppServer


def _token(server) -> str:
    response = requests.post(f"{server.url}/api/v1/auth/token", timeout=30,
                             json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
    response.raise_for_status()
    return response.json()["token"]


def _upload(server, headers) -> dict:
    out = io.BytesIO()
    PILImage.new("RGB", (64, 48), (10, 200, 30)).save(out, format="PNG")
    response = requests.post(f"{server.url}/api/v1/images", headers=headers, timeout=30,
                             files={"file": ("probe.png", out.getvalue(), "image/png")})
    response.raise_for_status()
    return response.json()


def _flushed(server) -> int:
    """The requests counted in SQL (the flushed ones only), read from the database file."""
    with sqlite3.connect(server.instance / "papelera.db", timeout=10) as connection:
        row = connection.execute("SELECT COALESCE(SUM(proxy_requests), 0) FROM media_stats"
                                 ).fetchone()
    connection.close()
    return row[0]


def _wait_for(predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def _hit(server, headers, url, n: int) -> None:
    with requests.Session() as http:
        for _ in range(n):
            assert http.get(f"{server.url}{url}", headers=headers, timeout=30).status_code == 200


def _worker(server) -> psutil.Process:
    """The gunicorn worker: the leaf of the server's process group running gunicorn."""
    root = psutil.Process(server.process.pid)
    workers = [p for p in root.children(recursive=True)
               if "gunicorn" in " ".join(p.cmdline()) and not p.children()]
    assert len(workers) == 1, workers
    return workers[0]


def test_a_killed_worker_loses_at_most_what_it_counted_since_its_last_flush(tmp_path):
    with AppServer(tmp_path, SCHEDULER_ENABLED="true", MEDIA_FLUSH_INTERVAL_S="1") as server:
        headers = {"Authorization": f"Bearer {_token(server)}"}
        image = _upload(server, headers)
        _hit(server, headers, image["thumbnail_url"], 20)
        _wait_for(lambda: _flushed(server) == 20)  # the scheduler flushed these

        before = _worker(server)
        _hit(server, headers, image["thumbnail_url"], 7)
        os.kill(before.pid, signal.SIGKILL)
        before.wait(timeout=30)
        # gunicorn starts a new worker; the counts left are the flushed ones
        _wait_for(lambda: requests.get(f"{server.url}/healthz", timeout=5).ok)
        stats = requests.get(f"{server.url}/api/v1/admin/media/stats", headers=headers,
                             timeout=30).json()
        kept = _flushed(server)
        assert stats["requests"] == kept  # the new worker has nothing pending
        assert 20 <= kept <= 27
        lost = 27 - kept
        assert lost <= 7  # at most the requests after the last flush


def test_a_clean_stop_loses_nothing(tmp_path):
    """No scheduled flush can run in time (an hour): only the exit flush writes."""
    server = AppServer(tmp_path, SCHEDULER_ENABLED="true", MEDIA_FLUSH_INTERVAL_S="3600")
    with server:
        headers = {"Authorization": f"Bearer {_token(server)}"}
        image = _upload(server, headers)
        _hit(server, headers, image["thumbnail_url"], 10)
        _hit(server, headers, image["url"], 3)
        assert _flushed(server) == 0
    assert not server.killed
    assert _flushed(server) == 13
