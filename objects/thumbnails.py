"""Thumbnails of raster images, for the folder listing's image rows.

A thumbnail is made when a browser first asks for it: the image is decoded by Pillow (JPEG at a
reduced scale straight from the file, ``Image.draft``), fitted within ``SIZE`` pixels and
written as WebP, a few KB. Its URL names the object's generation and the answer may be cached
for a year, so each browser asks once per version of a file; nothing is stored on the server.

Bounds, since any uploaded file can claim to be an image: at most ``preview.IMAGE_LIMIT`` bytes
read (spooled to disk beyond 1 MiB when the backend cannot seek), only the formats of
``FORMATS`` (Pillow guesses none other), at most ``MAX_PIXELS`` decoded (a "decompression bomb"
is refused before its pixels are; shrunk before any copy), the first frame of an animation,
at most two at a time per worker process (``SLOTS``). A file Pillow cannot read, whatever it
raises, has no thumbnail (the listing keeps its file icon).
"""

import io
import shutil
import tempfile

from objstore_site.slots import Slots

from . import preview, services
from .models import ObjectData

SIZE = 72  # pixels, the longest side: shown at 24 CSS pixels, sharp on 3x screens
MAX_PIXELS = 16_000_000  # decoded; ~64 MB as RGBA at worst
FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP")
TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"})


class NoThumbnail(Exception):
    pass


# Decoding holds up to ~4 bytes a pixel of the (reduced) image: two at a time per worker
# process, whatever the number of its threads (a browser asks for ~6 at once).
SLOTS = Slots(2, wait=5)


def has_thumbnail(content_type: str, size: int) -> bool:
    """Whether the listing asks for a thumbnail of a file of this type and size."""
    kind = content_type.split(";", 1)[0].strip().lower()
    return 0 < size <= preview.IMAGE_LIMIT and kind in TYPES


def thumbnail(obj: ObjectData) -> bytes:
    """The WebP thumbnail of ``obj``. Raises NoThumbnail, services.BlobMissing, or
    objstore_site.slots.Busy."""
    if not has_thumbnail(obj.content_type, obj.size):
        raise NoThumbnail
    with SLOTS.held(), services.object_open(obj) as handle, _seekable(handle) as source:
        return _make(source)


def _make(source) -> bytes:
    # Imported here: only the workers that make thumbnails pay for Pillow's memory.
    from PIL import Image, ImageOps

    try:
        with Image.open(source, formats=FORMATS) as image:
            if image.format == "JPEG":
                image.draft("RGB", (SIZE, SIZE))  # decode at 1/2 to 1/8 scale
            width, height = image.size
            if width * height > MAX_PIXELS:  # before a pixel is decoded
                raise NoThumbnail
            exif = image.getexif()
            image.thumbnail((SIZE, SIZE))  # shrunk first: the copies below are small
            small = ImageOps.exif_transpose(_with_orientation(image, exif)).convert("RGBA")
            out = io.BytesIO()
            small.save(out, "WEBP", quality=80, method=4)
            return out.getvalue()
    except NoThumbnail:
        raise
    except Exception:
        # Any uploaded file reaches Pillow's decoders: whatever they raise on one (a corrupt
        # EXIF block, a mutated WebP, a decompression bomb), it has no thumbnail.
        raise NoThumbnail from None


def _with_orientation(image, exif):
    """``image`` (shrunk, so a new image without the original's EXIF) with the original's
    orientation tag, which exif_transpose reads."""
    orientation = exif.get(0x0112) if exif else None
    if orientation:
        image.getexif()[0x0112] = orientation
    return image


class _seekable:
    """The handle itself when it can seek (local disk), else a spooled copy of it."""

    def __init__(self, handle) -> None:
        self.handle, self.copy = handle, None

    def __enter__(self):
        try:
            if self.handle.seekable():
                return self.handle
        except (AttributeError, OSError):
            pass
        self.copy = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)
        shutil.copyfileobj(self.handle, self.copy, services.CHUNK_SIZE)
        self.copy.seek(0)
        return self.copy

    def __exit__(self, *exc) -> None:
        if self.copy is not None:
            self.copy.close()
