"""Media rules: who may fetch an image, share links, variants. No request in here.

Access (SPEC section 8): the owner and admins always (trashed images too); anyone else
only with a valid share link to an image that is not in the trash. Another signed-in
user without a link gets 404, an anonymous caller 401, a bad or expired link 403. An
image being purged, or gone, is 404 for everyone.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import io
import logging
import math
import re
import secrets
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask_babel import gettext
from PIL import Image as PILImage
from PIL import ImageOps, features
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from app.core import access_cache
from app.core.db import end_read
from app.core.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthenticated
from app.core.events import ShareLinksRevoked
from app.core.extensions import db
from app.core.uow import emit, unit_of_work
from app.images import counters as owner_counters
from app.images.models import Image, ImageVariant, image_id_or_none, with_trashed
from app.images.processing import THUMBNAIL_TYPE
from app.media.metrics import record_event
from app.media.models import ShareLinkRecord
from app.media.owners import owner_is_active

FORMATS = {"webp": ("WEBP", "image/webp"), "jpeg": ("JPEG", "image/jpeg"),
           "png": ("PNG", "image/png"), "avif": ("AVIF", "image/avif")}
DEFAULT_FORMAT = "webp"
QUALITY_RANGE = (30, 95)  # what ``q`` may say; it is snapped to one of the steps
# A few steps, so no one can make an image render and store dozens of near-copies.
QUALITY_STEPS = (40, 60, 75, 85, 95)
DEFAULT_QUALITY = 75
# Formats without a quality: ``q`` is ignored and one copy per width is stored (as 100).
LOSSLESS_FORMATS = frozenset({"png"})
LOSSLESS_QUALITY = 100
# A whole number as /media takes it: ASCII digits, no sign, no leading zero ("0320" and
# "٣٢٠" are not 320: one URL per variant, and int() never sees what it cannot read).
_WHOLE_NUMBER = re.compile(r"[1-9][0-9]{0,9}")
SHARE_TTL_RANGE = (60, 30 * 24 * 3600)
DEFAULT_SHARE_TTL_S = 24 * 3600
_SHARE_SALT = b"papelera.media-share"
# The routes that serve image bytes (the gate and the access cache apply to these).
MEDIA_ENDPOINTS = frozenset({"media.original", "media.thumbnail"})


def formats_available() -> tuple[str, ...]:
    """The ``fmt`` values this Pillow can encode (AVIF needs libavif)."""
    return tuple(f for f in FORMATS if f != "avif" or features.check("avif"))


# -- what is asked for -----------------------------------------------------------------

@dataclass(frozen=True)
class Variant:
    """``original``, ``thumb``, or a rendering (``width`` × ``fmt`` at ``quality``)."""

    kind: str
    width: int | None = None
    fmt: str | None = None
    quality: int | None = None

    def fitted(self, image: Image) -> Variant:
        """Never upscaled: a width past the original's is the original's width."""
        if self.kind != "render":
            return self
        return Variant("render", min(self.width or image.width, image.width), self.fmt,
                       self.quality)

    @property
    def name(self) -> str:
        if self.kind != "render":
            return self.kind
        if self.fmt in LOSSLESS_FORMATS:
            return f"w{self.width}.{self.fmt}"
        return f"w{self.width}-q{self.quality}.{self.fmt}"

    def content_type(self, image: Image) -> str:
        if self.kind == "original":
            return image.content_type
        if self.kind == "thumb":
            return THUMBNAIL_TYPE
        return FORMATS[self.fmt][1]


ORIGINAL, THUMB = Variant("original"), Variant("thumb")


@dataclass(frozen=True)
class ShareLink:
    """What a share URL carries: its expiry, its row's id (``sid``) and the signature."""

    exp: int
    sig: str
    share_id: str | None = None  # None: a link of the old, stateless form (refused)


@dataclass(frozen=True)
class MediaRequest:
    variant: Variant
    download: bool
    link: ShareLink | None


def _one(args, name: str) -> str:
    values = args.getlist(name)
    if len(values) > 1:
        raise BadRequest(gettext("%(name)s was given more than once.", name=name),
                         code="invalid_option",
                         option=name)
    return values[0]


