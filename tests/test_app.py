"""Settings, health, headers, pages and htmx behaviour of the whole app."""

from __future__ import annotations

import logging
import os
import re

import pytest

from app import create_app
from app.core.config import ConfigError, load_settings
from app.core.logs import configure_logging
from tests.conftest import USER_PASSWORD, build_app, png_bytes
from tests.helpers import Browser


@pytest.mark.parametrize("name,value", [
    ("TRASH_RETENTION_DAYS", "thirty"),
    ("TRASH_RETENTION_DAYS", "-1"),
    ("TRASH_RETENTION_MAX_DAYS", "5"),
    ("PURGE_BATCH_SIZE", "0"),
    ("MAX_UPLOAD_MB", "lots"),
    ("PORT", "70000"),
    ("SCHEDULER_ENABLED", "maybe"),
    ("PURGE_CRON", "every night"),
    ("SCHEDULER_TIMEZONE", "Mars/Olympus"),
    ("DATABASE_URL", "mysql://x"),
    ("MONGO_URI", "http://x"),
    ("STORAGE_URL", "ftp://x"),
    ("STORAGE_URL", "s3://"),
    ("REDIS_URL", "memcached://x"),
    ("SECRET_KEY", "short"),
    ("ARGON2_MEMORY_KIB", "16"),  # below 8 KiB per lane: every sign-in would fail
])
def test_bad_settings_stop_the_app_naming_the_variable(tmp_path, name, value):
    env = {"PAPELERA_INSTANCE": str(tmp_path), name: value}
    with pytest.raises(ConfigError) as raised:
        load_settings(env)
    assert name in str(raised.value)


def test_production_requires_a_secret_key(tmp_path):
    # No scheduler: it would outlive the test, polling a database without tables.
    env = {**os.environ, "PAPELERA_INSTANCE": str(tmp_path), "PAPELERA_ENV": "production",
           "SCHEDULER_ENABLED": "false"}
    env.pop("SECRET_KEY", None)
    with pytest.raises(ConfigError, match="SECRET_KEY is required"):
        create_app(env=env)
    assert not (tmp_path / "secret_key").exists()  # never generated in production
    # instance/config.py may hold it (SPEC 2: the environment, overridable there) ...
    (tmp_path / "config.py").write_text('SECRET_KEY = "short"\n')
    with pytest.raises(ConfigError, match="at least 16"):
        create_app(env=env)
    (tmp_path / "config.py").write_text('SECRET_KEY = "a-production-key-from-the-file"\n')
    assert create_app(env=env).config["SECRET_KEY"] == "a-production-key-from-the-file"


def test_development_secret_key_is_generated_once_and_kept(tmp_path):
    first = load_settings({"PAPELERA_INSTANCE": str(tmp_path)})["SECRET_KEY"]
    second = load_settings({"PAPELERA_INSTANCE": str(tmp_path)})["SECRET_KEY"]
    assert first == second and len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_defaults(tmp_path):
    settings = load_settings({"PAPELERA_INSTANCE": str(tmp_path)})
    assert settings["TRASH_RETENTION_DAYS"] == 30
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'papelera.db'}"
    assert settings["MONGO_URI"].startswith("litemongo://")
    assert settings["STORAGE_URL"] == f"file://{tmp_path / 'objects'}"
    assert settings["PURGE_BATCH_SIZE"] == 500 and "SIGNED_URL_TTL_S" not in settings


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert {c["status"] for c in ready.get_json()["checks"].values()} == {"ok"}


DEAD_MONGO = "mongodb://127.0.0.1:1/papelera?serverSelectionTimeoutMS=200"


@pytest.fixture
def mongo_down_app(tmp_path):
    app = build_app(tmp_path, MONGO_URI=DEAD_MONGO, BOOTSTRAP_ADMIN=False)
    yield app
    app.extensions["papelera.mongo"].close()


def test_readiness_reports_a_dependency_that_is_down(mongo_down_app):
    response = mongo_down_app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["users"]["status"] == "down"


def test_user_store_down_is_a_clear_503(mongo_down_app):
    client = mongo_down_app.test_client()
    response = client.post("/api/v1/auth/token", json={"username": "a", "password": "b"})
    assert response.status_code == 503
    assert response.get_json()["code"] == "unavailable"
    page = client.get("/login")
    assert page.status_code == 200  # the form itself needs no user store


