"""`make run` serves with gunicorn, `make dev` with Flask's reloading server (SPEC 2).

One gunicorn worker with threads without ``REDIS_URL``; several with it. Each worker
starts the purge scheduler (the lease keeps one run at a time). SIGTERM stops it cleanly.
"""

from __future__ import annotations

import io
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import png_bytes
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, AppServer


def sign_in(server: AppServer) -> dict:
    token = requests.post(f"{server.url}/api/v1/auth/token", timeout=10, json={
        "username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def upload(server: AppServer, headers: dict) -> requests.Response:
    return requests.post(f"{server.url}/api/v1/images", headers=headers, timeout=30,
                         files={"file": ("photo.png", io.BytesIO(png_bytes()), "image/png")})


def test_make_run_is_one_gunicorn_worker_with_threads_and_a_scheduler(tmp_path):
    server = AppServer(tmp_path, SCHEDULER_ENABLED="true").start()
    try:
        health = requests.get(f"{server.url}/healthz", timeout=10)
        assert health.headers["Server"].startswith("gunicorn")
        headers = sign_in(server)
        first = upload(server, headers).json()["id"]
        deleted = requests.delete(f"{server.url}/api/v1/images/{first}", timeout=30,
                                  headers={**headers, "X-Confirm-Delete": "yes"})
        assert deleted.status_code == 200
        # Eight threads answer side by side (the lock tests are test_sql_locks.py).
        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(lambda _: upload(server, headers), range(4)))
        assert [a.status_code for a in answers] == [201] * 4
    finally:
        server.stop()
    log = server.log_path.read_text()
    assert log.count("Booting worker with pid") == 1
    assert log.count('"purge scheduled"') == 1  # the scheduler runs under gunicorn
    assert not server.killed and "Shutting down: Master" in log  # SIGTERM was enough


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="Redis is not answering on 127.0.0.1:6379")
def test_with_redis_make_run_starts_several_workers_each_with_a_scheduler(tmp_path):
    with AppServer(tmp_path, SCHEDULER_ENABLED="true", REDIS_URL="redis://127.0.0.1:6379/14",
                   WEB_CONCURRENCY="2") as server:
        assert requests.get(f"{server.url}/readyz", timeout=10).json()["checks"]["redis"][
            "status"] == "ok"
        assert upload(server, sign_in(server)).status_code == 201
    log = server.log_path.read_text()
    assert log.count("Booting worker with pid") == 2
    assert log.count('"purge scheduled"') == 2  # the lease lets one of them purge at a time
    assert not server.killed


def test_without_redis_make_run_refuses_extra_workers(tmp_path):
    with AppServer(tmp_path, WEB_CONCURRENCY="4") as server:
        assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
    log = server.log_path.read_text()
    assert "WEB_CONCURRENCY is ignored without REDIS_URL" in log
    assert log.count("Booting worker with pid") == 1


@pytest.mark.parametrize("name, value", [("WEB_CONCURRENCY", "0"), ("GUNICORN_THREADS", "many")])
def test_a_bad_worker_or_thread_count_stops_gunicorn_with_a_message(tmp_path, name, value):
    server = AppServer(tmp_path, REDIS_URL="redis://127.0.0.1:6379/14", **{name: value})
    with pytest.raises(RuntimeError, match=f"{name} must be a whole number of at least 1"):
        server.start()


def test_make_dev_runs_the_reloading_development_server(tmp_path):
    with AppServer(tmp_path, target="dev") as server:
        health = requests.get(f"{server.url}/healthz", timeout=10)
        assert health.headers["Server"].startswith("Werkzeug")
    assert "Debugger is active" in server.log_path.read_text()