def whole_number(value: str) -> int | None:
    """``value`` as /media reads a number (see ``_WHOLE_NUMBER``), or None."""
    return int(value) if _WHOLE_NUMBER.fullmatch(value) else None


def canonical_quality(fmt: str, quality: int) -> int:
    """The nearest step (a tie goes to the smaller file); lossless formats have none."""
    if fmt in LOSSLESS_FORMATS:
        return LOSSLESS_QUALITY
    return min(QUALITY_STEPS, key=lambda step: (abs(step - quality), step))


def parse_media_request(args, *, thumb: bool, widths: tuple[int, ...]) -> MediaRequest:
    """Read ``w``, ``fmt``, ``q``, ``download``, ``exp`` and ``sig``; 400 naming the bad one."""
    allowed = {"download", "exp", "sid", "sig"} | (set() if thumb else {"w", "fmt", "q"})
    for name in args:
        if name not in allowed:
            raise BadRequest(gettext("Unknown option %(name)s.", name=repr(name)),
                             code="invalid_option", option=name)
    values = {name: _one(args, name) for name in args}

    download = values.get("download", "0")
    if download not in ("0", "1", "true", "false"):
        raise BadRequest(gettext("download must be 1 or 0."), code="invalid_option",
                         option="download")

    variant = THUMB if thumb else ORIGINAL
    if {"w", "fmt", "q"} & values.keys():
        width = None
        if "w" in values:
            width = whole_number(values["w"])
            if width not in widths:
                raise BadRequest(gettext("w must be one of %(values)s.",
                                         values=", ".join(map(str, widths))),
                                 code="invalid_option", option="w")
        fmt = values.get("fmt", DEFAULT_FORMAT)
        if fmt not in formats_available():
            raise BadRequest(gettext("fmt must be one of %(values)s.",
                                     values=", ".join(formats_available())),
                             code="invalid_option", option="fmt")
        quality = whole_number(values.get("q", str(DEFAULT_QUALITY)))
        low, high = QUALITY_RANGE
        if quality is None or not low <= quality <= high:
            raise BadRequest(gettext("q must be a whole number from %(low)d to %(high)d.",
                                     low=low, high=high),
                             code="invalid_option", option="q")
        variant = Variant("render", width, fmt, canonical_quality(fmt, quality))

    link = None
    if "exp" in values or "sig" in values or "sid" in values:
        if not values.get("exp", "").isascii():
            raise BadRequest(gettext("exp must be a whole number of seconds."),
                             code="invalid_option", option="exp")
        if whole_number(values.get("exp", "")) is None or not values.get("sig"):
            raise Forbidden(gettext("This share link is not valid."), code="invalid_share_link")
        link = ShareLink(int(values["exp"]), values["sig"], values.get("sid"))
    return MediaRequest(variant, download in ("1", "true"), link)


# -- share links -----------------------------------------------------------------------

def share_signature(secret: str, image_id, exp: int, share_id: str | None = None) -> str:
    """HMAC of the image, the expiry and the link's row: the same link serves every
    variant, and no link can be made up for a row that does not exist."""
    message = f"{uuid.UUID(str(image_id))}:{exp}".encode()
    if share_id is not None:
        message += f":{share_id}".encode()
    digest = hmac.new(_SHARE_SALT + secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def share_expiry(now: datetime, ttl_s: int, window_s: int) -> int:
    """Rounded up to the window, so a link asked for twice within it is the same link."""
    return math.ceil((now.timestamp() + ttl_s) / window_s) * window_s


def parse_share_ttl(body: dict) -> int:
    ttl_s = body.get("ttl_s", DEFAULT_SHARE_TTL_S)
    low, high = SHARE_TTL_RANGE
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, int) or not low <= ttl_s <= high:
        raise BadRequest(gettext("ttl_s must be a whole number of seconds from %(low)d to "
                                 "%(high)d.", low=low, high=high),
                         code="invalid_option", option="ttl_s")
    unknown = set(body) - {"ttl_s"}
    if unknown:
        raise BadRequest(gettext("Unknown field %(name)s.", name=repr(sorted(unknown)[0])),
                         code="invalid_option",
                         option=sorted(unknown)[0])
    return ttl_s


