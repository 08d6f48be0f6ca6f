"""Domain errors: services raise these and never build responses.

``app.web.errors`` turns them (and every other error) into an answer: JSON on the API
face, a toast for htmx, a page for browsers.
"""

from __future__ import annotations

from flask import request
from flask_babel import gettext
from flask_wtf.csrf import CSRFError


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


class RangeNotSatisfiable(DomainError):
    """A single byte range that starts past the end; ``headers`` carry
    ``Content-Range: bytes */<length>`` (RFC 9110 section 15.5.17)."""

    status, code, outcome = 416, "range_not_satisfiable", "bad_request"


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


def wants_json() -> bool:
    # /media answers img tags and scripts: a JSON error and a bare 401, never a login page.
    return request.path.startswith(("/api/", "/media/"))


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
