"""Pillow: prove an upload is a real image and make its thumbnail, in bounded memory.

Memory is bounded three ways: the pixel limit is checked from the header before any pixel
is decoded; a decode holds one of a few process-wide slots (``DecodeSlots``), so at most
``MAX_CONCURRENT_DECODES`` full-size images are in memory at once; and a decode makes no
full-size copy (JPEG decodes at a reduced scale with ``draft()``, the thumbnail is reduced
in steps with ``reducing_gap``, and EXIF orientation is applied to the small thumbnail).
"""

from __future__ import annotations

import io
import threading
import warnings
from contextlib import nullcontext
from dataclasses import dataclass

from flask_babel import format_number, gettext
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from app.core.errors import ServiceUnavailable, TooLarge, UnsupportedMedia

# Formats browsers display; the content type comes from Pillow, never from the client.
ALLOWED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif",
                   "WEBP": "image/webp"}
THUMBNAIL_SIZE = (480, 480)
THUMBNAIL_TYPE = "image/webp"
# Resize in two steps: a cheap integer reduce to at least this many times the target, then
# a proper resample. Pillow's own default; also the scale JPEG's draft() decodes at.
REDUCING_GAP = 2.0
# Modes Pillow resamples well as they are; others (palette, 1-bit, 16-bit, …) are converted
# to RGB(A) first, a copy bounded by the pixel limit like the decode itself.
_RESIZE_AS_IS = frozenset({"RGB", "RGBA", "L", "LA", "CMYK"})


@dataclass(frozen=True)
class ProcessedImage:
    content_type: str
    width: int
    height: int
    thumbnail: bytes


class DecodeSlots:
    """At most ``size`` decodes at once in this process; a caller waits ``wait_s`` at most.

    When every slot stays busy that long the upload answers 503 ``busy`` with
    ``Retry-After``, so a burst of large uploads queues for a while and then sheds load
    instead of holding request threads (and their request bodies) without end.
    """

    def __init__(self, size: int, wait_s: float) -> None:
        self.size = size
        self.wait_s = wait_s
        self._semaphore = threading.BoundedSemaphore(size)

    def acquire(self) -> None:
        if not self._semaphore.acquire(timeout=self.wait_s):
            raise ServiceUnavailable(
                gettext("The server is busy processing other photos. Try again in a moment."),
                code="busy", headers={"Retry-After": str(max(1, round(self.wait_s)))})

    def release(self) -> None:
        self._semaphore.release()

    def __enter__(self) -> DecodeSlots:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


_SLOTS_LOCK = threading.Lock()


def decode_slots_for(app) -> DecodeSlots:
    """The app's slots, made once from ``MAX_CONCURRENT_DECODES`` and ``DECODE_WAIT_S``.

    One app runs per server process, so this is the process-wide bound (per worker under
    a multi-process server).
    """
    slots = app.extensions.get("papelera.decode_slots")
    if slots is None:
        with _SLOTS_LOCK:
            slots = app.extensions.get("papelera.decode_slots")
            if slots is None:
                slots = DecodeSlots(app.config["MAX_CONCURRENT_DECODES"],
                                    app.config["DECODE_WAIT_S"])
                app.extensions["papelera.decode_slots"] = slots
    return slots


def process_upload(data: bytes, *, max_pixels: int,
                   slots: DecodeSlots | None = None) -> ProcessedImage:
    if not data:
        raise UnsupportedMedia(gettext("The file is empty."))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            # formats=: only the four decoders we serve ever look at the bytes.
            with PILImage.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS)) as probe:
                fmt = probe.format
                width, height = probe.size
                if width * height > max_pixels:
                    raise TooLarge(gettext("The photo has %(width)d×%(height)d pixels; the "
                                           "limit is %(limit)s pixels.", width=width,
                                           height=height, limit=format_number(max_pixels)),
                                   code="too_large")
                if fmt not in ALLOWED_FORMATS:  # e.g. MPO, which the JPEG opener may return
                    raise UnsupportedMedia(gettext("%(format)s photos are not supported: "
                                                   "upload JPEG, PNG, GIF or WebP.",
                                                   format=fmt) if fmt else gettext(
                        "This kind of photo is not supported: upload JPEG, PNG, GIF or WebP."))
                probe.verify()
            # verify() leaves the image unusable; open again to decode it for real, one
            # decode per slot.
            with slots if slots is not None else nullcontext():
                with PILImage.open(io.BytesIO(data), formats=[fmt]) as image:
                    thumbnail = _thumbnail(image)
    except (TooLarge, UnsupportedMedia, ServiceUnavailable):
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
        raise TooLarge(gettext("The photo has too many pixels."), code="too_large") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise UnsupportedMedia(gettext("The file is not a photo Papelera can read.")) from None
    return ProcessedImage(ALLOWED_FORMATS[fmt], width, height, thumbnail)


def _thumbnail(image: PILImage.Image) -> bytes:
    """Decode every byte (a truncated file fails here) but hold as few pixels as possible."""
    # JPEG: decode straight at 1/2, 1/4 or 1/8 scale, still at least twice the thumbnail.
    image.draft(None, (int(THUMBNAIL_SIZE[0] * REDUCING_GAP),
                       int(THUMBNAIL_SIZE[1] * REDUCING_GAP)))
    image.load()
    if image.mode not in _RESIZE_AS_IS or "transparency" in image.info:
        image = image.convert(_rgb_mode(image))
    image.thumbnail(THUMBNAIL_SIZE, reducing_gap=REDUCING_GAP)  # in place
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert(_rgb_mode(image))
    # The EXIF orientation, applied to the small image (the thumbnail box is square, so the
    # result is the same as rotating first). convert() keeps the EXIF it reads.
    ImageOps.exif_transpose(image, in_place=True)
    out = io.BytesIO()
    # A fresh encode carries no EXIF, GPS or other metadata from the original.
    image.save(out, format="WEBP", quality=80, method=4)
    return out.getvalue()


def _rgb_mode(image: PILImage.Image) -> str:
    return "RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB"
