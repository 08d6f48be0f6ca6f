"""Settings: every key the app reads from ``app.config``, declared once in ``SETTINGS``
with its default, its check and one line of meaning, read from the environment and
validated before the app starts.

A bad value stops the app with a message naming the variable (``ConfigError``).
``instance/config.py`` and the tests' mapping may then override any key; code reads
``app.config["X"]`` and never carries a default of its own. ``README.md``'s table of
environment variables is checked against ``SETTINGS`` by ``tests/test_config_table.py``.
"""

# No pydantic-settings: a compiled dependency whose errors are not one line naming the variable.

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import click
from apscheduler.triggers.cron import CronTrigger

from app.core.i18n import DEFAULT_LANGUAGE
from app.core.security import content_security_policy

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]


class ConfigError(click.ClickException):
    """A setting has a value the app cannot run with.

    A ClickException, so ``flask …`` and ``make run`` print one line naming the
    variable and exit non-zero instead of a traceback.
    """

    def format_message(self) -> str:
        return f"configuration error: {self.message}"


# -- readers: (variable, text) -> value, or ConfigError naming the variable ---------------

Reader = Callable[[str, str], Any]


def text(name: str, raw: str) -> str:
    return raw


def boolean(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def whole(minimum: int = 0, maximum: int | None = None) -> Reader:
    """A whole number from ``minimum`` to ``maximum`` (no upper bound when None)."""
    def read(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            raise ConfigError(f"{name} must be {bound}, got {value}")
        return value
    return read


def _number(minimum: float, maximum: float, what: str) -> Reader:
    def read(name: str, raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be {what}, got {raw!r}") from None
        if not minimum <= value <= maximum:
            raise ConfigError(f"{name} must be between {minimum:g} and {maximum:g}, "
                              f"got {value:g}")
        return value
    return read


share = _number(0, 1, "a number between 0 and 1")
seconds = _number(0, 60, "a number of seconds")  # fractions allowed


def rate_limit(name: str, raw: str) -> str:
    """A rate in the `limits` notation ("10 per minute"), checked now, not at first use."""
    from limits import parse  # third-party; loaded only when one is set

    try:
        parse(raw)
    except ValueError:
        raise ConfigError(f"{name} must look like '10 per minute', got {raw!r}") from None
    return raw


def widths(name: str, raw: str) -> tuple[int, ...]:
    try:
        values = sorted({int(part) for part in raw.split(",") if part.strip()})
    except ValueError:
        raise ConfigError(f"{name} must be widths separated by commas, got {raw!r}") from None
    if not values or values[0] < 16 or values[-1] > 8192:
        raise ConfigError(f"{name} must list widths between 16 and 8192, got {raw!r}")
    return tuple(values)


def url_with(*schemes: str) -> Reader:
    """A URL starting with one of ``schemes`` (``postgresql+psycopg`` counts as
    ``postgresql``); the error masks its password."""
    def read(name: str, raw: str) -> str:
        scheme = urlparse(raw).scheme.split("+")[0]
        if scheme not in schemes:
            raise ConfigError(f"{name} must start with one of {', '.join(schemes)}: "
                              f"got {mask_url(raw)!r}")
        return raw
    return read


def database_url(name: str, raw: str) -> str:
    """``postgres://`` and ``postgresql://`` are read as psycopg (SQLAlchemy's default
    driver for them is psycopg2, which is not installed)."""
    raw = url_with("sqlite", "postgresql", "postgres")(name, raw)
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix):]
    return raw


def storage_url(name: str, raw: str) -> str:
    raw = url_with("s3", "file")(name, raw)
    if raw.startswith("s3://") and not urlparse(raw).netloc:
        raise ConfigError(f"{name} must name a bucket (s3://bucket?...), got {mask_url(raw)!r}")
    return raw


def secret_key(name: str, raw: str) -> str:
    check_secret_key(raw, production=False)
    return raw


def environment(name: str, raw: str) -> str:
    return "production" if raw == "production" else "development"


def folder(name: str, raw: str) -> str:
    return str(Path(raw).resolve())


# -- the table --------------------------------------------------------------------------

@dataclass(frozen=True)
class Setting:
    """One ``app.config`` key.

    ``default`` is the value when nothing sets it; a callable default is given the
    settings read so far (those above it) and computes it. ``read`` parses and checks the
    environment variable ``env`` (the key itself unless named); without ``read`` the key
    is not an environment variable: ``instance/config.py`` or a test may set it.
    ``shown`` is the default as README.md states it, when the value itself is not.
    """

    key: str
    default: Any
    meaning: str
    read: Reader | None = None
    env: str = ""
    shown: str | None = None

    @property
    def variable(self) -> str | None:
        """The environment variable read for this key, if any."""
        return (self.env or self.key) if self.read else None

    def default_text(self) -> str:
        """The default as README.md writes it (between backticks)."""
        if self.shown is not None:
            return self.shown
        value = self.default
        if value is None:
            return "—"
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, float):
            return f"{value:g}"
        if isinstance(value, tuple):
            return ",".join(str(part) for part in value)
        return str(value)


