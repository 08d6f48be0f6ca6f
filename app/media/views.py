"""``/media/<id>``, ``/media/<id>/thumb`` and variants: every image reaches browsers here.

Order per request: protection (``app.media.guard``: blocks, hotlinks, auto-block 403;
per-IP limits 429) → parse the options (400) → who may see it (401/403/404) →
``If-None-Match`` (304, nothing read) → the server cache → the storage, streamed.
"""

from __future__ import annotations

import io
import mimetypes
from urllib.parse import quote

from flask import Blueprint, current_app, request
from flask_login import current_user
from werkzeug.wrappers import Response
from werkzeug.wsgi import FileWrapper

from app.core.db import utcnow
from app.media.cache import get_cache
from app.media.config import media_config
from app.media.guard import add_rate_limit_headers, media_limits
from app.media.metrics import record_access
from app.media.service import (
    Access,
    MediaRequest,
    Variant,
    authorize,
    ensure_variant,
    etag_for,
    parse_media_request,
    read_object,
)
from app.media.share_views import share_page
from app.storage import get_storage

bp = Blueprint("media", __name__)
bp.after_request(add_rate_limit_headers)

CHUNK = 64 * 1024
# The body is an image, never a document: no scripts, no plugins, no framing by others.
MEDIA_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


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
    asked: MediaRequest = parse_media_request(
        request.args, thumb=thumb, widths=current_app.config["MEDIA_WIDTHS"])
    now = utcnow()
    access = authorize(image_id, actor=current_user, link=asked.link,
                       secret=current_app.config["SECRET_KEY"], now=now)
    image = access.image
    variant = asked.variant.fitted(image)
    config = media_config()
    etag = etag_for(image, variant)
    headers = {"ETag": f'"{etag}"',
               "Cache-Control": _cache_control(access, config.browser_max_age_s, now)}

    if request.if_none_match.contains_weak(etag):
        _track(config, image, 304, 0, None, asked.download)
        return Response(status=304, headers=headers)

    body, length, x_cache = _body(image, variant, config, now)
    response = Response(FileWrapper(body, CHUNK), mimetype=variant.content_type(image),
                        direct_passthrough=True, headers=headers)
    response.content_length = length
    response.headers["X-Cache"] = x_cache
    response.headers["Content-Disposition"] = _disposition(image.file_name, variant,
                                                           image.content_type,
                                                           asked.download)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = MEDIA_CSP
    # Range (206/416) and If-Range are Werkzeug's; If-None-Match was answered above.
    response = response.make_conditional(request, accept_ranges=True, complete_length=length)
    sent = 0 if request.method == "HEAD" else (response.content_length or 0)
    _track(config, image, response.status_code, sent, x_cache, asked.download)
    return response


def _track(config, image, status: int, nbytes: int, x_cache, download: bool) -> None:
    if config.tracking_enabled:
        record_access(image.id, status=status, nbytes=nbytes, x_cache=x_cache,
                      download=download, ip=request.remote_addr,
                      user_agent=request.headers.get("User-Agent"), tracking=True)


def _cache_control(access: Access, max_age: int, now) -> str:
    if access.link is None:
        return f"private, max-age={max_age}"
    left = max(0, access.link.exp - int(now.timestamp()))
    return f"public, max-age={min(max_age, left)}"


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
        stored = ensure_variant(image, variant, storage, now=now)
        key, length, data = stored.key, stored.bytes, stored.data
    if cacheable and length <= config.cache_max_bytes:
        if data is None:
            data = read_object(storage, key)
        cache.put(str(image.id), variant.name, data, config.cache_ttl_s)
        return io.BytesIO(data), len(data), "MISS"
    if data is not None:
        return io.BytesIO(data), len(data), "BYPASS"
    return _LazyObject(storage, key), length, "BYPASS"


def _disposition(file_name: str, variant: Variant, content_type: str, download: bool) -> str:
    """``inline`` or ``attachment``, with an ASCII fallback and the RFC 5987 name.

    An original keeps its uploaded name, with the extension of what it is added when the
    name says otherwise (``poly.html`` holding a PNG is saved as ``poly.html.png``)."""
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
