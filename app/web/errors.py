"""The one place that turns any error into an answer: JSON on the API face, a toast for
htmx, a page for browsers (the domain errors themselves live in ``app.core.errors``)."""

from __future__ import annotations

import logging

from flask import current_app, jsonify, render_template
from flask_babel import gettext, lazy_gettext
from flask_wtf.csrf import CSRFError
from pymongo.errors import ConnectionFailure
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from app.auth.login import unauthenticated_response
from app.core import htmx
from app.core.errors import DomainError, csrf_sentence, wants_json
from app.core.extensions import db
from app.storage.base import StorageError

log = logging.getLogger(__name__)


def is_lock_timeout(error: OperationalError) -> bool:
    """SQLite's "database is locked" (or PostgreSQL's lock timeout), not a lost server."""
    text = str(getattr(error, "orig", error)).lower()
    return "database is locked" in text or "lock timeout" in text

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "too_large",
    415: "not_an_image",
    416: "range_not_satisfiable",
    429: "rate_limited",
}

# Werkzeug's default sentences ("If you entered the URL manually please check your
# spelling…") replaced by the product's own; a description a view chose is kept.
_PLAIN_SENTENCES = {
    400: lazy_gettext("The request could not be understood. Go back and try again."),
    403: lazy_gettext("You do not have access to this page."),
    404: lazy_gettext("There is nothing at this address. The photo or page may have been "
                      "deleted, or the link is mistyped."),
    405: lazy_gettext("This address does not take that kind of request."),
    500: lazy_gettext("Something went wrong on our side. It was logged."),
}


def plain_sentence(error: HTTPException) -> str:
    default = type(error).description
    if error.description and error.description != default:
        return error.description
    return str(_PLAIN_SENTENCES.get(error.code or 500, error.description or error.name))


def error_response(status: int, body: dict, headers=None):
    """Answer an error on whichever face asked: JSON, htmx toast, or page."""
    if wants_json():
        response = jsonify(body)
    elif htmx.is_htmx() and not htmx.wants_full_page():
        response = current_app.make_response(
            render_template("_toast.html", message=body["error"], level="error", oob=False)
        )
        response.headers.update(htmx.to_toasts_headers())
    else:
        response = current_app.make_response(
            render_template("error.html", status=status, message=body["error"],
                            retry_after=body.get("retry_after"))
        )
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def init_app(app) -> None:
    @app.errorhandler(DomainError)
    def _domain(error: DomainError):
        if error.status == 401:
            return unauthenticated_response(error.message, error.code)
        headers = dict(error.headers)
        if error.status == 503:
            headers.setdefault("Retry-After", "5")
        return error_response(error.status, error.body(), headers)

    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError):
        return error_response(400, {"error": csrf_sentence(error), "code": "csrf_failed"})

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        if error.response is not None:  # it brought its answer (the /media limits' 429)
            return error.response
        status = error.code or 500
        if status == 401:
            return unauthenticated_response()
        message = plain_sentence(error)
        if status == 413:
            message = gettext("The upload is larger than the %(limit)s MB limit.",
                              limit=current_app.config["MAX_UPLOAD_MB"])
        if status == 429:
            message = gettext("Too many failed attempts. Try again later.")
        headers = dict(error.get_response().headers) if status in (405, 416, 429) else {}
        headers.pop("Content-Type", None)
        headers.pop("Content-Length", None)
        return error_response(status, {"error": message, "code": _HTTP_CODES.get(status, "error")},
                              headers)

    def _unavailable(what: str, sentence: str, error: Exception, code: str = "unavailable"):
        log.error("%s %s: %s", what, "busy" if code == "busy" else "unavailable", error)
        db.session.rollback()
        return error_response(503, {"error": sentence, "code": code}, {"Retry-After": "5"})

    @app.errorhandler(ConnectionFailure)
    def _mongo_down(error):
        return _unavailable("user store", gettext(
            "The user store is unreachable right now. Try again in a moment."), error)

    @app.errorhandler(OperationalError)
    def _sql_down(error):
        if is_lock_timeout(error):  # reachable, but another writer held the lock too long
            return _unavailable("database", gettext(
                "The database is busy right now. Try again in a moment."), error, "busy")
        return _unavailable("database", gettext(
            "The database is unreachable right now. Try again in a moment."), error)

    @app.errorhandler(StorageError)
    def _storage_down(error):
        return _unavailable("object store", gettext(
            "The object store is unreachable right now. Try again in a moment."), error)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unhandled error", exc_info=error)
        return error_response(500, {"error": gettext("Something went wrong on our side. "
                                                     "It was logged."),
                                    "code": "internal_error"})
