"""The pane's folder pages: one folder's subfolders and files, sorted the way a file manager
sorts them, paged by a cursor, for folders of any size.

Subfolders come first, in natural name order (reversed when the files are sorted by name,
descending); then the files by name, size, type or date. Both read the ``object_by_*`` indexes
(``objects.sortkeys`` explains the keys): a subfolder costs one row of an index seek, a page of
files one range query, so a page of a folder of 100,000 files reads about as many rows as it
shows. The API's listings stay in GCS's byte order (``objects.listing``).
"""

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection

from buckets.models import Bucket
from objstore_site.db import ALIAS, fetch_first, fetch_values

from . import sortkeys
from .listing import _LISTED_FIELDS, InvalidPageToken, ListedObject, objects_list
from .models import Object

# The sort orders a folder page offers: the column after (bucket, folder_key) in its index.
SORTS = {"name": None, "size": "size", "type": "content_type", "date": "updated"}
# A folder's own placeholder ("photos/" inside "photos/") is the folder, not one of its files.
_PLACEHOLDER_KEY = sortkeys.segment_key("")


@dataclass
class FolderPage:
    folders: list[str] = field(default_factory=list)
    files: list[ListedObject] = field(default_factory=list)
    next_page_token: str | None = None
    # False when the folder's path is too long for its sort keys (objects.sortkeys): the page
    # is then in byte order, whatever the sort asked for.
    sorted: bool = True
    # Whether every subfolder of the folder is on this page or an earlier one.
    folders_done: bool = False


def _encode(state: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def _decode(token: str, sort: str, descending: bool) -> dict:
    try:
        state = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidPageToken("The page token is not valid.") from None
    if (
        not isinstance(state, dict)
        or state.get("s") != sort
        or state.get("d") != descending
        or not (isinstance(state.get("f"), str) or isinstance(state.get("o"), list))
    ):
        raise InvalidPageToken("The page token is not valid.")
    return state


def folder_page(
    *,
    bucket: Bucket,
    prefix: str,
    sort: str = "name",
    descending: bool = False,
    limit: int = 100,
    page_token: str = "",
) -> FolderPage:
    """One page of the folder ``prefix`` ("" or ending with "/"). Raises InvalidPageToken for a
    token that is not one of this folder's and sort's."""
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}")
    if not sortkeys.sortable_folder(prefix) or "\x00" in prefix:
        page = objects_list(
            bucket=bucket, prefix=prefix, delimiter="/", max_results=limit, page_token=page_token
        )
        files = [obj for obj in page.objects if obj.name != prefix]
        return FolderPage(page.prefixes, files, page.next_page_token, sorted=False)

    state = _decode(page_token, sort, descending) if page_token else {}
    page = FolderPage()
    base = sortkeys.folder_key(prefix)
    if "o" not in state:
        folders_descending = descending and sort == "name"
        scan = _Subfolders(bucket, prefix, base, folders_descending, state.get("f"))
        for folder in scan:
            if len(page.folders) == limit:
                page.next_page_token = _encode({"s": sort, "d": descending, "f": page.folders[-1]})
                return page
            page.folders.append(folder)
    page.folders_done = True
    files = _files(bucket, base, sort, descending, state.get("o"), limit - len(page.folders) + 1)
    if len(page.folders) + len(files) > limit:
        files = files[: limit - len(page.folders)]
        if files:
            last = files[-1]
            column = SORTS[sort]
            cursor: list[Any] = [last.name_key, last.pk]
            if column is not None:
                value = getattr(last, column)
                cursor.insert(0, value.isoformat() if isinstance(value, datetime) else value)
            page.next_page_token = _encode({"s": sort, "d": descending, "o": cursor})
        else:  # the page is full of folders and files follow
            page.next_page_token = _encode({"s": sort, "d": descending, "f": page.folders[-1]})
    page.files = files
    return page


def _files(
    bucket: Bucket, base: str, sort: str, descending: bool, after: list | None, limit: int
) -> list[ListedObject]:
    """Up to ``limit`` files directly in the folder whose key is ``base``, in sort order, after
    the cursor ``after`` ([value,] name_key, id): one range of an ``object_by_*`` index."""
    column = SORTS[sort]
    order = ([column] if column else []) + ["name_key", "id"]
    quote = connection.ops.quote_name
    columns = [f"{ALIAS}.{quote(Object._meta.get_field(name).column)}" for name in order]
    where = _files_in()
    params: list[Any] = [bucket.pk, base, _PLACEHOLDER_KEY]
    if after is not None:
        # A row value comparison: both databases seek the index to it.
        marks = ", ".join(["%s"] * len(order))
        where += f" AND ({', '.join(columns)}) {'<' if descending else '>'} ({marks})"
        params += _cursor(after, sort, len(order))
    direction = " DESC" if descending else ""
    order_by = ", ".join(f"{column}{direction}" for column in columns)
    rows = fetch_values(
        Object,
        (*_LISTED_FIELDS, "name_key", "id"),
        f"{where} ORDER BY {order_by} LIMIT %s",
        [*params, limit],
    )
    listed = []
    for row in rows:
        obj = ListedObject(bucket, *row[:-2])
        obj.name_key, obj.pk = row[-2], row[-1]
        listed.append(obj)
    return listed


def _files_in() -> str:
    """``WHERE`` the row (as ``r``) is a file directly in a folder; its parameters: the bucket's
    pk, the folder's key and ``_PLACEHOLDER_KEY``."""
    quote = connection.ops.quote_name
    bucket = quote(Object._meta.get_field("bucket").column)
    return (
        f"WHERE {ALIAS}.{bucket} = %s AND {ALIAS}.{quote('folder_key')} = %s"
        f" AND {ALIAS}.{quote('name_key')} <> %s"
    )


