"""Pillow: prove an upload is a real image and make its thumbnail."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from app.errors import TooLarge, UnsupportedMedia

# Formats browsers display; the content type comes from Pillow, never from the client.
ALLOWED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif",
                   "WEBP": "image/webp"}
THUMBNAIL_SIZE = (480, 480)
THUMBNAIL_TYPE = "image/webp"


@dataclass(frozen=True)
class ProcessedImage:
    content_type: str
    width: int
    height: int
    thumbnail: bytes


def process_upload(data: bytes, *, max_pixels: int) -> ProcessedImage:
    if not data:
        raise UnsupportedMedia("The file is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(data)) as probe:
                fmt = probe.format
                width, height = probe.size
                if width * height > max_pixels:
                    raise TooLarge(f"The image has {width}×{height} pixels; the limit is "
                                   f"{max_pixels:,} pixels.", code="too_large")
                if fmt not in ALLOWED_FORMATS:
                    raise UnsupportedMedia(f"{fmt or 'This'} images are not supported: "
                                           "upload JPEG, PNG, GIF or WebP.")
                probe.verify()
            # verify() leaves the image unusable; open again to decode it for real.
            with PILImage.open(io.BytesIO(data)) as image:
                image.load()
                thumbnail = _thumbnail(image)
    except (TooLarge, UnsupportedMedia):
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
        raise TooLarge("The image has too many pixels.", code="too_large") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise UnsupportedMedia("The file is not an image Papelera can read.") from None
    return ProcessedImage(ALLOWED_FORMATS[fmt], width, height, thumbnail)


def _thumbnail(image: PILImage.Image) -> bytes:
    image = ImageOps.exif_transpose(image)
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info
                              else "RGB")
    image.thumbnail(THUMBNAIL_SIZE)
    out = io.BytesIO()
    # A fresh encode carries no EXIF, GPS or other metadata from the original.
    image.save(out, format="WEBP", quality=80, method=4)
    return out.getvalue()
