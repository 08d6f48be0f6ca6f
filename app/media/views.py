"""``/media/<id>``, ``/media/<id>/thumb`` and variants: every image reaches browsers here.

Order per request: protection (``app.media.guard``: blocks, hotlinks, auto-block 403;
per-IP limits 429) → parse the options (400) → who may see it (401/403/404) →
``If-Match`` (412) → ``If-None-Match`` (304, nothing read) → the server cache → the
storage, streamed, whole or one byte range (206; 416 past the end).
"""

from __future__ import annotations

import functools
import io
import mimetypes
import re
from urllib.parse import quote

from flask import Blueprint, current_app, g, request
from flask.globals import request_ctx
from flask_babel import gettext
from flask_login import current_user
from werkzeug.wrappers import Response
from werkzeug.wsgi import FileWrapper

from app.core.db import utcnow
from app.core.errors import RangeNotSatisfiable
from app.images.processing import decode_slots_for
from app.media.cache import evict_images, get_cache
from app.media.config import media_config
from app.media.guard import add_rate_limit_headers, media_limits
from app.media.metrics import record_access
from app.media.service import (
    Access,
    MediaRequest,
    Variant,
    authorize,
    check_link_variant,
    ensure_variant,
    etag_for,
    parse_media_request,
    read_object,
)
from app.media.share_views import share_page
from app.storage import get_storage

bp = Blueprint("media", __name__)

CHUNK = 64 * 1024
# The body is an image, never a document: no scripts, no plugins, no framing by others.
MEDIA_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


_LINK_ARGS = frozenset({"exp", "sig", "sid"})  # any of them: the request carries a link


@bp.url_value_preprocessor
def _link_alone(_endpoint, _values):
    """A request carrying a share link is decided by the link alone: its sender is
    anonymous here, so neither the session cookie nor a token is read, the answer does not
    vary by ``Cookie``, no cookie is set, and the same URL answers everyone the same."""
    if not _LINK_ARGS.isdisjoint(request.args):
        app = current_app._get_current_object()  # one context lookup for the three uses
        g._login_user = app.login_manager.anonymous_user()  # Flask-Login's slot
        # Flask's "no session" stand-in: nothing reads it (Flask-Login's remember-cookie
        # hook would, adding Vary: Cookie) and Flask neither refreshes nor sets a cookie.
        request_ctx._session = app.session_interface.make_null_session(app)


@bp.after_request
def _rate_limit_headers(response):
    """``RateLimit-*`` only on answers no cache keeps: a shared cache would replay the
    first requester's budget to everyone after it."""
    cache_control = response.headers.get("Cache-Control", "")
    if response.status_code < 400 and "no-store" not in cache_control:
        return response
    return add_rate_limit_headers(response)


@bp.get("/media/<image_id>")
@media_limits
def original(image_id):
    page = share_page(image_id)  # a browser opening a share link: a page (app.media.share_views)
    return page if page is not None else _serve(image_id, thumb=False)


@bp.get("/media/<image_id>/thumb")
@media_limits
def thumbnail(image_id):
    return _serve(image_id, thumb=True)


class _LazyObject(io.RawIOBase):
    """A storage object opened on first read, from wherever it was seeked to.

    Werkzeug's range support seeks before reading, so a ``Range`` request becomes a
    ranged read from storage (S3: a ranged GET) instead of reading and dropping a
    prefix; a HEAD request never opens the object at all.
    """

    def __init__(self, storage, key: str):
        self.storage, self.key = storage, key
        self._offset = 0
        self._stream = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._stream is None

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if self._stream is not None or whence != io.SEEK_SET:
            raise io.UnsupportedOperation("seek after reading")
        self._offset = offset
        return offset

    def tell(self) -> int:
        return self._offset

    def readinto(self, buffer) -> int:
        if self._stream is None:
            self._stream = self.storage.open(self.key, self._offset)
        data = self._stream.read(len(buffer))
        buffer[:len(data)] = data
        self._offset += len(data)
        return len(data)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        super().close()


def _serve(image_id, *, thumb: bool):
    # One context lookup each: every image request comes here.
    req, app = request._get_current_object(), current_app._get_current_object()
    asked: MediaRequest = parse_media_request(
        req.args, thumb=thumb, widths=app.config["MEDIA_WIDTHS"])
    now = utcnow()
    # A share link is decided by the link alone (``_link_alone`` made the caller anonymous).
    access = authorize(image_id, actor=None if asked.link else current_user._get_current_object(),
                       link=asked.link, secret=app.config["SECRET_KEY"], now=now)
    image = access.image
    variant = asked.variant.fitted(image)
    if access.link is not None:
        check_link_variant(image, asked.variant, variant)
    config = media_config()
    etag = etag_for(image, variant)
    # Every answer for this image and variant (200, 206, 304) carries the same set.
    headers = {"ETag": f'"{etag}"',
               "Cache-Control": cache_control(access, config, now),
               "Accept-Ranges": "bytes",
               "Content-Disposition": _disposition(image.file_name, variant,
                                                   image.content_type, asked.download),
               "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": MEDIA_CSP}

    # RFC 9110 section 13.2.2: If-Match, then If-None-Match, then Range (with If-Range).
    if "If-Match" in req.headers and not req.if_match.contains(etag):
        return Response(status=412, headers={"ETag": headers["ETag"]})
    if req.if_none_match.contains_weak(etag):
        _track(config, image, 304, 0, None, asked.download)
        return Response(status=304, headers=headers)

    body, length, x_cache = _body(image, variant, config, now)
    wanted = _wanted_range(length, etag)
    if wanted is None:
        response = Response(FileWrapper(body, CHUNK), mimetype=variant.content_type(image),
                            direct_passthrough=True, headers=headers)
        response.content_length = length
    else:
        start, stop = wanted
        response = Response(_slice(body, start, stop), status=206,
                            mimetype=variant.content_type(image), direct_passthrough=True,
                            headers=headers)
        response.content_length = stop - start
        response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{length}"
    response.headers["X-Cache"] = x_cache
    sent = 0 if req.method == "HEAD" else (response.content_length or 0)
    _track(config, image, response.status_code, sent, x_cache, asked.download)
    return response