def _cursor(after: list, sort: str, width: int) -> list[Any]:
    """The token's cursor as query parameters, checked: it comes from the user's URL."""
    if len(after) != width or not isinstance(after[-2], str) or type(after[-1]) is not int:
        raise InvalidPageToken("The page token is not valid.")
    params = list(after)
    if sort == "date":
        params[0] = _cursor_datetime(params[0])
    elif sort == "size" and type(params[0]) is not int:
        raise InvalidPageToken("The page token is not valid.")
    elif sort == "type" and not isinstance(params[0], str):
        raise InvalidPageToken("The page token is not valid.")
    if any("\x00" in p for p in params if isinstance(p, str)):
        raise InvalidPageToken("The page token is not valid.")
    return params


def _cursor_datetime(value: Any) -> Any:
    if not isinstance(value, str):
        raise InvalidPageToken("The page token is not valid.")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidPageToken("The page token is not valid.") from None
    return connection.ops.adapt_datetimefield_value(moment)


class _Subfolders:
    """The subfolders of a folder in natural order, found by seeking through the
    (bucket, folder_key, ...) index: each query reads the first row past the previous
    subfolder's whole subtree, and that row names the next subfolder."""

    def __init__(
        self, bucket: Bucket, prefix: str, base: str, descending: bool, after: str | None
    ) -> None:
        self.bucket, self.prefix, self.descending = bucket, prefix, descending
        # The range still to read: keys above ``low`` (or at it, once past a subfolder, when
        # ascending) and below ``high`` (None: no bound, at the root).
        self.low, self.low_inclusive = base, False
        self.high = sortkeys.after(base) if base else None
        self.resume = after
        quote = connection.ops.quote_name
        self._select = (
            f"SELECT {quote('name')} FROM {quote(Object._meta.db_table)}"
            f" WHERE {quote(Object._meta.get_field('bucket').column)} = %s"
        )
        self._key = quote("folder_key")

    def __iter__(self):
        if self.resume is not None:
            if not self.resume.startswith(self.prefix) or not self.resume.endswith("/"):
                raise InvalidPageToken("The page token is not valid.")
            yield from self._group_rest(self.resume)
            self._pass(sortkeys.folder_key(self.resume))
        while (name := self._next_name()) is not None:
            folder = self._folder_of(name)
            if sortkeys.is_cut(folder):
                yield from self._group(sortkeys.folder_key(folder))
            else:
                yield folder
            self._pass(sortkeys.folder_key(folder))

    def _folder_of(self, name: str) -> str:
        return self.prefix + name[len(self.prefix) :].split("/", 1)[0] + "/"

    def _next_name(self) -> str | None:
        sql = self._select + f" AND {self._key} {'>=' if self.low_inclusive else '>'} %s"
        params: list[Any] = [self.bucket.pk, self.low]
        if self.high is not None:
            sql += f" AND {self._key} < %s"
            params.append(self.high)
        sql += f" ORDER BY {self._key}{' DESC' if self.descending else ''} LIMIT 1"
        row = fetch_first(sql, params)
        return row[0] if row else None

    def _pass(self, key: str) -> None:
        """Go on past the subtree of the subfolder whose key is ``key``."""
        if self.descending:
            self.high = key
        else:
            self.low, self.low_inclusive = sortkeys.after(key), True

    def _group(self, key: str) -> list[str]:
        """The subfolders whose keys were cut to the same ``key`` (objects.sortkeys; only for
        paths far longer than real ones): every row of that key read, the folders ordered by
        their whole keys."""
        names = Object.objects.filter(bucket=self.bucket, folder_key=key).values_list(
            "name", flat=True
        )
        folders = {self._folder_of(name) for name in names}
        return sorted(folders, key=sortkeys.whole_folder_key, reverse=self.descending)

    def _group_rest(self, resume: str) -> list[str]:
        """After a page that ended on ``resume``: the rest of its group, if its key was cut."""
        if not sortkeys.is_cut(resume):
            return []
        group = self._group(sortkeys.folder_key(resume))
        return group[group.index(resume) + 1 :] if resume in group else []


# "100 of 250": a folder's entries are counted while it holds at most this many files and this
# many subfolders (a count reads an index range of the files and seeks once per subfolder); a
# bigger folder says "more below" instead.
COUNT_FILES_LIMIT = 10_000
COUNT_FOLDERS_LIMIT = 100


def entry_count(
    *, bucket: Bucket, prefix: str, folders: int | None = None, folders_at_least: int = 0
) -> int | None:
    """How many subfolders and files are directly in ``prefix``, as its pages show them, or
    None when there are more than the limits above (or its keys cannot say: see FolderPage).
    ``folders``: the number of subfolders when the caller knows it (a first page that showed
    them all); ``folders_at_least``: how many it has seen (a first page full of them)."""
    if not sortkeys.sortable_folder(prefix) or "\x00" in prefix:
        return None
    if folders is None and folders_at_least > COUNT_FOLDERS_LIMIT:
        return None
    base = sortkeys.folder_key(prefix)
    table = connection.ops.quote_name(Object._meta.db_table)
    (files,) = fetch_first(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} {ALIAS} {_files_in()} LIMIT %s) counted",
        [bucket.pk, base, _PLACEHOLDER_KEY, COUNT_FILES_LIMIT + 1],
    )
    if files > COUNT_FILES_LIMIT:
        return None
    if folders is None:
        folders = 0
        for _ in _Subfolders(bucket, prefix, base, descending=False, after=None):
            folders += 1
            if folders > COUNT_FOLDERS_LIMIT:
                return None
    return files + folders
