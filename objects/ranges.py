"""One ``Range: bytes=...`` header, as the API's downloads and the pane's media previews read it."""

import re

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Unsatisfiable(Exception):
    """A range that starts past the end (416)."""


def requested_range(header: str, size: int) -> tuple[int, int] | None:
    """The first and last byte a ``Range`` header asks for, within ``size``; None for the
    whole object (no header, or one that is not a single byte range, which is ignored, as
    RFC 9110 allows); Unsatisfiable when it starts past the end."""
    match = _RANGE.match(header.replace(" ", ""))
    if not match or not (match.group(1) or match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if first:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    else:  # the last N bytes
        start = max(size - int(last), 0)
        end = size - 1
    if first and last and int(last) < start:
        return None  # not a valid range: ignored (RFC 9110), the whole object
    if start >= size:
        raise Unsatisfiable
    return start, end
