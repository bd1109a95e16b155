"""Template helpers of the Objects pane."""

import hashlib
from datetime import UTC, datetime
from html import escape  # what django.utils.html.escape calls, without its lazy-string checks
from urllib.parse import quote

from django import template
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.template.defaulttags import CsrfTokenNode
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

from ..thumbnails import has_thumbnail

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
def middle_name(name: str) -> SafeString:
    """The name as the listing shows it: a head span that may end in "…" and a tail span; the
    text (and so the accessible name) is the whole name."""
    return mark_safe(_middle_name(name))


def _middle_name(name: str) -> str:
    head, tail = name_parts(name)
    if not tail:
        return f'<span class="name-head">{escape(head)}</span>'
    return (
        f'<span class="name-head">{escape(head)}</span>'
        f'<span class="name-tail">{escape(tail)}</span>'
    )


@register.filter
def when(value: datetime | None) -> SafeString:
    """A ``<time>`` in UTC with the zone said ("2026-11-30 18:28 UTC"); pane.js rewrites its
    text into the browser's local time and zone."""
    return mark_safe(_when(value))


_UNITS = ((1 << 50, "PB"), (1 << 40, "TB"), (1 << 30, "GB"), (1 << 20, "MB"), (1 << 10, "KB"))


def _size_in_english(size: int) -> str:
    """Django's ``filesizeformat`` of ``size`` in English, without thousands separators
    (tests/test_object_views.py checks it against Django's): the same text, without its ~9 us
    of translation and localization."""
    if size < 0:
        return "-" + _size_in_english(-size)
    for unit, label in _UNITS:
        if size >= unit:
            return f"{round(size / unit, 1):.1f}\xa0{label}"
    return f"{size}\xa0byte" if size == 1 else f"{size}\xa0bytes"


def size_formatter():
    """How the page writes sizes: Django's ``filesizeformat``, escaped, or its English when
    English is the language (the same text, ~10x faster)."""
    if get_language() in ("en", "en-us") and not settings.USE_THOUSAND_SEPARATOR:
        return _size_in_english
    return lambda size: escape(filesizeformat(size))


def _when(value: datetime | None) -> str:
    if value is None:
        return ""
    stamp = value.astimezone(UTC).isoformat()  # 2026-11-30T18:28:05+00:00: nothing to escape
    return f'<time datetime="{stamp}">{stamp[:10]} {stamp[11:16]} UTC</time>'


# ---- the listing's rows -----------------------------------------------------------------------
#
# A folder page shows up to 100 rows of ~22 values each. Through the template language each
# value costs ~10 us (variable lookup, filters, escaping, the autoescape checks), ~0.35 ms a row
# and most of the page's time. These functions write the same markup (the template's, line for
# line) with every value escaped (``html.escape``, which Django's own escape calls).

_FOLDER_ROW = """
      <tr class="folder-row" id="{row_id}" draggable="true" data-move-to="{prefix}">
        <td class="select-cell"><input type="checkbox" class="select-row" form="bulk-form" name="folders" value="{prefix}" aria-label="Select folder {label}"></td>
        <td class="name">
          <a href="{browse}?prefix={quoted}" class="folder-link name-cell" aria-label="{label}">
            <svg aria-hidden="true" width="18" height="18"><use href="#icon-folder"></use></svg>
            <span class="object-name-folder" title="{prefix}">{middle}</span>
          </a>
        </td>
        <td class="num muted">—</td>
        <td class="hide-narrow muted">Folder</td>
        <td class="hide-narrow muted">—</td>
        <td class="actions-cell"><div class="row-actions">
          <a class="icon-button" href="{zip}?prefix={quoted}" aria-label="Download {label} as a zip" title="Download as a zip">
            <svg aria-hidden="true" width="18" height="18"><use href="#icon-download"></use></svg>
          </a>
          <a class="icon-button move-action" href="{move}?folder={quoted}" aria-label="Rename or move {label}" title="Rename or move">
            <svg aria-hidden="true" width="18" height="18"><use href="#icon-move"></use></svg>
          </a>
{delete_form}"""  # noqa: E501

