"""Security headers on every answer."""

from __future__ import annotations

from flask import current_app, request


def content_security_policy(config) -> str:
    """``default-src 'self'``: images come from the app's own /media routes, whatever the
    storage, so no object-store origin is allowed."""
    return ("default-src 'self'; img-src 'self' data: blob:; object-src 'none'; "
            "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


SECURITY_HEADERS = (("X-Content-Type-Options", "nosniff"),
                    ("Referrer-Policy", "same-origin"),
                    ("X-Frame-Options", "DENY"))


def add_security_headers(response):
    """Each one unless the route set its own (one pass over the answer's headers: four
    ``setdefault`` calls scanned them eight times, on every answer)."""
    headers = response.headers
    present = {name.lower() for name, _value in headers}
    headers.extend((name, value) for name, value in (
        ("Content-Security-Policy", current_app.config["CSP"]), *SECURITY_HEADERS)
        if name.lower() not in present)
    return add_cache_policy(response)


def add_cache_policy(response):
    """``Cache-Control: no-store`` on every page and every API answer, tokens included.

    Pages show one person's library and the API answers bearer tokens and private data:
    no browser disk cache or shared cache may keep them (the back button after sign-out,
    RFC 6749 5.1 for tokens). A route that sets its own ``Cache-Control`` keeps it: that
    is how the media routes (SPEC section 8) choose their caching.

    Every ``/media`` refusal (4xx, 5xx) is ``no-store``, whatever set it: a shared cache
    with a default lifetime for errors would otherwise replay one caller's 404 to the
    image's owner.
    """
    if response.status_code >= 400 and request.path.startswith("/media/"):
        response.headers["Cache-Control"] = "no-store"
        return response
    if "Cache-Control" in response.headers:
        return response
    if response.mimetype == "text/html" or request.path.startswith("/api/"):
        response.headers["Cache-Control"] = "no-store"
    return response