def _in_instance(template: str, name: str) -> Callable[[dict], str]:
    return lambda s: template.format(Path(s["INSTANCE_DIR"]) / name)


def _production(s: dict) -> bool:
    return s["PAPELERA_ENV"] == "production"


_DAY_MINUTES = 24 * 60
_WEEK_S = 7 * 24 * 3600

#: Environment variables, in README.md's order. ``PAPELERA_INSTANCE`` and
#: ``PAPELERA_ENV`` come first: the defaults below them are computed from them.
ENVIRONMENT: tuple[Setting, ...] = (
    Setting("INSTANCE_DIR", lambda s: str(Path("instance").resolve()),
            "folder for the embedded SQL file, user store, objects and secret key",
            folder, env="PAPELERA_INSTANCE", shown="./instance"),
    Setting("PAPELERA_ENV", "development",
            "production requires SECRET_KEY and marks cookies Secure", environment),
    Setting("ALLOW_MIXED_STORES", False,
            "in production, allow external and embedded stores side by side", boolean),
    Setting("HOST", "127.0.0.1", "where make run and make dev listen", text),
    Setting("PORT", 5000, "the port make run and make dev listen on", whole(1, 65535)),
    Setting("SQLALCHEMY_DATABASE_URI", _in_instance("sqlite:///{}", "papelera.db"),
            "SQL database (sqlite or postgresql)", database_url, env="DATABASE_URL",
            shown="sqlite:///instance/papelera.db"),
    Setting("MONGO_URI", _in_instance("litemongo://{}", "mongo"),
            "the user store: mongodb://, litemongo:///path or mongomock://",
            url_with("mongodb", "litemongo", "mongomock"), shown="litemongo://instance/mongo"),
    Setting("STORAGE_URL", _in_instance("file://{}", "objects"),
            "the object store: a folder or s3://bucket?endpoint_url=…&region=…", storage_url,
            shown="file://instance/objects"),
    Setting("REDIS_URL", None,
            "shared store for counters, caches, limits and the access generation; "
            "this process's memory when unset", url_with("redis", "rediss", "unix")),
    Setting("SECRET_KEY", lambda s: _kept_secret_key(Path(s["INSTANCE_DIR"]), _production(s)),
            "signs sessions, CSRF tokens and share links (at least 16 characters)",
            secret_key, shown="generated into instance/secret_key"),
    Setting("TRUSTED_PROXIES", 0,
            "proxy hops whose X-Forwarded-* headers are trusted for the client IP",
            whole(0, 10)),
    Setting("TRASH_RETENTION_DAYS", 30, "days an item stays in the trash (0: due at once)",
            whole(0, 3650)),
    Setting("TRASH_RETENTION_MAX_DAYS", 90, "the most retention a user may choose",
            whole(0, 3650)),
    Setting("PURGE_CRON", "0 0 * * *", "when the purge runs", text),
    Setting("SCHEDULER_TIMEZONE", "UTC", "time zone of PURGE_CRON", text),
    Setting("PURGE_BATCH_SIZE", 500, "images per purge batch", whole(1, 100_000)),
    Setting("PURGE_TIME_BUDGET_S", 20,
            "how long a purge requested over HTTP may run before answering", whole(1, 3600)),
    Setting("PURGE_MAX_SWEEP_SHARE", 0.05,
            "the orphan sweep stops for an admin past this share of owners or of images",
            share),
    Setting("SCHEDULER_ENABLED", True, "start the purge scheduler in this process", boolean),
    Setting("MAX_UPLOAD_MB", 20, "upload size limit (413 beyond)", whole(1, 10240)),
    # Decoding costs about 4 bytes a pixel (24 MP: ~100 MB), so these two bound the
    # memory uploads can take: MAX_IMAGE_PIXELS × 4 B × MAX_CONCURRENT_DECODES.
    Setting("MAX_IMAGE_PIXELS", 24_000_000, "pixels an upload may have (413 beyond)",
            whole(1)),
    Setting("MAX_CONCURRENT_DECODES", 2, "uploads decoded at once per process",
            whole(1, 64)),
    Setting("DECODE_WAIT_S", 20, "how long an upload waits for a decode slot before 503",
            whole(0, 600)),
    Setting("MEDIA_WIDTHS", (320, 640, 1280, 2048),
            "the widths a /media variant may ask for (each 16–8192)", widths),
    Setting("MEDIA_MAX_VARIANTS_PER_IMAGE", 16,
            "stored /media variants per image; past it the least recently used is deleted",
            whole(1, 1000)),
    Setting("SHARE_LINK_WINDOW_S", 3600,
            "share-link expiries are rounded up to this, so a link is stable within it",
            whole(1, _WEEK_S)),
    Setting("MEDIA_FLUSH_INTERVAL_S", 10,
            "how often each process writes its media usage counts to SQL", whole(1, 3600)),
    Setting("MEDIA_CONFIG_CHECK_S", 1.0,
            "how often a process checks whether the media settings changed (0: always)",
            seconds),
    Setting("MEDIA_LOCAL_CACHE_BYTES", 32 * 2**20,
            "with Redis: each process's copies of the cached bytes it served (0: none)",
            whole(0, 2**30)),
    Setting("MEDIA_ACCESS_CACHE_MAX_AGE_S", 60,
            "the most a cached access decision is trusted without a change (a failed bump)",
            whole(0, 3600)),
    Setting("MEDIA_ACCESS_RECHECK_S", 1.0,
            "with Redis: how often a process reads the access generation besides following "
            "its bumps (a bound for a subscription that died silently)", seconds),
    Setting("MEDIA_WEBHOOK_ALLOW_PRIVATE", False,
            "let the auto-block webhook reach loopback, private and link-local addresses",
            boolean),
    Setting("TOKEN_TTL_HOURS", 24 * 30, "lifetime of API tokens", whole(1)),
    Setting("LOGIN_RATE_LIMIT", "10 per minute", "sign-in attempts per client IP",
            rate_limit),
    Setting("LOGIN_USER_RATE_LIMIT", "20 per 10 minutes",
            "sign-in attempts per typed username from any address", rate_limit),
    Setting("SESSION_IDLE_MINUTES", 7 * _DAY_MINUTES,
            "a browser session ends after this long without a request",
            whole(1, 366 * _DAY_MINUTES)),
    Setting("SESSION_ABSOLUTE_MINUTES", 30 * _DAY_MINUTES,
            "and this long after sign-in, whatever the activity",
            whole(1, 366 * _DAY_MINUTES)),
    # Argon2 needs 8 KiB per lane; argon2-cffi hashes with 4 lanes.
    Setting("ARGON2_MEMORY_KIB", 65536, "password hashing memory",
            whole(32, 4 * 1024 * 1024)),
    Setting("ARGON2_TIME_COST", 3, "password hashing passes", whole(1, 20)),
    Setting("ADMIN_USERNAME", "admin", "the founder, created at start when no admin exists",
            text),
    Setting("ADMIN_PASSWORD", None,
            "the founder's password; generated and printed once when unset", text,
            shown="generated"),
    Setting("ADMIN_EMAIL", None, "the founder's e-mail", text),
    # Off in containers whose entrypoint creates the first admin once for all workers.
    Setting("BOOTSTRAP_ADMIN", True, "create the founder at start", boolean),
)

