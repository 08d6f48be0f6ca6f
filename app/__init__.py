"""Papelera: a self-hosted image library with a safe deletion lifecycle."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)


def create_app(config: dict | None = None, env=None) -> Flask:
    """The app, configured from ``env`` (default ``os.environ``), then
    ``instance/config.py``, then ``config``."""
    from app.config import check_secret_key, load_settings

    settings = load_settings(env)
    app = Flask(__name__, template_folder=str(ROOT / "templates"),
                static_folder=str(ROOT / "static"), instance_path=settings["INSTANCE_DIR"],
                instance_relative_config=True)
    app.config.update(settings)
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(config or {})
    check_secret_key(app.config.get("SECRET_KEY"), app.config["PAPELERA_ENV"] == "production")
    from app.security import content_security_policy

    app.config.setdefault("CSP", content_security_policy(app.config))

    from app.logs import configure_logging

    if not app.testing:
        configure_logging()
    if app.config.get("TRUSTED_PROXIES"):
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)

    _init_extensions(app)
    _register_blueprints(app)
    _register_hooks(app)
    _register_cli(app)
    # Before the founder: a founder in an empty store must not make it look like ours.
    from app.installation import check_at_start

    installation = check_at_start(app)
    if app.config.get("BOOTSTRAP_ADMIN", True):
        if installation is not None and installation.state == "mismatch":
            log.error("not creating the first admin: the user store is not this "
                      "installation's")
        else:
            _bootstrap_founder(app)
    _start_scheduler(app)
    return app


def _init_extensions(app: Flask) -> None:
    from app import i18n, media, storage
    from app.auth.passwords import configure_hasher
    from app.db import configure_engine
    from app.extensions import csrf, db, limiter, login_manager, migrate
    from app.media.counters import storage_uri as media_storage_uri
    from app.users.mongo import MongoProvider
    from app.users.repository import UserRepository

    configure_hasher(app.config.get("ARGON2_MEMORY_KIB"), app.config.get("ARGON2_TIME_COST"))
    i18n.init_app(app, str(ROOT / "translations"))
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
        app.config.get("RATELIMIT_STORAGE_URI") or app.config.get("REDIS_URL") or "memory://")
    limiter.init_app(app)
    from app.auth import throttle

    throttle.init_app(app)  # sign-in limits: hit before the password check, shared via Redis

    provider = MongoProvider(app.config["MONGO_URI"])
    app.extensions["papelera.mongo"] = provider
    users = UserRepository(provider)
    app.extensions["papelera.users"] = users
    try:
        users.ensure_indexes()
    except Exception as exc:  # Mongo down at start: /readyz says so, requests answer 503
        log.error("could not reach the user store: %s", exc)
    storage.init_app(app)
    media.init_app(app)

    import app.auth.login  # noqa: F401  (registers the Flask-Login loaders)


def _register_blueprints(app: Flask) -> None:
    from app.api.openapi import bp as openapi_bp
    from app.audit.api import bp as audit_api
    from app.audit.views import bp as audit_pages
    from app.auth.api import bp as auth_api
    from app.auth.views import bp as auth_pages
    from app.deletion.views import bp as deletion_pages
    from app.health import bp as health_bp
    from app.images.api import bp as images_api
    from app.images.views import bp as images_pages
    from app.purge.api import bp as purge_api
    from app.purge.views import bp as purge_pages
    from app.trash.api import bp as trash_api
    from app.trash.views import bp as trash_pages
    from app.users.account import bp as account_pages
    from app.users.api import bp as users_api
    from app.users.ids import UserIdConverter
    from app.users.views import bp as users_pages

    app.url_map.converters["user_id"] = UserIdConverter
    for blueprint in (health_bp, auth_pages, images_pages, trash_pages, audit_pages,
                      deletion_pages, openapi_bp, auth_api, images_api, trash_api, users_api,
                      audit_api, purge_api, purge_pages, users_pages, account_pages):
        app.register_blueprint(blueprint)


def _register_hooks(app: Flask) -> None:
    from flask_babel import lazy_gettext
    from flask_login import current_user

    from app.auth.login import csrf_gate
    from app.errors import register_error_handlers
    from app.htmx import add_vary
    from app.logs import assign_request_id, log_request
    from app.media.guard import protection_gate
    from app.security import add_security_headers

    app.before_request(assign_request_id)
    app.before_request(protection_gate)  # blocked addresses and hotlinks: 403 before anything
    app.before_request(csrf_gate)
    app.after_request(add_vary)
    app.after_request(add_security_headers)
    app.after_request(log_request)
    register_error_handlers(app)

    htmx_files = sorted((ROOT / "static" / "vendor").glob("htmx-*.min.js"))
    htmx_js = f"vendor/{htmx_files[-1].name}" if htmx_files else "vendor/htmx.min.js"

    @app.context_processor
    def _globals():
        return {"current_user": current_user, "htmx_js": htmx_js, "nav_links": _nav_links()}

    def _nav_links():
        links = [("images_pages.gallery", lazy_gettext("Gallery"), False),
                 ("trash_pages.index", lazy_gettext("Trash"), False),
                 ("users_pages.index", lazy_gettext("Users"), True),
                 ("purge_pages.index", lazy_gettext("Purge"), True),
                 ("media_admin.index", lazy_gettext("Media"), True),
                 ("audit_pages.index", lazy_gettext("Audit"), True),
                 ("deletion_pages.endpoints", lazy_gettext("Endpoints"), True),
                 ("account_pages.index", lazy_gettext("Account"), False)]
        is_admin = current_user.is_authenticated and current_user.is_admin
        return [(endpoint, label) for endpoint, label, admin_only in links
                if endpoint in app.view_functions and (is_admin or not admin_only)]

    from app.i18n import filesize

    app.add_template_filter(filesize, "filesize")
    from app import dates

    dates.init_app(app)  # "3 hours ago" and localised dates in templates


def _register_cli(app: Flask) -> None:
    from app.audit.cli import audit_cli
    from app.cli import demo_cli, doctor_command, users_cli

    app.cli.add_command(audit_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(doctor_command)
    from app.installation import installation_cli

    app.cli.add_command(installation_cli)
    from app.purge.cli import purge_command

    app.cli.add_command(purge_command)


def _start_scheduler(app: Flask) -> None:
    from app.purge.scheduler import init_app as init_purge_scheduler

    if init_purge_scheduler(app):
        from app.extensions import scheduler
        from app.media.metrics import schedule as schedule_media

        schedule_media(app, scheduler)


def _bootstrap_founder(app: Flask) -> None:
    from app.cli import ensure_founder

    with app.app_context():
        try:
            ensure_founder(app)
        except Exception as exc:
            log.error("could not create the first admin: %s", exc)
