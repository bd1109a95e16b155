"""A folder, or a whole bucket, downloaded as one zip that is built while it is sent.

The names are listed a page at a time and each file is streamed into the zip in chunks, so the
memory a download holds does not depend on the size of its files. The zip's closing directory
lists every file, so zipfile keeps ~0.4 KB per file until the end: ``too_many_files`` bounds a
zip to ``OBJSTORE_ZIP_MAX_FILES`` files (10,000 by default, ~4 MB), checked before the first
byte is sent. Entries are stored (not compressed): most of what people keep is compressed
already, and it keeps the CPU a download costs near a plain download's. Sizes over 4 GiB get
ZIP64 records.

Object names are only names (``../x`` and ``/etc/passwd`` are valid), but an unzip tool writes
entries as paths: a ``..`` segment is written as ``__``, an empty or ``.`` segment (a leading
``/``) as ``_``, and a backslash as ``_``, so that no entry can land outside the folder it is
extracted into. Two names that come out the same get " (2)", " (3)"... before the extension.
"""

import zipfile
from collections.abc import Iterator, Sequence
from datetime import UTC

from django.conf import settings

from buckets.models import Bucket

from . import services
from .listing import objects_list

PAGE = 1000


class _Sink:
    """Where zipfile writes: it only appends (no seek, so zipfile writes data descriptors) and
    hands over what was written since the last ``take``."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.offset = 0

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def entry_name(relative: str) -> str:
    """The path an object's name (relative to the zipped folder) is written at in the zip."""
    directory = relative.endswith("/")
    segments = relative[:-1].split("/") if directory else relative.split("/")
    safe = []
    for segment in segments:
        segment = segment.replace("\\", "_")
        safe.append("__" if segment == ".." else "_" if segment in ("", ".") else segment)
    return "/".join(safe) + ("/" if directory else "")


def too_many_files(bucket: Bucket, prefix: str, names: Sequence[str] = ()) -> bool:
    """Whether a zip of ``prefix`` would hold more than OBJSTORE_ZIP_MAX_FILES files: every
    live object under it or, when ``names`` are given (a selection in the folder ``prefix``),
    those names, the selected folders (names ending in "/") counted for their contents (each a
    count of at most that many rows of the (bucket, name) index)."""
    limit = settings.OBJSTORE_ZIP_MAX_FILES
    if not names:
        return services.objects_count_under(bucket=bucket, prefix=prefix, limit=limit + 1) > limit
    total = 0
    for name in names:
        total += (
            services.objects_count_under(bucket=bucket, prefix=name, limit=limit + 1 - total)
            if name.endswith("/")
            else 1
        )
        if total > limit:
            return True
    return False


def _unique(name: str, used) -> str:
    if name not in used:
        return name
    directory = name.endswith("/")
    stem = name[:-1] if directory else name
    head, dot, extension = stem.rpartition(".")
    if not dot or "/" in extension or not head or head.endswith("/"):
        head, dot, extension = stem, "", ""
    number = 2
    while True:
        candidate = f"{head} ({number}){dot}{extension}" + ("/" if directory else "")
        if candidate not in used:
            return candidate
        number += 1


def _date_time(moment) -> tuple[int, int, int, int, int, int]:
    fields = moment.astimezone(UTC).timetuple()[:6]
    return max(fields, (1980, 1, 1, 0, 0, 0))  # the earliest a zip can say


def stream_zip(bucket: Bucket, prefix: str, names: Sequence[str] = ()) -> Iterator[bytes]:
    """The zip of every live object whose name starts with ``prefix`` or, when ``names`` are
    given, of those (a selection in the folder ``prefix``: files, and folders whose names end
    in "/" with everything under them), in the order given, each folder's in name order. Paths
    in the zip are relative to ``prefix``. A file deleted while the zip is built is left out."""
    sink = _Sink()
    archive = zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True)
    used = archive.NameToInfo  # the names written so far (zipfile keeps them anyway)
    finished = False
    try:
        for name in names or [prefix]:
            if name.endswith("/") or name == prefix:
                for listed in _under(bucket, name):
                    relative = listed.name[len(prefix) :]
                    if relative:  # not the folder's own placeholder ("photos/" in "photos/")
                        yield from _entry(archive, sink, used, bucket, listed, relative)
            else:
                try:
                    obj = services.object_get(bucket=bucket, name=name)
                except services.ObjectNotFound:
                    continue  # deleted since it was selected
                yield from _entry(archive, sink, used, bucket, obj, name[len(prefix) :])
        archive.close()
        finished = True
        yield sink.take()
    finally:
        if not finished:
            # The client went away: nothing more to write (not even the central directory,
            # which ZipFile would otherwise build when it is collected).
            archive.fp = None


def _under(bucket: Bucket, prefix: str) -> Iterator:
    """Every live object under ``prefix``, a page at a time."""
    token = ""
    while True:
        page = objects_list(bucket=bucket, prefix=prefix, max_results=PAGE, page_token=token)
        yield from page.objects
        if not page.next_page_token:
            return
        token = page.next_page_token


def _entry(archive, sink: _Sink, used, bucket: Bucket, listed, relative: str):
    entry = entry_name(relative)
    if entry.endswith("/") and listed.size == 0:  # an empty folder ("Create folder")
        info = zipfile.ZipInfo(_unique(entry, used), date_time=_date_time(listed.updated))
        info.CRC = info.compress_size = info.file_size = 0
        info.external_attr = (0o40755 << 16) | 0x10  # a directory, as ZipFile.mkdir makes one
        archive.mkdir(info)
        yield sink.take()
        return
    try:
        obj, handle = _open(bucket, listed)
    except services.ObjectNotFound:
        return  # deleted since it was listed
    with handle:
        info = zipfile.ZipInfo(_unique(entry.rstrip("/") or "_", used), _date_time(obj.updated))
        info.file_size = obj.size
        info.compress_type = zipfile.ZIP_STORED
        with archive.open(info, mode="w", force_zip64=obj.size >= zipfile.ZIP64_LIMIT) as out:
            while chunk := handle.read(services.CHUNK_SIZE):
                out.write(chunk)
                yield sink.take()
    yield sink.take()


def _open(bucket: Bucket, listed):
    """The generation that was listed, or the one that replaced it meanwhile."""
    try:
        return services.object_read(bucket=bucket, name=listed.name, generation=listed.generation)
    except services.ObjectNotFound:
        return services.object_read(bucket=bucket, name=listed.name)


def zip_filename(bucket: Bucket, prefix: str, names: Sequence[str] = ()) -> str:
    """The folder's name (the bucket's at its top), or the one selected folder's."""
    if len(names) == 1 and names[0].endswith("/"):
        prefix = names[0]
    base = prefix.rstrip("/").rpartition("/")[2] if prefix else bucket.name
    return f"{entry_name(base).replace('/', '_') or bucket.name}.zip"
