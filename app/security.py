"""Security headers on every answer."""

from __future__ import annotations

from flask import current_app


def content_security_policy(config) -> str:
    """``default-src 'self'``: images come from the app's own /media routes, whatever the
    storage, so no object-store origin is allowed."""
    return ("default-src 'self'; img-src 'self' data: blob:; object-src 'none'; "
            "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


def add_security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", current_app.config["CSP"])
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    return response