_FILE_ROW = """
      <tr class="file-row" id="{row_id}" draggable="true" data-name="{name}">
        <td class="select-cell"><input type="checkbox" class="select-row" form="bulk-form" name="names" value="{name}" aria-label="Select {basename}"></td>
        <td class="name">
          <div class="name-cell">
            {icon}
            <a class="object-name" aria-label="{basename}" href="{details}?name={quoted}" title="{name}">{middle}</a>
          </div>
        </td>
        <td class="num">{size}</td>
        <td class="hide-narrow muted type">{content_type}</td>
        <td class="hide-narrow muted">{when}</td>
        <td class="actions-cell"><div class="row-actions">
          <a class="icon-button" href="{download}?name={quoted}" aria-label="Download {basename}" title="Download" download>
            <svg aria-hidden="true" width="18" height="18"><use href="#icon-download"></use></svg>
          </a>
          <a class="icon-button versions-action" href="{versions}?name={quoted}" aria-label="Versions of {basename}" title="Versions">{history}</a>
{delete_form}"""  # noqa: E501 (the template's lines, as they were)

_FILE_ICON = '<svg aria-hidden="true" width="18" height="18"><use href="#icon-file"></use></svg>'
# An image's own thumbnail instead (objects/thumbnails.py); pane.js puts the icon back if the
# file has none after all.
_THUMBNAIL = (
    '<img class="thumb" src="{thumb}?name={quoted}&amp;generation={generation}" alt="" '
    'width="24" height="24" loading="lazy" decoding="async">'
)

# Each row's trashcan: a form that posts the row's name (its answer is the confirmation).
_DELETE_FORM = """          <form method="post" action="{action}"
                hx-post="{action}" hx-target="closest tr" hx-swap="outerHTML"
                hx-disabled-elt="find button">
            {csrf}
            <input type="hidden" name="{field}" value="{value}">
            <input type="hidden" name="prefix" value="{current}">
            {view_inputs}
            <button type="submit" class="icon-button danger" aria-label="Delete {label}" title="{title}">{trash}</button>
          </form>
        </div></td>
      </tr>
      """  # noqa: E501

_TRASH = '<svg aria-hidden="true" width="18" height="18"><use href="#icon-trash"></use></svg>\n'
_HISTORY = '<svg aria-hidden="true" width="18" height="18"><use href="#icon-history"></use></svg>\n'


@register.simple_tag(takes_context=True)
def listing_rows(context: template.Context) -> SafeString:
    """The folder rows, then the file rows, of the page in ``context``."""
    urls = context["urls"]
    common = {
        "csrf": CsrfTokenNode().render(context),
        "current": escape(context["prefix"]),
        "view_inputs": conditional_escape(context["view_inputs"]),
        "trash": _TRASH,
    }
    parts = []
    folder_delete, browse = escape(urls["folder_delete"]), escape(urls["browse"])
    zip_url, move_url = escape(urls["zip"]), escape(urls["folder_move"])
    for folder in context["folders"]:
        label, prefix = escape(folder.label), escape(folder.prefix)
        parts.append(
            _FOLDER_ROW.format(
                row_id=row_id(folder.prefix),
                browse=browse,
                zip=zip_url,
                move=move_url,
                quoted=escape(quote(folder.prefix, safe="")),
                label=label,
                prefix=prefix,
                middle=_middle_name(folder.label),
                delete_form=_DELETE_FORM.format(
                    action=folder_delete,
                    field="folder",
                    value=prefix,
                    label=label,
                    title="Delete folder",
                    **common,
                ),
            )
        )
    parts.append("\n      ")  # the template's whitespace between its two loops
    versions, download, delete, details, thumb = (
        escape(urls[key]) for key in ("versions", "download", "delete", "details", "thumbnail")
    )
    size_text = size_formatter()
    for obj in context["files"]:
        basename, name = escape(obj.basename), escape(obj.name)
        quoted = escape(quote(obj.name, safe=""))
        parts.append(
            _FILE_ROW.format(
                row_id=row_id(obj.name),
                basename=basename,
                versions=versions,
                details=details,
                download=download,
                quoted=quoted,
                name=name,
                icon=(
                    _THUMBNAIL.format(thumb=thumb, quoted=quoted, generation=obj.generation)
                    if has_thumbnail(obj.content_type, obj.size)
                    else _FILE_ICON
                ),
                middle=_middle_name(obj.basename),
                size=size_text(obj.size),
                content_type=escape(obj.content_type),
                when=_when(obj.updated),
                history=_HISTORY,
                delete_form=_DELETE_FORM.format(
                    action=delete,
                    field="name",
                    value=name,
                    label=basename,
                    title="Delete",
                    **common,
                ),
            )
        )
    return mark_safe("".join(parts))  # every value above is escaped