def create_share_link(image: Image, *, ttl_s: int, now: datetime, window_s: int,
                      created_by: str) -> ShareLinkRecord:
    """The live link to ``image`` that ends at ``share_expiry(now, ttl_s, window_s)``: the
    one already made for that image and expiry (so asking twice within the window gives
    the same URL), or a new row. Read and written under the write lock (SQLite), so two
    requests racing make one row; elsewhere a race makes two valid links, no harm."""
    if image.is_deleted:
        raise Conflict(gettext("Restore this photo from the trash before sharing it."),
                       code="in_trash")
    expires_at = datetime.fromtimestamp(share_expiry(now, ttl_s, window_s), UTC)
    with unit_of_work():
        record = db.session.execute(
            select(ShareLinkRecord).where(ShareLinkRecord.image_id == image.id,
                                          ShareLinkRecord.expires_at == expires_at,
                                          ShareLinkRecord.revoked_at.is_(None))
            .order_by(ShareLinkRecord.created_at).limit(1)
        ).scalar_one_or_none()
        if record is None:
            record = ShareLinkRecord(id=secrets.token_urlsafe(12), image_id=image.id,
                                     created_by=created_by, created_at=now,
                                     expires_at=expires_at)
            db.session.add(record)
    return record


def share_query(record: ShareLinkRecord, *, secret: str) -> dict:
    """The query string of ``record``'s URL: ``exp``, ``sid``, ``sig`` (in that order)."""
    exp = int(record.expires_at.timestamp())
    return {"exp": exp, "sid": record.id,
            "sig": share_signature(secret, record.image_id, exp, record.id)}


def _link_is_valid(link: ShareLink, image_id, *, secret: str, now: datetime) -> bool:
    """Signed by this server, for this image, not expired, and of the managed form.

    Links of the old, stateless form (no ``sid``) are refused: no row lists them, so
    their owner could neither see nor revoke them, and the viewer only ever made them
    for about a day. A refused link answers 403 like any invalid one."""
    if link.share_id is None:
        return False
    try:
        expected = share_signature(secret, image_id, link.exp, link.share_id)
    except ValueError:  # not an image id at all
        return False
    return hmac.compare_digest(expected, link.sig) and link.exp > now.timestamp()


@dataclass(frozen=True)
class ShareState:
    """What /media needs of a link's row (kept per process by ``app.core.access_cache``
    until the next access change: a revocation moves the generation)."""

    image_id: uuid.UUID
    revoked: bool


def share_is_live(link: ShareLink, image_id) -> bool:
    """The signed link's row exists, names this image and is not revoked."""
    state = access_cache.remember(("share", link.share_id),
                                  lambda: _read_share_state(link.share_id))
    return state is not None and not state.revoked and str(state.image_id) == str(image_id)


def _read_share_state(share_id: str) -> ShareState | None:
    table = ShareLinkRecord.__table__
    with db.engine.connect() as connection:
        row = connection.execute(
            select(table.c.image_id, table.c.revoked_at).where(table.c.id == share_id)
        ).first()
    return None if row is None else ShareState(row.image_id, row.revoked_at is not None)


def live_share_links(image_id, *, now: datetime, limit: int,
                     after: tuple[datetime, str] | None = None) -> list[ShareLinkRecord]:
    """The image's links that still work, soonest to end first; up to ``limit`` + 1 rows
    (the extra one says there is more), after the ``(expires_at, id)`` keyset ``after``."""
    statement = (select(ShareLinkRecord)
                 .where(ShareLinkRecord.image_id == image_id,
                        ShareLinkRecord.revoked_at.is_(None),
                        ShareLinkRecord.expires_at > now)
                 .order_by(ShareLinkRecord.expires_at, ShareLinkRecord.id).limit(limit + 1))
    if after is not None:
        expires_at, share_id = after
        statement = statement.where(
            (ShareLinkRecord.expires_at > expires_at)
            | ((ShareLinkRecord.expires_at == expires_at) & (ShareLinkRecord.id > share_id)))
    rows = list(db.session.execute(statement).scalars())
    end_read()
    return rows


