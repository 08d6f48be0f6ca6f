"""Sign-in limits that cannot be raced or multiplied (SPEC 5, issue 8 item 10).

Every attempt is counted before the password is checked, per client IP and per typed
name; a success gives its count back. Concurrent requests, several workers (Redis) and
many addresses all meet the same counters.
"""

from __future__ import annotations

import re
import socket
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.auth import passwords
from tests.conftest import USER_PASSWORD, build_app
from tests.helpers import Browser, audit_count, last_audit

WRONG = {"username": "alice", "password": "wrong-password"}


@pytest.fixture
def password_checks(monkeypatch):
    """Every password check (an Argon2 verification) the app runs, counted (thread-safe)."""
    from app.users import service

    calls = []
    lock = threading.Lock()
    real = service.verify_password

    def verify_password(password_hash, password):
        with lock:
            calls.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(service, "verify_password", verify_password)
    return calls


def realistic_cost_user(make_user, name="alice"):
    """A user whose hash has production-like Argon2 cost (OWASP's 19 MiB, 2 passes), so
    each check takes real time and concurrent requests overlap as they do in production."""
    passwords.configure_hasher(19456, 2)
    try:
        return make_user(name)
    finally:
        passwords.configure_hasher(1024, 1)


def hammer(apps, count, payload, environ=None):
    """``count`` token requests at once, spread over ``apps``; their answers."""
    barrier = threading.Barrier(count)

    def attempt(i):
        client = apps[i % len(apps)].test_client()
        barrier.wait()
        return client.post("/api/v1/auth/token", json=payload,
                           environ_base=environ(i) if environ else {})

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(attempt, range(count)))


def assert_refusal_says_how_long(response):
    assert response.status_code == 429
    wait = int(response.headers["Retry-After"])
    assert 0 < wait <= 60 * 10
    body = response.get_json()
    assert body["code"] == "rate_limited" and body["retry_after"] == wait
    assert f"Try again in {wait} seconds" in body["error"]


def test_thirty_concurrent_wrong_passwords_check_at_most_the_limit(app, make_user,
                                                                   password_checks):
    realistic_cost_user(make_user)
    app.config["LOGIN_RATE_LIMIT"] = "10 per minute"
    responses = hammer([app], 30, WRONG)
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {401: 10, 429: 20}
    assert len(password_checks) == 10
    for response in responses:
        if response.status_code == 429:
            assert_refusal_says_how_long(response)