#: Keys an operator may set in ``instance/config.py`` (and tests in their mapping), not
#: environment variables (docs/configuration.md lists them).
FILE_ONLY: tuple[Setting, ...] = (
    Setting("PURGE_LEASE_TTL_S", 300,
            "how long the purge lease lasts without renewal; a dead holder loses it then"),
    Setting("PURGE_STALE_CLAIM_S", 900,
            "rows claimed by another claimer longer ago than this are taken over by the purge"),
    Setting("MEDIA_MEMORY_CACHE_BYTES", 64 * 2**20,
            "without Redis: the bytes the per-process /media cache may hold"),
    Setting("MEDIA_CONFIG", lambda s: {},
            "media settings overriding their defaults; the admin's own, in SQL, override it",
            shown="{}"),
    Setting("MEDIA_CACHE_NAMESPACE", "papelera:media",
            "prefix of the /media cache and access-generation keys in Redis"),
    Setting("MEDIA_PROTECTION_NAMESPACE", "papelera",
            "prefix of the /media limit budgets, auto-block counters and block-list version"),
    Setting("MEDIA_BLOCK_BOARD_CHECK_S", 0.25,
            "with Redis: how stale a process's view of the auto-blocks may be"),
    Setting("MEDIA_WEBHOOK_BACKOFF_S", 1.0,
            "the first wait before a failed auto-block webhook delivery is retried"),
    Setting("RATELIMIT_STORAGE_URI", None,
            "the counter store of the limits; unset: REDIS_URL's, else this process's memory"),
    Setting("RATELIMIT_KEY_PREFIX", "",
            "Flask-Limiter's key prefix (its own default); sign-in counters use 'papelera' "
            "when it is empty"),
    Setting("STORAGE", None, "a storage object used instead of STORAGE_URL's"),
    Setting("STORAGE_CHECK_AT_START", True, "check at start that the object store answers"),
)