def find_share_link(image_id, share_id: str) -> ShareLinkRecord:
    """The image's link ``share_id``, live, expired or revoked; 404 otherwise."""
    record = db.session.get(ShareLinkRecord, share_id) if len(share_id) <= 32 else None
    if record is None or str(record.image_id) != str(image_id):
        raise NotFound(gettext("No such share link."))
    return record


def revoke_share_link(record: ShareLinkRecord, *, actor_id: str, now: datetime) -> None:
    """Turn the link off now (again: nothing changes). The change joins the caller's unit
    of work; once it commits, ``ShareLinksRevoked`` moves the access generation, so every
    process refuses the link on its next request."""
    if record.revoked_at is not None:
        return
    record.revoked_at, record.revoked_by = now, actor_id
    db.session.flush()
    emit(ShareLinksRevoked(record.image_id, (record.id,)))


# -- access ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ServedImage:
    """The fields of an image row that /media decides and serves with."""

    id: uuid.UUID
    owner_id: str
    file_name: str
    storage_key: str
    thumbnail_key: str
    content_type: str
    size_bytes: int
    thumbnail_bytes: int
    width: int
    height: int
    sha256: str
    is_deleted: bool
    purge_state: str | None


@dataclass(frozen=True)
class Access:
    image: ServedImage
    link: ShareLink | None  # None: the owner or an admin


_SERVED_COLUMNS = tuple(ServedImage.__dataclass_fields__)


def _servable(image_id) -> ServedImage | None:
    """The row, trashed or not, unless it is gone or being purged.

    Read with one Core SELECT on a connection of its own (no ORM session, no transaction
    left open while the body streams) into a ``ServedImage``; on /media kept per process
    by ``app.media.access_cache`` until the next change to any image (or token, session,
    user) moves the shared generation.
    """
    image_id = _image_uuid(str(image_id))
    if image_id is None:
        return None
    return access_cache.remember(("image", image_id), lambda: _read_servable(image_id))


def _image_uuid(text: str) -> uuid.UUID | None:
    """The id in a /media path (None if it is not one), parsed once per process: the gate
    and the view both ask. Unusually long text (a path anyone can send) is not kept."""
    return _kept_image_id(text) if len(text) <= _UUID_TEXT_MAX else image_id_or_none(text)


_UUID_TEXT_MAX = len("urn:uuid:{12345678-1234-1234-1234-123456789abc}")
_kept_image_id = functools.lru_cache(maxsize=4096)(image_id_or_none)


def _read_servable(image_id: uuid.UUID) -> ServedImage | None:
    table = Image.__table__
    with db.engine.connect() as connection:
        row = connection.execute(
            select(*(table.c[name] for name in _SERVED_COLUMNS)).where(table.c.id == image_id)
        ).first()
    if row is None or row.purge_state is not None:
        return None
    return ServedImage(**row._mapping)


def servable_image(image_id) -> ServedImage | None:
    """The image /media may serve (to someone), or None: gone, being purged, a bad id."""
    return _servable(image_id)


def authorize(image_id, *, actor, link: ShareLink | None, secret: str,
              now: datetime) -> Access:
    image = _servable(image_id)
    signed_in = actor is not None and actor.is_authenticated
    if signed_in and image is not None and (image.owner_id == actor.id or actor.is_admin):
        return Access(image, None)
    if link is None:
        if signed_in:
            raise NotFound(gettext("No such photo."))
        raise Unauthenticated(gettext("Sign in, or use a share link, to see this photo."))
    if not _link_is_valid(link, image_id, secret=secret, now=now):
        raise Forbidden(gettext("This share link is not valid or has expired."),
                        code="invalid_share_link")
    if image is None or image.is_deleted or not owner_is_active(image.owner_id):
        raise NotFound(gettext("No such photo."))  # the owner gone or deactivated too
    if not share_is_live(link, image_id):
        raise Forbidden(gettext("This share link was turned off by its owner."),
                        code="invalid_share_link")
    return Access(image, link)


