"""Settings, read once from the environment and validated before the app starts.

A bad value stops the app with a message naming the variable (``ConfigError``).
Tests and ``instance/config.py`` may override any key.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import click
from apscheduler.triggers.cron import CronTrigger


class ConfigError(click.ClickException):
    """A setting has a value the app cannot run with.

    A ClickException, so ``flask …`` and ``make run`` print one line naming the
    variable and exit non-zero instead of a traceback.
    """

    def format_message(self) -> str:
        return f"configuration error: {self.message}"


def _int(env, name, default, minimum=0, maximum=None):
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ConfigError(f"{name} must be {bound}, got {value}")
    return value


def _bool(env, name, default):
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _rate_limit(env, name, default):
    """A rate in the `limits` notation ("10 per minute"), checked now, not at first use."""
    from limits import parse

    raw = env.get(name) or default
    try:
        parse(raw)
    except ValueError:
        raise ConfigError(f"{name} must look like '10 per minute', got {raw!r}") from None
    return raw


def _session_lifetimes(env) -> tuple[int, int]:
    idle = _int(env, "SESSION_IDLE_MINUTES", 7 * 24 * 60, 1, 366 * 24 * 60)
    absolute = _int(env, "SESSION_ABSOLUTE_MINUTES", 30 * 24 * 60, 1, 366 * 24 * 60)
    if idle > absolute:
        raise ConfigError(f"SESSION_IDLE_MINUTES ({idle}) must not exceed "
                          f"SESSION_ABSOLUTE_MINUTES ({absolute})")
    return idle, absolute


def _widths(env, name, default) -> tuple[int, ...]:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        widths = sorted({int(part) for part in raw.split(",") if part.strip()})
    except ValueError:
        raise ConfigError(f"{name} must be widths separated by commas, got {raw!r}") from None
    if not widths or widths[0] < 16 or widths[-1] > 8192:
        raise ConfigError(f"{name} must list widths between 16 and 8192, got {raw!r}")
    return tuple(widths)


def _share(env, name, default):
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number between 0 and 1, got {raw!r}") from None
    if not 0 <= value <= 1:
        raise ConfigError(f"{name} must be between 0 and 1, got {value:g}")
    return value


def _seconds(env, name, default):
    """Seconds as a number from 0 to 60 (fractions allowed)."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not 0 <= value <= 60:
        raise ConfigError(f"{name} must be between 0 and 60, got {value:g}")
    return value


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


def _instance_path(env) -> Path:
    return Path(env.get("PAPELERA_INSTANCE") or "instance").resolve()


def _secret_key(env, instance: Path, production: bool) -> str | None:
    key = env.get("SECRET_KEY")
    if key:
        check_secret_key(key, production)
        return key
    if production:
        return None  # instance/config.py may set it; check_secret_key runs after it
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


def _check_url(name, value, schemes):
    scheme = urlparse(value).scheme.split("+")[0]
    if scheme not in schemes:
        raise ConfigError(f"{name} must start with one of {', '.join(schemes)}: "
                          f"got {mask_url(value)!r}")