#: Flask and extension keys the app sets, and values computed from the settings above.
FIXED: tuple[Setting, ...] = (
    Setting("SQLALCHEMY_ENGINE_OPTIONS", lambda s: {"pool_pre_ping": True},
            "a connection is tested before each checkout (a restarted PostgreSQL)"),
    Setting("SQLALCHEMY_TRACK_MODIFICATIONS", False, "Flask-SQLAlchemy's event system, off"),
    # Werkzeug answers 413 itself past this; the multipart overhead gets 1 MB of slack.
    Setting("MAX_CONTENT_LENGTH", lambda s: (s["MAX_UPLOAD_MB"] + 1) * 1024 * 1024,
            "the largest request body"),
    # The signed cookie never outlives the server-side session behind it.
    Setting("PERMANENT_SESSION_LIFETIME",
            lambda s: timedelta(minutes=s["SESSION_ABSOLUTE_MINUTES"]),
            "the session cookie's lifetime: SESSION_ABSOLUTE_MINUTES"),
    Setting("SESSION_COOKIE_HTTPONLY", True, "scripts cannot read the session cookie"),
    Setting("SESSION_COOKIE_SAMESITE", "Lax", "no session cookie on cross-site posts"),
    Setting("SESSION_COOKIE_SECURE", _production, "session cookie over HTTPS only"),
    Setting("REMEMBER_COOKIE_HTTPONLY", True, "scripts cannot read the remember cookie"),
    Setting("REMEMBER_COOKIE_SAMESITE", "Lax", "no remember cookie on cross-site posts"),
    Setting("REMEMBER_COOKIE_SECURE", _production, "remember cookie over HTTPS only"),
    # CSRF is checked by app.auth.login after authentication, so a missing login
    # answers 401 before a missing token answers 400 (SPEC section 4).
    Setting("WTF_CSRF_CHECK_DEFAULT", False, "Flask-WTF checks no request by itself"),
    Setting("WTF_CSRF_TIME_LIMIT", None, "a CSRF token lasts as long as its session"),
    Setting("CSP", content_security_policy(None), "the Content-Security-Policy of pages"),
    Setting("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE, "the language when none is chosen"),
    Setting("BABEL_TRANSLATION_DIRECTORIES", str(ROOT / "translations"),
            "where the compiled catalogues are"),
)

SETTINGS: tuple[Setting, ...] = ENVIRONMENT + FILE_ONLY + FIXED

#: Variables read nowhere any more: accepted, ignored, and named in a warning at start.
OBSOLETE: tuple[str, ...] = ("SIGNED_URL_TTL_S", "STORAGE_PUBLIC_URL")


def load_settings(env=None) -> dict:
    """Every key of ``SETTINGS`` from ``env`` (default ``os.environ``; an empty or blank
    variable counts as unset), or ConfigError."""
    env = os.environ if env is None else env
    settings: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = env.get(setting.variable) if setting.variable else None
        if raw is not None and raw.strip():
            settings[setting.key] = setting.read(setting.variable, raw)
        elif callable(setting.default):
            settings[setting.key] = setting.default(settings)
        else:
            settings[setting.key] = setting.default
    _check_together(settings, env)
    for name in OBSOLETE:
        if (env.get(name) or "").strip():
            log.warning("%s is ignored: it is read nowhere since /media; remove it", name)
    return settings


def _check_together(settings: dict, env) -> None:
    """The checks that need more than one setting."""
    retention, most = settings["TRASH_RETENTION_DAYS"], settings["TRASH_RETENTION_MAX_DAYS"]
    if retention > most:
        raise ConfigError(f"TRASH_RETENTION_DAYS ({retention}) must not exceed "
                          f"TRASH_RETENTION_MAX_DAYS ({most})")
    idle, absolute = settings["SESSION_IDLE_MINUTES"], settings["SESSION_ABSOLUTE_MINUTES"]
    if idle > absolute:
        raise ConfigError(f"SESSION_IDLE_MINUTES ({idle}) must not exceed "
                          f"SESSION_ABSOLUTE_MINUTES ({absolute})")
    try:
        CronTrigger.from_crontab(settings["PURGE_CRON"], timezone=settings["SCHEDULER_TIMEZONE"])
    except Exception as exc:  # apscheduler raises ValueError or a zoneinfo error
        raise ConfigError(f"PURGE_CRON / SCHEDULER_TIMEZONE are not valid: {exc}") from None
    if _production(settings) and not settings["ALLOW_MIXED_STORES"]:
        _check_stores_agree(env, {"DATABASE_URL": settings["SQLALCHEMY_DATABASE_URI"],
                                  "MONGO_URI": settings["MONGO_URI"],
                                  "STORAGE_URL": settings["STORAGE_URL"]})


def mask_url(url: str) -> str:
    """``url`` without its password (and without query values that look like secrets),
    fit for an error message or a log line."""
    parsed = urlparse(url)
    netloc = parsed.netloc
    userinfo, at, hosts = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hosts}"
    query = parsed.query
    if query:
        parts = []
        for pair in query.split("&"):
            key, eq, _value = pair.partition("=")
            secret = any(word in key.lower() for word in ("pass", "secret", "key", "token"))
            parts.append(f"{key}=***" if eq and secret else pair)
        query = "&".join(parts)
    return parsed._replace(netloc=netloc, query=query).geturl()