def etag_for(image: Image, variant: Variant) -> str:
    """Strong: the same bytes (content hash and variant) always give the same tag."""
    return f"{image.sha256}-{variant.name}"


# -- variants --------------------------------------------------------------------------

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class StoredVariant:
    key: str
    bytes: int
    data: bytes | None = None  # set when this request rendered it
    evicted: tuple[str, ...] = ()  # the names of variants deleted to make room for it


# How often a variant read from storage has its last use written (the LRU's resolution).
VARIANT_TOUCH_EVERY = timedelta(minutes=10)


def check_link_variant(image, asked: Variant, fitted: Variant) -> None:
    """What a share link may have rendered: a width from ``MEDIA_WIDTHS`` (checked by the
    parser) at the default format and quality, or any variant already stored (the
    original and the thumbnail always). Anything else is 400 ``invalid_option`` naming
    what the link cannot choose, so no link makes an image render dozens of copies."""
    if asked.kind != "render":
        return
    problem = ("fmt" if asked.fmt != DEFAULT_FORMAT
               else "q" if asked.quality != DEFAULT_QUALITY
               else "w" if asked.width is None else None)
    if problem is None or find_variant(image, fitted) is not None:
        return
    raise BadRequest(gettext("Through a share link, %(option)s cannot be chosen: new "
                             "renderings are made only at the listed widths, as %(fmt)s at "
                             "quality %(q)d.", option=problem, fmt=DEFAULT_FORMAT,
                             q=DEFAULT_QUALITY),
                     code="invalid_option", option=problem)


def read_object(storage, key: str) -> bytes:
    """A whole (small) object; a file lost outside Papelera is 404, not a crash."""
    try:
        with storage.open(key) as stream:
            return stream.read()
    except KeyError:
        raise NotFound(gettext("This photo's file is missing from the storage.")) from None


def find_variant(image: Image, variant: Variant) -> ImageVariant | None:
    row = db.session.execute(
        select(ImageVariant).where(ImageVariant.image_id == image.id,
                                   ImageVariant.width == variant.width,
                                   ImageVariant.fmt == variant.fmt,
                                   ImageVariant.quality == variant.quality)
    ).scalar_one_or_none()
    end_read()
    return row


def render_variant(source: bytes, variant: Variant) -> bytes:
    """Resize to ``variant.width`` (keeping the ratio) and encode; no metadata kept."""
    pil_format = FORMATS[variant.fmt][0]
    with PILImage.open(io.BytesIO(source)) as opened:
        image = ImageOps.exif_transpose(opened)
        if image.width > variant.width:
            height = max(1, round(image.height * variant.width / image.width))
            image = image.resize((variant.width, height), PILImage.Resampling.LANCZOS)
        wants_alpha = "A" in image.getbands() or "transparency" in image.info
        if pil_format == "JPEG" or not wants_alpha:
            image = image.convert("RGB")
        elif image.mode != "RGBA":
            image = image.convert("RGBA")
        out = io.BytesIO()
        options = {"quality": variant.quality}
        if pil_format == "PNG":
            options = {"optimize": True}
        image.save(out, format=pil_format, **options)
    return out.getvalue()


