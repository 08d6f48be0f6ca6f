"""Languages: English and Spanish through Flask-Babel.

The language of a request is, in order: the signed-in user's saved choice, then the
browser's ``Accept-Language``, then English. Templates use ``_()``, ``ngettext()`` and
``{% trans %}`` (Flask-Babel installs them in Jinja); Python code uses ``gettext`` /
``lazy_gettext`` from ``flask_babel``. Catalogues live in ``translations/``.
"""

from __future__ import annotations

from flask import Flask, request
from flask_babel import Babel, get_locale

LANGUAGES = ("en", "es")
DEFAULT_LANGUAGE = "en"

babel = Babel()


def select_language() -> str:
    from flask_login import current_user

    saved = getattr(current_user, "language", None) if current_user else None
    if saved in LANGUAGES:
        return saved
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE


def current_language() -> str:
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT_LANGUAGE


def init_app(app: Flask, translations_dir: str) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", translations_dir)
    babel.init_app(app, locale_selector=select_language)
    app.context_processor(lambda: {"current_language": current_language(),
                                   "languages": LANGUAGES})