def load_settings(env=None) -> dict:
    """Return Flask config keys from ``env`` (default ``os.environ``), or raise ConfigError."""
    env = os.environ if env is None else env
    instance = _instance_path(env)
    production = env.get("PAPELERA_ENV", "development") == "production"

    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance / 'papelera.db'}"
    _check_url("DATABASE_URL", database_url, ("sqlite", "postgresql", "postgres"))
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgres://"):]
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]

    mongo_uri = env.get("MONGO_URI") or f"litemongo://{instance / 'mongo'}"
    _check_url("MONGO_URI", mongo_uri, ("mongodb", "litemongo", "mongomock"))

    storage_url = env.get("STORAGE_URL") or f"file://{instance / 'objects'}"
    _check_url("STORAGE_URL", storage_url, ("s3", "file"))
    if storage_url.startswith("s3://") and not urlparse(storage_url).netloc:
        raise ConfigError("STORAGE_URL must name a bucket (s3://bucket?...), got "
                          f"{mask_url(storage_url)!r}")

    if production and not _bool(env, "ALLOW_MIXED_STORES", False):
        _check_stores_agree(env, {"DATABASE_URL": database_url, "MONGO_URI": mongo_uri,
                                  "STORAGE_URL": storage_url})

    public_url = env.get("STORAGE_PUBLIC_URL") or None
    if public_url:
        _check_url("STORAGE_PUBLIC_URL", public_url, ("http", "https"))

    redis_url = env.get("REDIS_URL") or None
    if redis_url:
        _check_url("REDIS_URL", redis_url, ("redis", "rediss", "unix"))

    retention = _int(env, "TRASH_RETENTION_DAYS", 30, 0, 3650)
    retention_max = _int(env, "TRASH_RETENTION_MAX_DAYS", 90, 0, 3650)
    if retention > retention_max:
        raise ConfigError(
            f"TRASH_RETENTION_DAYS ({retention}) must not exceed "
            f"TRASH_RETENTION_MAX_DAYS ({retention_max})"
        )

    cron = env.get("PURGE_CRON") or "0 0 * * *"
    timezone = env.get("SCHEDULER_TIMEZONE") or "UTC"
    try:
        CronTrigger.from_crontab(cron, timezone=timezone)
    except Exception as exc:  # apscheduler raises ValueError or a zoneinfo error
        raise ConfigError(f"PURGE_CRON / SCHEDULER_TIMEZONE are not valid: {exc}") from None

    host = env.get("HOST") or "127.0.0.1"
    port = _int(env, "PORT", 5000, 1, 65535)
    max_upload_mb = _int(env, "MAX_UPLOAD_MB", 20, 1, 10240)
    session_idle, session_absolute = _session_lifetimes(env)
    media_widths = _widths(env, "MEDIA_WIDTHS", (320, 640, 1280, 2048))

    return {
        "PAPELERA_ENV": "production" if production else "development",
        "INSTANCE_DIR": str(instance),
        "SECRET_KEY": _secret_key(env, instance, production),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "MONGO_URI": mongo_uri,
        "STORAGE_URL": storage_url,
        "STORAGE_PUBLIC_URL": public_url,
        "REDIS_URL": redis_url,
        "TRUSTED_PROXIES": _int(env, "TRUSTED_PROXIES", 0, 0, 10),
        "TRASH_RETENTION_DAYS": retention,
        "TRASH_RETENTION_MAX_DAYS": retention_max,
        "PURGE_CRON": cron,
        "SCHEDULER_TIMEZONE": timezone,
        "PURGE_BATCH_SIZE": _int(env, "PURGE_BATCH_SIZE", 500, 1, 100_000),
        "PURGE_TIME_BUDGET_S": _int(env, "PURGE_TIME_BUDGET_S", 20, 1, 3600),
        # The orphan sweep stops for an admin past this share of owners or of images.
        "PURGE_MAX_SWEEP_SHARE": _share(env, "PURGE_MAX_SWEEP_SHARE", 0.05),
        "ALLOW_MIXED_STORES": _bool(env, "ALLOW_MIXED_STORES", False),
        "SCHEDULER_ENABLED": _bool(env, "SCHEDULER_ENABLED", True),
        "MAX_UPLOAD_MB": max_upload_mb,
        # Werkzeug answers 413 itself past this; the multipart overhead gets 1 MB of slack.
        "MAX_CONTENT_LENGTH": (max_upload_mb + 1) * 1024 * 1024,
        # Decoding costs about 4 bytes a pixel (24 MP: ~100 MB), so these two bound the
        # memory uploads can take: MAX_IMAGE_PIXELS × 4 B × MAX_CONCURRENT_DECODES.
        "MAX_IMAGE_PIXELS": _int(env, "MAX_IMAGE_PIXELS", 24_000_000, 1),
        "MAX_CONCURRENT_DECODES": _int(env, "MAX_CONCURRENT_DECODES", 2, 1, 64),
        "DECODE_WAIT_S": _int(env, "DECODE_WAIT_S", 20, 0, 600),
        # Unused since images are served by /media (kept so old settings still start).
        "SIGNED_URL_TTL_S": _int(env, "SIGNED_URL_TTL_S", 300, 1, 7 * 24 * 3600),
        "MEDIA_WIDTHS": media_widths,
        "SHARE_LINK_WINDOW_S": _int(env, "SHARE_LINK_WINDOW_S", 3600, 1, 7 * 24 * 3600),
        "MEDIA_FLUSH_INTERVAL_S": _int(env, "MEDIA_FLUSH_INTERVAL_S", 10, 1, 3600),
        "MEDIA_CONFIG_CHECK_S": _seconds(env, "MEDIA_CONFIG_CHECK_S", 1.0),
        # With Redis: each process's copies of the cached bytes it served (0: none).
        "MEDIA_LOCAL_CACHE_BYTES": _int(env, "MEDIA_LOCAL_CACHE_BYTES", 32 * 2**20, 0, 2**30),
        # The most a cached access decision is trusted without a change (a failed bump).
        "MEDIA_ACCESS_CACHE_MAX_AGE_S": _int(env, "MEDIA_ACCESS_CACHE_MAX_AGE_S", 60, 0, 3600),
        # With Redis: how often a process reads the generation itself besides following
        # its bumps (a bound for a subscription that died silently).
        "MEDIA_ACCESS_RECHECK_S": _seconds(env, "MEDIA_ACCESS_RECHECK_S", 1.0),
        "TOKEN_TTL_HOURS": _int(env, "TOKEN_TTL_HOURS", 24 * 30, 1),
        # Argon2 needs 8 KiB per lane; argon2-cffi hashes with 4 lanes.
        "ARGON2_MEMORY_KIB": _int(env, "ARGON2_MEMORY_KIB", 65536, 32, 4 * 1024 * 1024),
        "ARGON2_TIME_COST": _int(env, "ARGON2_TIME_COST", 3, 1, 20),
        "LOGIN_RATE_LIMIT": _rate_limit(env, "LOGIN_RATE_LIMIT", "10 per minute"),
        "LOGIN_USER_RATE_LIMIT": _rate_limit(env, "LOGIN_USER_RATE_LIMIT", "20 per 10 minutes"),
        "SESSION_IDLE_MINUTES": session_idle,
        "SESSION_ABSOLUTE_MINUTES": session_absolute,
        # The signed cookie never outlives the server-side session behind it.
        "PERMANENT_SESSION_LIFETIME": timedelta(minutes=session_absolute),
        # Off in containers whose entrypoint creates the first admin once for all workers.
        "BOOTSTRAP_ADMIN": _bool(env, "BOOTSTRAP_ADMIN", True),
        "ADMIN_USERNAME": env.get("ADMIN_USERNAME") or "admin",
        "ADMIN_PASSWORD": env.get("ADMIN_PASSWORD") or None,
        "ADMIN_EMAIL": env.get("ADMIN_EMAIL") or None,
        "HOST": host,
        "PORT": port,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": production,
        # CSRF is checked by app.auth.csrf after authentication, so a missing login
        # answers 401 before a missing token answers 400 (SPEC section 4).
        "WTF_CSRF_CHECK_DEFAULT": False,
        "WTF_CSRF_TIME_LIMIT": None,
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
    }


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
