"""Security headers on every answer."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def content_security_policy(config) -> str:
    """``default-src 'self'``, plus the object store's origin for images when it is S3."""
    img = ["'self'", "data:", "blob:"]
    origin = _origin(config.get("STORAGE_PUBLIC_URL"))
    if origin is None and config["STORAGE_URL"].startswith("s3://"):
        from app.config import s3_options

        origin = _origin(s3_options(config["STORAGE_URL"])["endpoint_url"]) or "https:"
    if origin:
        img.append(origin)
    return ("default-src 'self'; img-src " + " ".join(img) + "; object-src 'none'; "
            "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


def add_security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", current_app.config["CSP"])
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    return response
