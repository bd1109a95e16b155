"""Template helpers of the Objects pane."""

import hashlib
from datetime import UTC, datetime

from django import template
from django.utils.html import format_html

register = template.Library()


def row_id(name: str) -> str:
    """A stable HTML id for the listing row of ``name`` (any object name: hashed, so that it is
    a valid id and a valid CSS selector whatever characters the name holds)."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:20]
    return f"row-{digest}"


register.filter("row_id", row_id)


NAME_TAIL = 12
NAME_SPLIT_AT = 32


def name_parts(name: str) -> tuple[str, str]:
    """``name`` split into a head and a tail of its last ``NAME_TAIL`` characters, for a
    truncation in the middle: the listing lets the head end in an ellipsis (CSS) and always
    shows the tail, so that "report-2026-…-final.csv" keeps its end. A short name is all head."""
    if len(name) <= NAME_SPLIT_AT:
        return name, ""
    return name[:-NAME_TAIL], name[-NAME_TAIL:]


@register.filter
def middle_name(name: str) -> str:
    """The name as the listing shows it: a head span that may end in "…" and a tail span; the
    text (and so the accessible name) is the whole name."""
    head, tail = name_parts(name)
    if not tail:
        return format_html('<span class="name-head">{}</span>', head)
    return format_html(
        '<span class="name-head">{}</span><span class="name-tail">{}</span>', head, tail
    )


@register.filter
def when(value: datetime | None) -> str:
    """A ``<time>`` in UTC with the zone said ("2026-11-30 18:28 UTC"); pane.js rewrites its
    text into the browser's local time and zone."""
    if value is None:
        return ""
    utc = value.astimezone(UTC)
    return format_html(
        '<time datetime="{}">{}</time>', utc.isoformat(), utc.strftime("%Y-%m-%d %H:%M UTC")
    )
