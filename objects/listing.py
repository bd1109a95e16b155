"""Listing by prefix and delimiter with index range scans (the hot path of the pane and API).

Rows are read in name order from the (bucket, name) index, ``lower <= name < upper``. When a row
has the delimiter after the prefix, its folder is emitted once and the scan *seeks* past the whole
subtree (to ``successor(folder)``), so a folder holding a million names costs one query, and a
page never loads more rows than it shows plus one small batch.
"""

import base64
import binascii
from dataclasses import dataclass, field

from buckets.models import Bucket

from .glob import compile_glob
from .models import Object
from .names import successor

MAX_RESULTS = 1000
_FIRST_BATCH = 32
_MAX_BATCH = 1024


class InvalidPageToken(ValueError):
    pass


@dataclass
class ListPage:
    objects: list[Object] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    next_page_token: str | None = None


def _encode_token(kind: str, name: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{name}".encode()).decode("ascii")


def _decode_token(token: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidPageToken("The page token is not valid.") from None
    kind, sep, name = raw.partition(":")
    if not sep or kind not in {"o", "p"}:
        raise InvalidPageToken("The page token is not valid.")
    return kind, name


@dataclass
class _Bound:
    name: str
    inclusive: bool

    def raise_to(self, name: str, inclusive: bool) -> None:
        if name > self.name or (name == self.name and not inclusive):
            self.name, self.inclusive = name, inclusive


def objects_list(
    *,
    bucket: Bucket,
    prefix: str = "",
    delimiter: str = "",
    start_offset: str = "",
    end_offset: str = "",
    match_glob: str = "",
    max_results: int = MAX_RESULTS,
    page_token: str = "",
    include_trailing_delimiter: bool = False,
) -> ListPage:
    """One page of a bucket's names in bytewise order, with GCS's listing semantics.

    ``max_results`` counts objects and prefixes together; ``next_page_token`` is set only when
    more names remain. With ``include_trailing_delimiter`` an object named exactly like a
    folder (``photos/``) is returned as an item too. Raises InvalidPageToken or
    objects.glob.InvalidGlob on bad input.
    """
    max_results = max(1, min(max_results, MAX_RESULTS))
    matches = compile_glob(match_glob) if match_glob else None

    lower = _Bound(prefix, inclusive=True)
    if start_offset:
        lower.raise_to(start_offset, inclusive=True)
    upper = successor(prefix) if prefix else None
    if end_offset and (upper is None or end_offset < upper):
        upper = end_offset
    if page_token:
        kind, last = _decode_token(page_token)
        if kind == "o":
            lower.raise_to(last, inclusive=False)
        else:
            after_folder = successor(last)
            if after_folder is None:
                return ListPage()
            lower.raise_to(after_folder, inclusive=True)

    page = ListPage()
    last_emitted: tuple[str, str] | None = None
    batch = _FIRST_BATCH
    base = Object.objects.filter(bucket=bucket).order_by("name")
    if upper is not None:
        base = base.filter(name__lt=upper)

    while True:
        lookup = "name__gte" if lower.inclusive else "name__gt"
        rows = list(base.filter(**{lookup: lower.name})[:batch])
        if not rows:
            return page
        seeked = False
        for obj in rows:
            if len(page.objects) + len(page.prefixes) == max_results:
                # A full page and at least one more name in range: hand out a cursor.
                assert last_emitted is not None
                page.next_page_token = _encode_token(*last_emitted)
                return page
            rest = obj.name[len(prefix) :]
            cut = rest.find(delimiter) if delimiter else -1
            if matches is not None and not matches(obj.name):
                lower.raise_to(obj.name, inclusive=False)
                continue
            if cut >= 0:
                folder = prefix + rest[: cut + len(delimiter)]
                if include_trailing_delimiter and obj.name == folder:
                    page.objects.append(obj)  # GCS lists the "folder/" object as well
                page.prefixes.append(folder)
                last_emitted = ("p", folder)
                after_folder = successor(folder)
                if after_folder is None:
                    return page
                lower.raise_to(after_folder, inclusive=True)
                seeked = True
                break
            page.objects.append(obj)
            last_emitted = ("o", obj.name)
            lower.raise_to(obj.name, inclusive=False)
        if seeked:
            batch = _FIRST_BATCH
        elif len(rows) < batch:
            return page
        else:
            batch = min(batch * 2, _MAX_BATCH)