_BYTE_RANGE = re.compile(r"([0-9]*)-([0-9]*)")


def _wanted_range(length: int, etag: str) -> tuple[int, int] | None:
    """The one byte range to answer with 206, as ``(start, stop)``; None for the whole
    representation (RFC 9110 section 14): no ``Range``, a HEAD, another unit, a range
    set that does not parse, several ranges, or an ``If-Range`` that does not match
    strongly (a weak tag or a date never does: there is no ``Last-Modified``). A single
    range starting past the end is 416 with ``Content-Range: bytes */<length>``."""
    header = request.headers.get("Range")
    if header is None or request.method != "GET":
        return None
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range.strip() != f'"{etag}"':
        return None
    unit, _, ranges = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    specs = [spec.strip() for spec in ranges.split(",") if spec.strip()]
    match = _BYTE_RANGE.fullmatch(specs[0]) if len(specs) == 1 else None
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":
        start, stop = max(0, length - int(last)), length
        if int(last) == 0 or length == 0:
            raise _unsatisfiable(length)
        return start, stop
    start = int(first)
    if last != "" and int(last) < start:
        return None  # last before first: not a valid range, so ignored
    if start >= length:
        raise _unsatisfiable(length)
    return start, length if last == "" else min(int(last) + 1, length)


def _unsatisfiable(length: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(gettext("The requested range starts past the end of the "
                                       "image (%(length)d bytes).", length=length),
                               headers={"Content-Range": f"bytes */{length}"})


def _slice(body, start: int, stop: int):
    """``stop - start`` bytes of ``body`` from ``start``, in chunks (a streamed original
    is opened at ``start``: on S3 a ranged GET)."""
    try:
        body.seek(start)
        left = stop - start
        while left > 0:
            data = body.read(min(CHUNK, left))
            if not data:
                break
            left -= len(data)
            yield data
    finally:
        body.close()


def _track(config, image, status: int, nbytes: int, x_cache, download: bool) -> None:
    if config.tracking_enabled:
        req = request._get_current_object()
        record_access(image.id, status=status, nbytes=nbytes, x_cache=x_cache,
                      download=download, ip=req.remote_addr,
                      user_agent=req.headers.get("User-Agent"), tracking=True)


def cache_control(access: Access, config, now) -> str:
    """``private, max-age`` for the owner and admins; a share link's answer is ``public``,
    for browsers until the link ends at most, and for shared caches (CDNs, proxies)
    ``share_shared_max_age_s`` at most, so a deleted photo leaves them within that time
    (0: ``no-cache``, every reuse revalidated with the ETag)."""
    if access.link is None:
        return f"private, max-age={config.browser_max_age_s}"
    left = max(0, access.link.exp - int(now.timestamp()))
    shared = min(config.share_shared_max_age_s, left)
    if shared == 0:
        return "public, no-cache"
    return f"public, max-age={min(config.browser_max_age_s, left)}, s-maxage={shared}"


def _body(image, variant: Variant, config, now):
    """(a readable body, its length, the X-Cache value)."""
    cache = get_cache()
    cacheable = config.cache_enabled and request.method != "HEAD"
    if cacheable:
        data = cache.get(str(image.id), variant.name)
        if data is not None:
            return io.BytesIO(data), len(data), "HIT"
    storage = get_storage()
    if variant.kind == "original":
        key, length, data = image.storage_key, image.size_bytes, None
    elif variant.kind == "thumb":
        key, length, data = image.thumbnail_key, image.thumbnail_bytes, None
    else:
        stored = ensure_variant(image, variant, storage, now=now,
                                decode_slots=decode_slots_for(current_app),
                                max_variants=current_app.config["MEDIA_MAX_VARIANTS_PER_IMAGE"])
        if stored.evicted:
            evict_images([image.id])  # what was cached of the deleted variants goes too
        key, length, data = stored.key, stored.bytes, stored.data
    if cacheable and length <= config.cache_max_bytes:
        if data is None:
            data = read_object(storage, key)
        cache.put(str(image.id), variant.name, data, config.cache_ttl_s)
        return io.BytesIO(data), len(data), "MISS"
    if data is not None:
        return io.BytesIO(data), len(data), "BYPASS"
    return _LazyObject(storage, key), length, "BYPASS"


@functools.lru_cache(maxsize=4096)
def _disposition(file_name: str, variant: Variant, content_type: str, download: bool) -> str:
    """``inline`` or ``attachment``, with an ASCII fallback and the RFC 5987 name.

    An original keeps its uploaded name, with the extension of what it is added when the
    name says otherwise (``poly.html`` holding a PNG is saved as ``poly.html.png``).
    Kept per process by its arguments (a renamed photo is another key): the same image
    asked again writes the same header."""
    name = file_name
    if variant.kind == "original":
        extensions = mimetypes.guess_all_extensions(content_type)
        if extensions and not name.lower().endswith(tuple(extensions)):
            name = f"{name}{mimetypes.guess_extension(content_type) or extensions[0]}"
    if variant.kind == "render":
        stem = name.rsplit(".", 1)[0] if "." in name else name
        name = f"{stem}-{variant.width}.{variant.fmt}"
    elif variant.kind == "thumb":
        stem = name.rsplit(".", 1)[0] if "." in name else name
        name = f"{stem}-thumb.webp"
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    kind = "attachment" if download else "inline"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