def test_many_addresses_share_one_limit_per_name(app, alice, password_checks):
    app.config.update(LOGIN_RATE_LIMIT="100 per minute", LOGIN_USER_RATE_LIMIT="3 per minute")
    answers = [app.test_client().post("/api/v1/auth/token", json=WRONG,
                                      environ_base={"REMOTE_ADDR": f"10.0.0.{i}"})
               for i in range(1, 6)]
    assert [a.status_code for a in answers] == [401, 401, 401, 429, 429]
    assert len(password_checks) == 3
    assert_refusal_says_how_long(answers[-1])
    # The name is locked, whatever the case or spacing it is typed in, even with the
    # right password; other names from the same address are not.
    locked = app.test_client().post(
        "/api/v1/auth/token", json={"username": " ALICE", "password": USER_PASSWORD},
        environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert locked.status_code == 429
    other = app.test_client().post("/api/v1/auth/token",
                                   json={"username": "founder", "password": "nope"},
                                   environ_base={"REMOTE_ADDR": "10.0.0.5"})
    assert other.status_code == 401


def test_concurrent_guesses_from_many_addresses_check_at_most_the_name_limit(
        app, make_user, password_checks):
    realistic_cost_user(make_user)
    app.config.update(LOGIN_RATE_LIMIT="100 per minute", LOGIN_USER_RATE_LIMIT="5 per minute")
    responses = hammer([app], 30, WRONG, environ=lambda i: {"REMOTE_ADDR": f"10.1.0.{i}"})
    assert Counter(r.status_code for r in responses) == {401: 5, 429: 25}
    assert len(password_checks) == 5


def test_successes_give_their_count_back(app, alice):
    app.config.update(LOGIN_RATE_LIMIT="3 per minute", LOGIN_USER_RATE_LIMIT="3 per minute")
    good = {"username": "alice", "password": USER_PASSWORD}
    client = app.test_client()
    for _ in range(2):
        assert client.post("/api/v1/auth/token", json=WRONG).status_code == 401
    for _ in range(6):  # never blocked by its own successes, per IP or per name
        assert client.post("/api/v1/auth/token", json=good).status_code == 201
    assert client.post("/api/v1/auth/token", json=WRONG).status_code == 401
    assert client.post("/api/v1/auth/token", json=good).status_code == 429


def test_the_login_page_says_how_long_to_wait(app, alice):
    app.config["LOGIN_RATE_LIMIT"] = "1 per minute"
    client = app.test_client()
    assert client.post("/api/v1/auth/token", json=WRONG).status_code == 401
    page = client.get("/login")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    refused = client.post("/login", data={"csrf_token": token, "username": "alice",
                                          "password": USER_PASSWORD})
    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    assert f"Try again in {wait} seconds" in refused.text


def test_known_and_unknown_names_cost_the_same(app, alice, password_checks):
    """One Argon2 check and one audit record each: timing tells no name apart."""
    before = audit_count(app)
    client = app.test_client()
    assert client.post("/api/v1/auth/token", json=WRONG).status_code == 401
    assert len(password_checks) == 1 and audit_count(app) == before + 1
    assert client.post("/api/v1/auth/token",
                       json={"username": "nobody-here", "password": "x"}).status_code == 401
    assert len(password_checks) == 2 and audit_count(app) == before + 2


def test_the_current_password_check_is_limited_and_audited(app, alice, password_checks):
    app.config.update(LOGIN_RATE_LIMIT="100 per minute", LOGIN_USER_RATE_LIMIT="3 per minute")
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    checks_before = len(password_checks)
    form = {"current_password": "not-it", "new_password": "brand-new-pass",
            "repeat_password": "brand-new-pass"}
    before = audit_count(app)
    answers = [browser.request("POST", "/account/password", data=form) for _ in range(4)]
    assert [a.status_code for a in answers] == [400, 400, 400, 429]
    assert int(answers[-1].headers["Retry-After"]) > 0
    assert len(password_checks) - checks_before == 3
    assert audit_count(app) == before + 3
    event = last_audit(app)
    assert (event.action, event.outcome, event.actor_id, event.target_id) == (
        "password_change", "denied", alice.id, alice.id)
    # The right password is refused too while the account's limit holds.
    right = dict(form, current_password=USER_PASSWORD)
    assert browser.request("POST", "/account/password", data=right).status_code == 429


def test_a_changed_password_is_audited_and_gives_its_count_back(app, alice):
    app.config.update(LOGIN_USER_RATE_LIMIT="1 per minute")
    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    form = {"current_password": USER_PASSWORD, "new_password": "brand-new-pass",
            "repeat_password": "brand-new-pass"}
    assert browser.request("POST", "/account/password", data=form).status_code == 200
    event = last_audit(app)
    assert (event.action, event.outcome, event.target_id) == ("password_change", "ok", alice.id)
    # The name's one allowed guess is still there.
    assert app.test_client().post("/api/v1/auth/token", json=WRONG).status_code == 401


def test_an_unreachable_limiter_store_counts_in_the_process(tmp_path):
    """Issue 18, item 10: sign-in keeps working (and keeps being limited) from local
    state while Redis does not answer, instead of answering 503."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    app = build_app(tmp_path, RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{port}/0",
                    LOGIN_RATE_LIMIT="2 per minute")
    client = app.test_client()
    answers = [client.post("/api/v1/auth/token", json=WRONG).status_code for _ in range(3)]
    assert answers == [401, 401, 429]


def _redis_or_skip():
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        pytest.skip("Redis is not answering on 127.0.0.1:6379")


def test_two_workers_on_redis_share_the_counters_under_concurrency(tmp_path, password_checks):
    """Two app instances (two workers, or two containers) count together, atomically."""
    _redis_or_skip()
    settings = {"REDIS_URL": "redis://127.0.0.1:6379/15", "RATELIMIT_STORAGE_URI": None,
                "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
                "LOGIN_RATE_LIMIT": "4 per minute", "LOGIN_USER_RATE_LIMIT": "100 per minute"}
    apps = [build_app(tmp_path / name, **settings) for name in ("one", "two")]
    bad = {"username": "founder", "password": "wrong"}
    responses = hammer(apps, 30, bad)
    assert Counter(r.status_code for r in responses) == {401: 4, 429: 26}
    assert len(password_checks) == 4
    # The per-name counter is shared as well, across addresses and workers.
    for app in apps:
        app.config.update(LOGIN_RATE_LIMIT="100 per minute", LOGIN_USER_RATE_LIMIT="2 per minute")
    other = {"username": "someone", "password": "wrong"}
    answers = [apps[i % 2].test_client().post("/api/v1/auth/token", json=other,
                                              environ_base={"REMOTE_ADDR": f"10.2.0.{i}"})
               for i in range(3)]
    assert [a.status_code for a in answers] == [401, 401, 429]


def test_an_unknown_name_never_costs_an_extra_hash(app, monkeypatch):
    """The stand-in hash for unknown names exists before the first of them is tried."""
    made = []
    real = passwords.hash_password
    monkeypatch.setattr(passwords, "hash_password", lambda p: made.append(p) or real(p))
    response = app.test_client().post("/api/v1/auth/token",
                                      json={"username": "first-ghost", "password": "x"})
    assert response.status_code == 401 and made == []


def test_an_ipv6_client_counts_by_its_64(app, alice):
    app.config["LOGIN_RATE_LIMIT"] = "2 per minute"
    client = app.test_client()
    answers = [client.post("/api/v1/auth/token", json=WRONG,
                           environ_base={"REMOTE_ADDR": f"2001:db8:1:2::{i:x}"})
               for i in range(1, 4)]
    assert [a.status_code for a in answers] == [401, 401, 429]
    elsewhere = client.post("/api/v1/auth/token", json=WRONG,
                            environ_base={"REMOTE_ADDR": "2001:db8:1:3::1"})
    assert elsewhere.status_code == 401
