"""Languages: English and Spanish through Flask-Babel.

The language of a request is, in order: the signed-in user's saved choice, then the
``language`` cookie (a visitor's choice before signing in), then the browser's
``Accept-Language``, then English. Templates use ``_()``, ``ngettext()`` and
``{% trans %}`` (Flask-Babel installs them in Jinja); Python code uses ``gettext`` /
``ngettext`` from ``flask_babel``, and ``lazy_gettext`` for strings defined at import
time. Catalogues live in ``translations/`` (``make i18n-extract i18n-update
i18n-compile``); the compiled ``.mo`` files are built, never committed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask, Response, g, has_request_context, request
from flask_babel import Babel, format_datetime, format_decimal, format_timedelta, get_locale

LANGUAGES = ("en", "es")
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES = {"en": "English", "es": "Español"}  # each in its own language
COOKIE = "language"

babel = Babel()


def select_language() -> str:
    if not has_request_context():  # CLI and scheduler: English, like the logs
        return DEFAULT_LANGUAGE
    from flask_login import current_user

    g.language_negotiated = True  # the answer now depends on who asks: see vary_language
    try:
        saved = getattr(current_user, "language", None)
    except Exception:  # noqa: BLE001 - a store is down: its error page still needs a language
        saved = None
    if saved in LANGUAGES:
        return saved
    if request.cookies.get(COOKIE) in LANGUAGES:
        return request.cookies[COOKIE]
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE


def vary_language(response: Response) -> Response:
    """A shared cache must not hand a Spanish answer to an English reader: an answer with
    words in it varies by the headers that chose its language. Answers with none (images
    under /media) are left alone, so their caching is untouched."""
    if g.get("language_negotiated"):
        response.vary.update(("Accept-Language", "Cookie"))
    return response


def current_language() -> str:
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT_LANGUAGE


def _aware(value: datetime) -> datetime:
    # The database hands back naive UTC datetimes.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """ "2 minutes ago" / "hace 2 minutos", or "in 3 days" / "dentro de 3 días"."""
    if value is None:
        return ""
    now = _aware(now) if now is not None else datetime.now(UTC)
    return format_timedelta(_aware(value) - now, add_direction=True)


def when(value: datetime | None, format: str = "medium") -> str:
    """A date and time people read, in their language ("30 nov 2026, 20:37")."""
    return format_datetime(_aware(value), format) if value is not None else ""


def filesize(value) -> str:
    """Bytes for people: "1.5 MB" in English, "1,5 MB" in Spanish (1024-based)."""
    size = float(value or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return (f"{size:.0f} {unit}" if unit == "B"
                    else f"{format_decimal(round(size, 1), '0.0')} {unit}")
        size /= 1024
    return f"{format_decimal(round(size, 1), '0.0')} TB"  # pragma: no cover


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_language)
    app.context_processor(lambda: {"current_language": current_language(),
                                   "languages": LANGUAGES,
                                   "language_names": LANGUAGE_NAMES})
    app.after_request(vary_language)
    app.add_template_filter(ago, "ago")
    app.add_template_filter(when, "when")