def test_request_id_is_echoed_or_generated(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers[
        "X-Request-ID"] == "abc-123"
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["X-Request-ID"])
    ids = {client.get("/healthz").headers["X-Request-ID"] for _ in range(50)}
    assert len(ids) == 50 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_a_forked_worker_draws_request_ids_of_its_own():
    """gunicorn forks its workers: each must draw its own random part, or two workers
    would hand out the same ids (the audit log groups events by request id)."""
    import multiprocessing

    from app.core import logs

    parent = logs.new_request_id()
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        child = pool.apply(logs.new_request_id)
    assert parent[:20] != child[:20]
    assert logs.new_request_id()[:20] == parent[:20]  # the parent's own part is unchanged


def test_security_headers_on_pages(client):
    page = client.get("/login")
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "htmx-2" in page.text and "cdn" not in page.text.lower()


def test_unknown_api_route_and_method_answer_json(client):
    missing = client.get("/api/v1/nope")
    assert missing.status_code == 404 and missing.get_json()["code"] == "not_found"
    wrong = client.put("/api/v1/images")
    # The route exists, the method does not: 405 (before any credential is asked for).
    assert wrong.status_code == 405 and wrong.get_json()["code"] == "method_not_allowed"
    assert {"GET", "POST"} <= {m.strip() for m in wrong.headers["Allow"].split(",")}


@pytest.fixture
def browser(app, alice):
    return Browser(app.test_client(), "alice", USER_PASSWORD)


def test_gallery_full_page_and_fragment(browser):
    browser.upload(png_bytes())
    full = browser.request("GET", "/", htmx=False)
    assert "<html" in full.text and 'class="tile card"' in full.text
    assert "HX-Request" in full.headers["Vary"]
    fragment = browser.request("GET", "/")
    assert "<html" not in fragment.text and 'id="gallery"' in fragment.text
    boosted = browser.request("GET", "/", headers={"HX-Boosted": "true"})
    assert "<html" in boosted.text
    restore = browser.request("GET", "/", headers={"HX-History-Restore-Request": "true"})
    assert "<html" in restore.text


def test_gallery_delete_answers_an_undo_toast_and_undo_brings_the_card_back(browser):
    uploaded = browser.upload(png_bytes())
    assert uploaded.status_code == 201
    image_id = re.search(r'id="image-([0-9a-f-]+)"', uploaded.text).group(1)
    gone = browser.request("DELETE", f"/images/{image_id}", headers={"X-Confirm-Delete": "yes"})
    assert gone.status_code == 200
    assert 'hx-swap-oob="beforeend:#toasts"' in gone.text and "Undo" in gone.text
    assert re.search(r'id="gallery-count" hx-swap-oob="true">0 photos', gone.text)
    undo_url = re.search(r'hx-post="([^"]+/restore)"', gone.text).group(1)
    back = browser.request("POST", undo_url)
    assert back.status_code == 200
    assert f'data-restored="{image_id}"' in back.text  # the tile comes back where it was
    assert re.search(r'id="gallery-count" hx-swap-oob="true">1 photo ', back.text)


def test_error_answers_a_toast_for_htmx(browser):
    response = browser.upload(b"not an image", name="fake.png")
    assert response.status_code == 415
    assert response.headers["HX-Retarget"] == "#toasts"
    assert "toast-error" in response.text and "not a photo" in response.text


def test_trash_page_shows_days_left_and_empties(browser):
    image_id = re.search(r'id="image-([0-9a-f-]+)"', browser.upload(png_bytes()).text).group(1)
    browser.request("DELETE", f"/images/{image_id}", headers={"X-Confirm-Delete": "yes"})
    page = browser.request("GET", "/trash", htmx=False)
    assert "30 days left" in page.text
    restored = browser.request("POST", "/trash/restore", data={"ids": [image_id]})
    assert "Restored 1 item" in restored.text
    browser.request("DELETE", f"/images/{image_id}", headers={"X-Confirm-Delete": "yes"})
    emptied = browser.request("DELETE", "/trash", headers={"X-Confirm-Delete": "yes"})
    assert emptied.status_code == 200
    assert "The trash is empty" in emptied.text and "Deleted 1 item" in emptied.text