def ensure_variant(image: Image, variant: Variant, storage, *, now: datetime,
                   decode_slots=None, max_variants: int | None = None) -> StoredVariant:
    """The stored variant, rendered and stored once (the first request pays for it).

    The object is written first; then one transaction adds its bytes to the image row,
    but only while the image is not claimed by a purge, and records the row. A purge
    that claims the image afterwards reads the variant's key and deletes it; a purge
    that claimed it before makes this request give up and remove its object.

    Bounded work: the render holds one of ``decode_slots`` (``DecodeSlots``: 503 ``busy``
    with ``Retry-After`` when none frees up in time), and with ``max_variants`` the same
    transaction deletes the image's least recently used variants past that number (rows
    and bytes on the image row; their objects right after the commit).
    """
    existing = find_variant(image, variant)
    if existing is not None:
        _touch(existing, now)
        return StoredVariant(existing.key, existing.bytes)
    with decode_slots if decode_slots is not None else nullcontext():
        data = render_variant(read_object(storage, image.storage_key), variant)
    key = f"variants/{now:%Y/%m}/{secrets.token_hex(16)}.{variant.fmt}"
    storage.put(key, data, FORMATS[variant.fmt][1])
    try:
        with unit_of_work():  # after the object is stored: no lock held across the store call
            counted = db.session.execute(
                with_trashed(update(Image)
                             .where(Image.id == image.id, Image.purge_state.is_(None))
                             .values(variant_bytes=Image.variant_bytes + len(data))
                             .returning(Image.owner_id, Image.is_deleted))
                .execution_options(synchronize_session=False)
            ).first()
            if counted is None:
                raise NotFound(gettext("No such photo."))
            owner_counters.bytes_changed(counted.owner_id, is_deleted=counted.is_deleted,
                                         purging=False, delta=len(data))
            db.session.add(ImageVariant(image_id=image.id, key=key, width=variant.width,
                                        fmt=variant.fmt, quality=variant.quality,
                                        bytes=len(data), created_at=now, last_used_at=now))
            db.session.flush()
            evicted = _evict_past(image.id, max_variants) if max_variants else []
        record_event("variant", image.id, nbytes=len(data))
    except IntegrityError:
        # Another request stored the same variant first: keep theirs.
        db.session.rollback()
        storage.delete_many([key])
        winner = find_variant(image, variant)
        if winner is None:
            raise NotFound(gettext("No such photo.")) from None
        return StoredVariant(winner.key, winner.bytes)
    except BaseException:
        db.session.rollback()
        storage.delete_many([key])
        raise
    if evicted:
        try:
            storage.delete_many([row.key for row in evicted])
        except Exception:  # noqa: BLE001  (the rows are gone; `flask doctor` lists the object)
            log.warning("evicted variants of %s left in storage", image.id, exc_info=True)
    return StoredVariant(key, len(data), data, tuple(
        Variant("render", row.width, row.fmt, row.quality).name for row in evicted))


def _touch(row: ImageVariant, now: datetime) -> None:
    """Record a use (at most every ``VARIANT_TOUCH_EVERY``); best effort: a busy database
    costs the eviction order a little precision, never the request."""
    last = row.last_used_at or row.created_at
    if last is not None and now - last < VARIANT_TOUCH_EVERY:
        return
    try:
        with unit_of_work():
            db.session.execute(update(ImageVariant).where(ImageVariant.id == row.id)
                               .values(last_used_at=now)
                               .execution_options(synchronize_session=False))
    except OperationalError:
        db.session.rollback()
        log.info("variant %s: last use not recorded (database busy)", row.id)


def _evict_past(image_id, keep: int) -> list:
    """Delete the image's variants past the ``keep`` most recently used (in the caller's
    transaction) and take their bytes off the image row; the deleted rows."""
    last_use = func.coalesce(ImageVariant.last_used_at, ImageVariant.created_at)
    rows = db.session.execute(
        select(ImageVariant.id, ImageVariant.key, ImageVariant.bytes, ImageVariant.width,
               ImageVariant.fmt, ImageVariant.quality)
        .where(ImageVariant.image_id == image_id)
        .order_by(last_use.desc(), ImageVariant.id.desc())
        .offset(keep)  # SQLite gets "LIMIT -1 OFFSET": SQLAlchemy's own
    ).all()
    if rows:
        freed = sum(r.bytes for r in rows)
        db.session.execute(delete(ImageVariant).where(ImageVariant.id.in_([r.id for r in rows]))
                           .execution_options(synchronize_session=False))
        image = db.session.execute(
            with_trashed(update(Image).where(Image.id == image_id)
                         .values(variant_bytes=Image.variant_bytes - freed)
                         .returning(Image.owner_id, Image.is_deleted, Image.purge_state))
            .execution_options(synchronize_session=False)).first()
        if image is not None:
            owner_counters.bytes_changed(image.owner_id, is_deleted=image.is_deleted,
                                         purging=image.purge_state == "purging",
                                         delta=-freed)
    return rows
