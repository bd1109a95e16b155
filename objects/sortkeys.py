"""The pane's sort keys: folder-by-folder browsing in natural, case-insensitive name order.

GCS lists names in UTF-8 byte order ("README.md" before "app.log", "file10" before "file2",
accented names last), and so does the API. People expect a file manager's order instead. Each
object stores two keys, computed from its name when the row is written (``SortKeyField``):

- ``name_key``: the natural key of its last segment (the file name);
- ``folder_key``: the natural keys of its folder's segments, each closed by ``END``.

Every object directly in a folder has that folder's ``folder_key``, so one index
``(bucket, folder_key, <sort column>, name_key, id)`` pages a folder of any size by name, size,
type or date. Everything under a folder has a ``folder_key`` that *starts with* the folder's, so
its subfolders are found in natural order by seeking through that index, one row per subfolder,
as ``objects.listing`` does through the name index.

A segment's key is its *natural* form (case folded, accents dropped, digit runs compared as
numbers: "file2" < "file10") followed by ``MID``, then, only when that form lost something
(case, accents, leading zeros), the segment itself, then ``END``: two different segments never
share a key ("Photos" and "photos" are two folders), and a segment's key is never the start of
another's, so the subtree of one folder is a key range. ``MID`` and ``END`` are below every
character a key otherwise holds (characters below them are escaped, order kept).

Keys are cut at ``KEY_BYTES`` UTF-8 bytes, to fit a database index entry. Only folders whose
path is far longer than any real one (hundreds of nested levels, or a path of accented
capitals near GCS's 1,024-byte limit) reach it; the pane lists those in byte order instead
(``sortable_folder``), which is always right.
"""

import re
import unicodedata

MID, END = "\x01", "\x01"
KEY_BYTES = 900
# Below this length a folder's own key leaves room for the keys of what it holds.
SORTABLE_FOLDER_BYTES = KEY_BYTES - 300

_RUNS = re.compile(r"(\d+)")
_LOW = re.compile(r"[\x01\x02]")


def _escape(text: str) -> str:
    """No MID/END inside a part: \\x01 -> \\x02\\x02 and \\x02 -> \\x02\\x03 keep the order."""
    return _LOW.sub(lambda m: "\x02" + chr(ord(m.group()) + 1), text)


def natural(segment: str) -> tuple[str, bool]:
    """The segment's natural form and whether that form loses nothing of it. The form is case
    folded, without accents, and has each run of digits as its length (one character, or "9"
    and two digits past eight) then its digits without leading zeros, so that runs compare as
    numbers and still sort among other characters as digits do."""
    folded = unicodedata.normalize("NFD", segment.casefold())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    parts, plain = [], []
    for index, part in enumerate(_RUNS.split(folded)):
        if index % 2:  # a run of digits (Unicode digits included, as int() reads them)
            digits = str(int(part))
            length = len(digits)
            parts.append(f"{length}{digits}" if length < 9 else f"9{min(length, 99):02d}{digits}")
            plain.append(digits)
        else:
            parts.append(part)
            plain.append(part)
    return "".join(parts), "".join(plain) == segment


def segment_key(segment: str) -> str:
    form, lossless = natural(segment)
    return _escape(form) + MID + ("" if lossless else _escape(segment)) + END


def _cut(key: str) -> str:
    data = key.encode()
    return key if len(data) <= KEY_BYTES else data[:KEY_BYTES].decode(errors="ignore")


def split(name: str) -> tuple[str, str]:
    """(folder, file name) of an object name: ``a/b/c.txt`` -> ("a/b/", "c.txt"); a folder's
    placeholder ``a/b/`` is the empty name in folder ``a/b/``."""
    folder, sep, base = name.rpartition("/")
    return folder + sep, base


def whole_folder_key(folder: str) -> str:
    """The key of a folder prefix ("" for the bucket's root, else ending with "/"), uncut."""
    return "".join(segment_key(part) for part in folder.split("/")[:-1])


def folder_key(folder: str) -> str:
    """The key stored for the objects directly in ``folder``: its whole key, cut to fit."""
    return _cut(whole_folder_key(folder))


def is_cut(folder: str) -> bool:
    return len(whole_folder_key(folder).encode()) > KEY_BYTES


def name_key(name: str) -> str:
    return _cut(segment_key(split(name)[1]))


def sortable_folder(folder: str) -> bool:
    """Whether the pane can list ``folder`` in natural order (see the module's docstring)."""
    return len(folder_key(folder).encode()) <= SORTABLE_FOLDER_BYTES


def after(key: str) -> str:
    """The least string above every key that starts with ``key``: its last character raised
    by one (a whole folder key ends in END; a cut one may end in any character)."""
    while key:
        point = ord(key[-1]) + 1
        if 0xD800 <= point <= 0xDFFF:  # surrogates cannot be stored
            point = 0xE000
        if point <= 0x10FFFF:
            return key[:-1] + chr(point)
        key = key[:-1]
    raise ValueError("no key follows every key")