def test_demo_seed_fills_a_fresh_install(app):
    result = app.test_cli_runner().invoke(args=["demo", "seed", "--images", "4"])
    assert result.exit_code == 0, result.output
    from app.core.extensions import db
    from app.images.models import Image, with_trashed

    with app.app_context():
        rows = db.session.execute(with_trashed(db.select(Image))).scalars().all()
    assert len(rows) == 4 and sum(r.is_deleted for r in rows) == 3


def test_the_cli_creates_a_user_and_audits_it(app):
    from tests.helpers import last_audit

    result = app.test_cli_runner().invoke(args=[
        "users", "create", "cliuser", "--email", "cliuser@example.com", "--role", "admin",
        "--password", "a-long-enough-password"])
    assert result.exit_code == 0, result.output
    event = last_audit(app)
    assert (event.action, event.outcome, event.actor_id) == ("user_created", "ok", "system")
    assert event.details == {"role": "admin"}
    refused = app.test_cli_runner().invoke(args=[
        "users", "create", "cliuser", "--email", "other@example.com", "--password",
        "a-long-enough-password"])
    assert refused.exit_code != 0 and last_audit(app).id == event.id


def test_founder_is_created_once_with_a_generated_password(tmp_path, capsys):
    app = build_app(tmp_path, ADMIN_PASSWORD=None, ADMIN_USERNAME="boss")
    captured = capsys.readouterr()
    assert "boss" in captured.err and "password" in captured.err
    from app.users.repository import get_users

    with app.app_context():
        founder = get_users().by_username("boss")
        assert founder.is_founder and founder.role == "admin"


def test_trash_page_deletes_a_selection_forever(browser, app):
    ids = [re.search(r'id="image-([0-9a-f-]+)"', browser.upload(png_bytes()).text).group(1)
           for _ in range(3)]
    for image_id in ids:
        browser.request("DELETE", f"/images/{image_id}", headers={"X-Confirm-Delete": "yes"})
    chosen = "&".join(f"ids={i}" for i in ids[:2])
    preview = browser.request("DELETE", f"/trash/selected?{chosen}&dry_run=true")
    assert preview.status_code == 200 and "2 photos" in preview.text
    gone = browser.request("DELETE", f"/trash/selected?{chosen}",
                           headers={"X-Confirm-Delete": "yes"})
    assert gone.status_code == 200 and "Deleted 2 items for good" in gone.text
    assert "1 item ·" in gone.text  # the trash section answered with what is left
    from tests.helpers import image_row

    assert [image_row(app, i) is None for i in ids] == [True, True, False]
    assert browser.request("DELETE", "/trash/selected?ids=nope",
                           headers={"X-Confirm-Delete": "yes"}).status_code == 400
    assert browser.request("DELETE", "/trash/selected",
                           headers={"X-Confirm-Delete": "yes"}).status_code == 400


def test_the_schedulers_routine_runs_stay_out_of_the_log(caplog):
    """Every few seconds a job runs (the webhook outbox, the metrics flush); its start and
    its success are not written, its failure is."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        configure_logging()
        scheduler_log = logging.getLogger("apscheduler.executors.default")
        with caplog.at_level(logging.NOTSET):
            scheduler_log.info('Job "media_webhooks_deliver" executed successfully')
            scheduler_log.error('Job "media_webhooks_deliver" raised an exception')
    finally:
        root.handlers[:], root.level = handlers, level
    assert [r.levelname for r in caplog.records if r.name.startswith("apscheduler")] == [
        "ERROR"]


def test_no_view_hook_or_handler_is_a_coroutine(app):
    """``Papelera.ensure_sync`` hands callables to Flask as they are (no ``inspect`` call
    per hook per request): that is only right while none of them is ``async def``."""
    import inspect

    callables = list(app.view_functions.values())
    for table in (app.before_request_funcs, app.after_request_funcs,
                  app.teardown_request_funcs, app.url_value_preprocessors):
        callables += [f for funcs in table.values() for f in funcs]
    callables += [f for handlers in app.error_handler_spec.values()
                  for by_code in handlers.values() for f in by_code.values()]
    assert callables
    assert not [f for f in callables if inspect.iscoroutinefunction(f)]


@pytest.mark.parametrize("header, expected", [
    (None, {}),
    ("", {}),
    ("a=1; papelera_x=two", {"a": "1", "papelera_x": "two"}),
])
def test_a_request_reads_the_cookies_it_was_sent_and_none_without_a_cookie_header(
        app, header, expected):
    """``PapeleraRequest.cookies`` answers an empty dict without walking the headers when
    no ``Cookie`` was sent, and werkzeug's parse otherwise."""
    headers = {} if header is None else {"Cookie": header}
    with app.test_request_context("/", headers=headers):
        from flask import request

        assert type(request._get_current_object()).__name__ == "PapeleraRequest"
        assert dict(request.cookies) == expected
        assert request.cookies is request.cookies  # parsed once


