"""Papelera: a self-hosted image library with a safe deletion lifecycle.

``create_app`` is the top of the house (docs/architecture.md): it reads the settings,
binds the extensions, lets each capability ``init_app`` itself (stores, media and its
event subscriptions, the installation guard), then registers the web layer (blueprints,
error pages, hooks, CLI groups) and, outside tests, the scheduler.

Imports sit inside the functions below so that ``import app.core.db`` (a migration, a
test, the CLI) does not import the whole web layer first.
"""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, Request
from werkzeug.utils import cached_property

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)


class PapeleraRequest(Request):
    """Flask's request, without looking for cookies that were not sent."""

    @cached_property
    def cookies(self):
        """Empty when there is no ``Cookie`` header (API clients, share links, apps fetching
        images), known without werkzeug walking every header of the environ for one (the
        session, Flask-Login and the media gate each ask)."""
        if "HTTP_COOKIE" not in self.environ:
            return self.dict_storage_class()
        return super().cookies


class Papelera(Flask):
    """Flask, minus a check per hook: no view, hook or handler here is a coroutine, so
    ``ensure_sync`` (which asks ``inspect`` about each of the ~15 callables a request
    runs) returns what it is given. An ``async def`` view would fail loudly on its first
    call (a coroutine is not a response), and ``tests/test_app.py`` checks none exists.
    Its requests are ``PapeleraRequest``s."""

    request_class = PapeleraRequest

    def ensure_sync(self, func):
        return func


def create_app(config: dict | None = None, env=None) -> Flask:
    """The app, configured from ``env`` (default ``os.environ``), then
    ``instance/config.py``, then ``config``."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    from app.core.config import check_secret_key, load_settings
    from app.core.logs import configure_logging

    settings = load_settings(env)
    app = Papelera(__name__, template_folder=str(ROOT / "templates"),
                static_folder=str(ROOT / "static"), instance_path=settings["INSTANCE_DIR"],
                instance_relative_config=True)
    app.config.update(settings)
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(config or {})
    check_secret_key(app.config["SECRET_KEY"], app.config["PAPELERA_ENV"] == "production")
    if not app.testing:
        configure_logging()
    if app.config["TRUSTED_PROXIES"]:
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)

    _init_core(app)
    _init_capabilities(app)
    _init_web(app)
    _bootstrap(app)
    _start_scheduler(app)
    return app


def _init_core(app: Flask) -> None:
    from app.auth.passwords import configure_hasher
    from app.core import dates, i18n
    from app.core.db import configure_engine
    from app.core.extensions import csrf, db, limiter, login_manager, migrate
    from app.media.counters import storage_uri as media_storage_uri

    configure_hasher(app.config["ARGON2_MEMORY_KIB"], app.config["ARGON2_TIME_COST"])
    i18n.init_app(app)
    dates.init_app(app)  # "3 hours ago" and localised dates in templates
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    with app.app_context():
        configure_engine(db.engine)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    csrf.init_app(app)
    # One counter store for every worker with Redis: `limits`' Redis storage plus one call
    # that counts a whole /media request (papelera+redis://, app/media/counters.py);
    # memory otherwise. The sign-in limits and the media protection read it from here.
    app.config["RATELIMIT_STORAGE_URI"] = media_storage_uri(
        app.config["RATELIMIT_STORAGE_URI"] or app.config["REDIS_URL"] or "memory://")
    limiter.init_app(app)
    _drop_limiter_hooks(app)


def _drop_limiter_hooks(app: Flask) -> None:
    """Flask-Limiter's own hooks, which this app has no use for, off every request.

    - Its before_request resolves every route's limits; this app has no default limits,
      only the /media routes' decorator, which checks its limits itself when the view is
      called (app.media.guard): two limit resolutions per request become one, and none on
      the other routes.
    - Its after_request writes its headers (off here: app.media.guard writes RateLimit-*)
      and makes conditional deductions (no limit here has ``deduct_when``); its teardown
      resets a context that lives on the request context and goes with it.
    All three are absent when RATELIMIT_ENABLED is false.
    """
    from app.core.extensions import limiter

    def ours(hook) -> bool:
        hook = getattr(hook, "func", hook)  # the after_request hook is a partial
        return getattr(hook, "__self__", hook) is limiter or getattr(
            hook, "__qualname__", "").startswith("Limiter.")

    for hooks in (app.before_request_funcs, app.after_request_funcs,
                  app.teardown_request_funcs):
        hooks[None] = [hook for hook in hooks.get(None, []) if not ours(hook)]


def _init_capabilities(app: Flask) -> None:
    from app import installation, media, storage
    from app.auth import login, throttle
    from app.users import repository

    repository.init_app(app)
    storage.init_app(app)
    login.init_app(app)  # the Flask-Login loaders
    throttle.init_app(app)  # sign-in limits: hit before the password check, shared via Redis
    installation.init_app(app)  # destructive endpoints refuse while the stores disagree
    media.init_app(app)  # its cache, access cache and event subscriptions, its blueprints


def _init_web(app: Flask) -> None:
    from app.web import blueprints, cli, errors, hooks

    blueprints.init_app(app)
    hooks.init_app(app)
    errors.init_app(app)
    cli.init_app(app)


def _bootstrap(app: Flask) -> None:
    """Before the founder: a founder in an empty store must not make it look like ours."""
    from app.installation import check_at_start
    from app.web.cli import ensure_founder

    installation = check_at_start(app)
    if not app.config["BOOTSTRAP_ADMIN"]:
        return
    if installation is not None and installation.state == "mismatch":
        log.error("not creating the first admin: the user store is not this installation's")
        return
    with app.app_context():
        try:
            ensure_founder(app)
        except Exception as exc:
            log.error("could not create the first admin: %s", exc)


def _start_scheduler(app: Flask) -> None:
    from app.core.extensions import scheduler
    from app.media.metrics import schedule as schedule_media
    from app.purge.scheduler import init_app as init_purge_scheduler

    if init_purge_scheduler(app):
        schedule_media(app, scheduler)
