"""Domain errors and the one place that turns any error into an answer.

Services raise these; they never build responses. ``register_error_handlers``
answers JSON on the API face, a toast for htmx, and a page for browsers.
"""

from __future__ import annotations

import logging

from flask import current_app, jsonify, render_template, request
from flask_babel import gettext, lazy_gettext
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class DomainError(Exception):
    status = 400
    code = "bad_request"
    outcome = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, headers: dict | None = None,
                 **extra):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.headers = headers or {}  # e.g. Retry-After on a 503
        self.extra = extra

    def body(self) -> dict:
        return {"error": self.message, "code": self.code, **self.extra}


class BadRequest(DomainError):
    pass


class Unauthenticated(DomainError):
    status, code, outcome = 401, "unauthenticated", "denied"


class Forbidden(DomainError):
    status, code, outcome = 403, "forbidden", "denied"


class NotFound(DomainError):
    status, code, outcome = 404, "not_found", "not_found"


class Conflict(DomainError):
    status, code, outcome = 409, "conflict", "conflict"


class InstallationMismatch(Conflict):
    """SQL and the user store are not one installation: destructive work is refused."""

    code = "installation_mismatch"


class PreconditionFailed(DomainError):
    status, code, outcome = 412, "precondition_failed", "precondition_failed"


class TooLarge(DomainError):
    status, code = 413, "too_large"


class UnsupportedMedia(DomainError):
    status, code = 415, "not_an_image"


class TooManyRequests(DomainError):
    status, code, outcome = 429, "rate_limited", "denied"

    def __init__(self, message: str, *, retry_after: int, **extra):
        super().__init__(message, retry_after=retry_after, **extra)
        self.headers = {"Retry-After": str(retry_after)}


class ServiceUnavailable(DomainError):
    status, code, outcome = 503, "unavailable", "error"


class AuditUnavailable(ServiceUnavailable):
    """The audit event of a change could not be written, so the change was not made."""

    code = "audit_unavailable"


class StorageFailed(ServiceUnavailable):
    """The object store failed while deleting; what was asked is left undone, retryable."""

    code = "storage_error"


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


def wants_json() -> bool:
    # /media answers img tags and scripts: a JSON error and a bare 401, never a login page.
    return request.path.startswith(("/api/", "/media/"))


def error_response(status: int, body: dict, headers=None):
    """Answer an error on whichever face asked: JSON, htmx toast, or page."""
    from app import htmx

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


CROSS_SITE = "The request came from another site."  # check_csrf's own CSRFError


def csrf_sentence(error: CSRFError) -> str:
    """Flask-WTF's reasons, said to a person: the page is stale or the form lost its token."""
    if error.description == CROSS_SITE:
        return gettext("This request came from another site, so it was refused. Use "
                       "Papelera's own pages.")
    if "expired" in (error.description or ""):
        return gettext("This page was open too long and its form expired. Reload the page "
                       "and try again.")
    return gettext("The form's security check failed. Reload the page and try again.")


def register_error_handlers(app):
    @app.errorhandler(DomainError)
    def _domain(error: DomainError):
        if error.status == 401:
            from app.auth.login import unauthenticated_response

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
            from app.auth.login import unauthenticated_response

            return unauthenticated_response()
        message = plain_sentence(error)
        if status == 413:
            message = gettext("The upload is larger than the %(limit)s MB limit.",
                              limit=current_app.config["MAX_UPLOAD_MB"])
        if status == 429:
            message = gettext("Too many failed attempts. Try again later.")
        headers = dict(error.get_response().headers) if status in (405, 429) else {}
        headers.pop("Content-Type", None)
        headers.pop("Content-Length", None)
        return error_response(status, {"error": message, "code": _HTTP_CODES.get(status, "error")},
                              headers)

    from pymongo.errors import ConnectionFailure
    from sqlalchemy.exc import OperationalError

    from app.storage.base import StorageError

    def _unavailable(what: str, sentence: str, error: Exception):
        log.error("%s unavailable: %s", what, error)
        from app.extensions import db

        db.session.rollback()
        return error_response(503, {"error": sentence, "code": "unavailable"},
                              {"Retry-After": "5"})

    @app.errorhandler(ConnectionFailure)
    def _mongo_down(error):
        return _unavailable("user store", gettext(
            "The user store is unreachable right now. Try again in a moment."), error)

    @app.errorhandler(OperationalError)
    def _sql_down(error):
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
