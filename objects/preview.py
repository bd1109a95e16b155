"""Previews on a file's Details page: what can be shown of a file, bounded, and never run.

Text (logs, Markdown, code, and HTML, SVG or XML as their source), JSON (pretty-printed) and
CSV (as a table) are read up to ``TEXT_LIMIT`` bytes and written into the page as escaped text.
Raster images (PNG, JPEG, GIF, WebP, AVIF, BMP) up to ``IMAGE_LIMIT`` are shown by an ``<img>``,
audio and video (MP3, AAC, Ogg, Opus, WAV, FLAC, WebM, MP4) are played by ``<audio>`` and
``<video>``; their bytes come from the ``object_preview`` view under their own stored type (in
ranges, for media), with nosniff and a sandboxing CSP, so nothing uploaded can run script on
our origin. PDFs are shown a page at a time as images the server renders (objects/pdfs.py).
Everything else has no preview (the page says so and offers the download).
"""

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from objstore_site.slots import Busy

from . import pdfs, services
from .models import Object

TEXT_LIMIT = 64 * 1024
IMAGE_LIMIT = 20 * 1024 * 1024
CSV_ROWS = 100
CSV_COLUMNS = 30

IMAGE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp"}
)
# Played by the page's <audio> and <video> (they run no script), whatever their size: the
# browser asks for ranges as it plays and seeks.
AUDIO_TYPES = frozenset(
    {
        "audio/mpeg",
        "audio/mp4",
        "audio/aac",
        "audio/ogg",
        "audio/opus",
        "audio/wav",
        "audio/x-wav",
        "audio/wave",
        "audio/webm",
        "audio/flac",
    }
)
VIDEO_TYPES = frozenset({"video/mp4", "video/webm", "video/ogg"})
# What object_preview serves, each under its own type.
SERVED_TYPES = IMAGE_TYPES | AUDIO_TYPES | VIDEO_TYPES
_TEXT_SUFFIXES = frozenset(
    ".txt .log .md .markdown .rst .csv .tsv .json .jsonl .ndjson .yaml .yml .toml .ini .cfg .conf"
    " .env .xml .html .htm .svg .css .js .mjs .ts .py .rb .go .rs .java .c .h .cpp .sh .sql"
    " .properties .gitignore .dockerfile".split()
)
_TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/x-ndjson",
        "application/xml",
        "application/javascript",
        "application/x-yaml",
        "application/yaml",
        "application/toml",
        "application/sql",
        "image/svg+xml",
    }
)


@dataclass
class Preview:
    kind: str  # "image", "audio", "video", "pdf", "json", "csv", "text", or "none"
    text: str = ""
    rows: list[list[str]] = field(default_factory=list)
    truncated: bool = False  # only the first TEXT_LIMIT bytes (or CSV_ROWS rows) are shown
    reason: str = ""  # why there is no preview
    page: int = 1  # a PDF's page shown, and how many it has
    pages: int = 0


def kind_of(obj: Object) -> str:
    content_type = obj.content_type.split(";", 1)[0].strip().lower()
    suffix = PurePosixPath(obj.name).suffix.lower()
    if content_type in IMAGE_TYPES:
        return "image"
    if content_type in AUDIO_TYPES:
        return "audio"
    if content_type in VIDEO_TYPES:
        return "video"
    if pdfs.is_pdf(content_type, obj.name):
        return "pdf"
    if content_type == "application/json" or suffix == ".json":
        return "json"
    if content_type in ("text/csv", "text/tab-separated-values") or suffix in (".csv", ".tsv"):
        return "csv"
    if content_type.startswith("text/") or content_type in _TEXT_TYPES or suffix in _TEXT_SUFFIXES:
        return "text"
    return "none"


def preview_of(bucket, obj: Object, page: int = 1) -> Preview:
    """What the Details page shows of ``obj`` (of a PDF, page ``page``)."""
    kind = kind_of(obj)
    if kind == "none":
        return Preview("none", reason="There is no preview for this type of file.")
    if kind == "image":
        if obj.size > IMAGE_LIMIT:
            return Preview("none", reason="This image is too large to preview.")
        return Preview("image")
    if kind in ("audio", "video"):
        return Preview(kind)
    if kind == "pdf":
        return _pdf(obj, page)
    if obj.content_encoding:
        return Preview("none", reason="This file is stored compressed: download it to read it.")
    head = _head(bucket, obj)
    if head is None:
        return Preview("none", reason="The file changed or went while it was read.")
    truncated = obj.size > len(head)
    if b"\x00" in head:
        return Preview("none", reason="This file holds binary data.")
    text = head.decode("utf-8", errors="replace")
    if kind == "json" and not truncated:
        try:
            return Preview("json", text=json.dumps(json.loads(text), indent=2, ensure_ascii=False))
        except ValueError:
            return Preview("text", text=text)
    if kind == "csv":
        return _csv(text, truncated, tab=obj.name.lower().endswith(".tsv"))
    return Preview("text", text=text, truncated=truncated)


def _pdf(obj: Object, page: int) -> Preview:
    if obj.size > pdfs.PDF_LIMIT:
        return Preview("none", reason="This PDF is too large to preview.")
    try:
        pages = pdfs.page_count(obj)
    except pdfs.Unreadable:
        return Preview(
            "none", reason="This PDF cannot be read here (damaged, or protected by a password)."
        )
    except Busy:
        return Preview("none", reason="The server is busy with other PDFs: reload in a moment.")
    except services.BlobMissing:
        return Preview("none", reason="The file changed or went while it was read.")
    if pages == 0:
        return Preview("none", reason="This PDF has no pages.")
    return Preview("pdf", page=min(max(page, 1), pages), pages=pages)


def _head(bucket, obj: Object) -> bytes | None:
    """The first TEXT_LIMIT bytes of exactly this generation (never read whole)."""
    try:
        _, handle = services.object_read(bucket=bucket, name=obj.name, generation=obj.generation)
    except services.ObjectNotFound:
        return None
    try:
        parts, size = [], 0
        while size < TEXT_LIMIT:  # a cloud backend's reader may return short reads
            part = handle.read(TEXT_LIMIT - size)
            if not part:
                break
            parts.append(part)
            size += len(part)
        return b"".join(parts)
    finally:
        handle.close()


def _csv(text: str, truncated: bool, *, tab: bool) -> Preview:
    if truncated and "\n" in text:
        text = text[: text.rindex("\n")]  # not the cut last line
    rows = []
    try:
        for row in csv.reader(io.StringIO(text), dialect="excel-tab" if tab else "excel"):
            if len(rows) == CSV_ROWS:
                truncated = True
                break
            if len(row) > CSV_COLUMNS:
                row, truncated = row[:CSV_COLUMNS], True
            rows.append(row)
    except csv.Error:
        return Preview("text", text=text, truncated=truncated)
    return Preview("csv", rows=rows, truncated=truncated)