def test_flask_limiter_resolves_limits_only_where_a_route_declares_them(app):
    """Its global hooks are off: no default limits exist, and the /media routes'
    decorator checks their own (tests/media/test_protection*.py hold the 429s); its
    headers are off (app.media.guard writes them) and no limit deducts conditionally."""
    from app.core.extensions import limiter

    hooks = [getattr(hook, "func", hook) for table in (
        app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs)
        for hook in table.get(None, [])]
    assert hooks and not [hook for hook in hooks if getattr(hook, "__self__", None) is limiter
                          or getattr(hook, "__qualname__", "").startswith("Limiter.")]
    assert not limiter._headers_enabled
    limits = [limit for group in limiter.limit_manager._decorated_limits.values()
              for limit in group]
    assert limits and not [limit for limit in limits if limit.deduct_when]


def test_the_access_log_line_carries_the_request(client, capsys):
    import json as _json

    from app.core.logs import JsonFormatter

    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(JsonFormatter().format(record))

    access = logging.getLogger("papelera.access")
    handler, level = Keep(), access.level
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        client.get("/healthz?x=1", headers={"X-Request-ID": "abc-123"})
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
    line = _json.loads(records[-1])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", line["at"])
    assert {k: line[k] for k in ("level", "logger", "message", "request_id", "method",
                                 "path", "status", "remote_addr")} == {
        "level": "info", "logger": "papelera.access", "message": "request",
        "request_id": "abc-123", "method": "GET", "path": "/healthz", "status": 200,
        "remote_addr": "127.0.0.1"}


@pytest.mark.parametrize("created", [
    0.0, 2.5e-6, 1.9999994999, 1.9999995, 1_000_000_000.0000005, 1_000_000_000.0000015,
    1_254_350_599.2173617, 1_796_601_599.9999996, 1_796_601_600.123456])
def test_the_log_timestamp_is_the_one_datetime_writes(created):
    """The second's text is kept between lines; the microseconds round as datetime's do
    (half to even), carrying into the next second."""
    from datetime import UTC, datetime

    from app.core.logs import _timestamp

    _timestamp(created - 1)  # another second was written last
    expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="microseconds")
    assert _timestamp(created) == _timestamp(created) == expected[:-6] + "Z"


def test_the_app_starts_with_the_limiter_switched_off(tmp_path):
    """``RATELIMIT_ENABLED=False`` (Flask-Limiter's own switch) registers no hook to take
    off: the app still starts and serves."""
    from app.core.extensions import limiter

    try:
        app = build_app(tmp_path, RATELIMIT_ENABLED=False)
        assert app.test_client().get("/healthz").status_code == 200
    finally:
        # The limiter is one object per process and keeps ``enabled`` from the last app
        # bound to it: the apps of later tests in this worker must count again.
        limiter.enabled = True


def test_htmx_never_writes_a_style_attribute(client, alice):
    """Pages allow no inline styles (CSP ``style-src 'self'``): htmx, which by default
    copies an old element's ``style`` attribute onto its swapped-in replacement while
    settling, is told to settle only class, width and height."""
    import json as _json

    from tests.conftest import USER_PASSWORD
    from tests.helpers import Browser

    page = Browser(client, "alice", USER_PASSWORD).request("GET", "/", htmx=False)
    meta = re.search(r"<meta name=\"htmx-config\" content='([^']+)'", page.get_data(as_text=True))
    config = _json.loads(meta.group(1))
    assert "style" not in config["attributesToSettle"]
    assert {"class", "width", "height"} <= set(config["attributesToSettle"])
    assert "'unsafe-inline'" not in page.headers["Content-Security-Policy"]
