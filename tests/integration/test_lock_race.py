"""Deactivations, trash round trips and listings side by side on the default deployment.

Issue 16 item 7 (code review turn 3, N1). `make run` without `REDIS_URL` is one gunicorn
worker with threads, SQLite and the litemongo user store. An admin deactivates and
reactivates user B in a loop. Meanwhile user C moves an image to the trash and back, and
user D lists their images, each client in a thread of its own. Deactivating takes the
user-store lock and then wants the SQLite write lock. A soft delete holds the write lock
and then reads the user store. If the two locks are taken in opposite orders, both wait
until SQLite's 30 s busy timeout, and every signed-in request waits with them.

Every request here must answer within 5 s, none with a 5xx, and each loop must get round
a few times. A stalled request hits the client timeout and is recorded as a failure, so
the test never hangs.
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass

import requests

from tests.conftest import png_bytes
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, AppServer

API = "/api/v1"
PASSWORD = "race-password-123"
CONFIRM = {"X-Confirm-Delete": "yes"}
RUN_S = 9.0  # wall time the three loops run side by side
LIMIT_S = 5.0  # no request may take longer
TIMEOUT_S = 15.0  # client timeout: a stall is recorded, not waited for
MIN_ROUNDS = 3  # loop iterations each client must complete


@dataclass(frozen=True)
class Call:
    client: str
    what: str
    status: int | None  # None: no answer (timeout or connection error)
    seconds: float
    expected: int

    def __str__(self) -> str:
        answer = "no answer" if self.status is None else str(self.status)
        return f"{self.client}: {self.what} -> {answer} in {self.seconds:.2f} s"


class Client:
    """One user's HTTP client in one thread; times every request it makes."""

    def __init__(self, server: AppServer, name: str, token: str, calls: list[Call],
                 lock: threading.Lock) -> None:
        self.server, self.name, self.calls, self.lock = server, name, calls, lock
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.rounds = 0

    def call(self, method: str, path: str, expected: int, **kwargs) -> bool:
        started = time.monotonic()
        try:
            status = self.http.request(method, f"{self.server.url}{API}{path}",
                                       timeout=TIMEOUT_S, **kwargs).status_code
        except requests.RequestException:
            status = None
        call = Call(self.name, f"{method} {path}", status, time.monotonic() - started,
                    expected)
        with self.lock:
            self.calls.append(call)
        return status == expected


def token_for(server: AppServer, username: str, password: str) -> str:
    response = requests.post(f"{server.url}{API}/auth/token", timeout=TIMEOUT_S,
                             json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    return response.json()["token"]


def create_user(server: AppServer, admin_token: str, username: str) -> str:
    response = requests.post(
        f"{server.url}{API}/users", timeout=TIMEOUT_S,
        headers={"Authorization": f"Bearer {admin_token}"},
        json={"username": username, "email": f"{username}@example.org", "password": PASSWORD})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def upload(server: AppServer, token: str) -> str:
    response = requests.post(
        f"{server.url}{API}/images", timeout=TIMEOUT_S,
        headers={"Authorization": f"Bearer {token}"},
        files={"file": ("photo.jpg", io.BytesIO(png_bytes(fmt="JPEG")), "image/jpeg")})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_deactivations_trash_round_trips_and_listings_never_stall(tmp_path):
    with AppServer(tmp_path) as server:
        admin_token = token_for(server, ADMIN_USERNAME, ADMIN_PASSWORD)
        bob = create_user(server, admin_token, "bob")
        create_user(server, admin_token, "carol")
        create_user(server, admin_token, "dave")
        carol_token = token_for(server, "carol", PASSWORD)
        dave_token = token_for(server, "dave", PASSWORD)
        image = upload(server, carol_token)
        upload(server, dave_token)  # something for dave's listing to show

        calls: list[Call] = []
        lock = threading.Lock()
        admin = Client(server, "admin", admin_token, calls, lock)
        carol = Client(server, "carol", carol_token, calls, lock)
        dave = Client(server, "dave", dave_token, calls, lock)
        deadline = time.monotonic() + RUN_S

        def deactivate_and_reactivate_bob() -> None:
            while time.monotonic() < deadline:
                if (admin.call("DELETE", f"/users/{bob}", 200, headers=CONFIRM)
                        and admin.call("PATCH", f"/users/{bob}/activate", 200)):
                    admin.rounds += 1

        def trash_and_restore() -> None:
            while time.monotonic() < deadline:
                if (carol.call("DELETE", f"/images/{image}", 200, headers=CONFIRM)
                        and carol.call("POST", f"/images/{image}/restore", 200)):
                    carol.rounds += 1

        def list_images() -> None:
            while time.monotonic() < deadline:
                if dave.call("GET", "/images", 200):
                    dave.rounds += 1

        threads = [threading.Thread(target=loop, name=loop.__name__, daemon=True)
                   for loop in (deactivate_and_reactivate_bob, trash_and_restore, list_images)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(RUN_S + 2 * TIMEOUT_S)
        stuck = [thread.name for thread in threads if thread.is_alive()]
        for client in (admin, carol, dave):
            client.http.close()

    assert calls, "no request was made"
    slowest = max(calls, key=lambda call: call.seconds)
    slow = [call for call in calls if call.status is None or call.seconds > LIMIT_S]
    server_errors = [call for call in calls if call.status is not None and call.status >= 500]
    unexpected = [call for call in calls if call.status != call.expected]
    rounds = {client.name: client.rounds for client in (admin, carol, dave)}
    summary = (f"slowest request: {slowest}; {len(calls)} requests, rounds {rounds}; "
               f"slow or unanswered: {[str(c) for c in slow[:8]]}; "
               f"unexpected answers: {[str(c) for c in unexpected[:8]]}")
    assert not stuck, f"client threads still running: {stuck}; {summary}"
    assert slowest.seconds <= LIMIT_S and not slow, summary
    assert not server_errors, summary
    assert min(rounds.values()) >= MIN_ROUNDS, summary