def _is_external(name: str, url: str) -> bool:
    """Whether a store is a server of its own (PostgreSQL, MongoDB, S3) or embedded."""
    scheme = urlparse(url).scheme.split("+")[0]
    return scheme in {"DATABASE_URL": ("postgresql", "postgres"),
                      "MONGO_URI": ("mongodb",), "STORAGE_URL": ("s3",)}[name]


def _check_stores_agree(env, urls: dict[str, str]) -> None:
    """In production, all three stores external or all embedded, unless allowed.

    A forgotten MONGO_URI next to a real PostgreSQL silently starts on an empty embedded
    user store; this refuses to start instead.
    """
    kinds = {name: _is_external(name, url) for name, url in urls.items()}
    if len(set(kinds.values())) == 1:
        return

    def describe(name):
        scheme = urlparse(urls[name]).scheme.split("+")[0]
        default = ", the default as it is unset" if not env.get(name) else ""
        return f"{name} is {'external' if kinds[name] else 'embedded'} ({scheme}{default})"

    raise ConfigError(
        "; ".join(describe(name) for name in urls) + ". In production the database, the user "
        "store and the object store must all be external or all embedded: set the missing "
        "variable, or ALLOW_MIXED_STORES=true if this mix is deliberate")


def _kept_secret_key(instance: Path, production: bool) -> str | None:
    """The development key kept in ``instance/secret_key``, made once; None in production
    (``instance/config.py`` may set it; ``check_secret_key`` runs after it)."""
    if production:
        return None
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # Written with owner-only permissions: the key signs sessions and URLs.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def check_secret_key(key: str | None, production: bool) -> None:
    """The key the app ends up with (environment, then ``instance/config.py``)."""
    if not key and production:
        raise ConfigError("SECRET_KEY is required when PAPELERA_ENV=production: set it in "
                          "the environment or in instance/config.py")
    if key is not None and len(key) < 16:
        raise ConfigError("SECRET_KEY must be at least 16 characters long")


def s3_options(storage_url: str) -> dict:
    """Split ``s3://bucket?endpoint_url=…&region=…`` into boto3 arguments."""
    parsed = urlparse(storage_url)
    query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    return {
        "bucket": parsed.netloc,
        "prefix": parsed.path.lstrip("/"),
        "endpoint_url": query.get("endpoint_url"),
        "region": query.get("region") or "us-east-1",
    }
