"""Template helpers for buckets: the order every page lists them in, and their IDs."""

from collections.abc import Iterable

from django import template
from django.utils.html import format_html_join
from django.utils.safestring import SafeString, mark_safe

from ..models import Bucket

register = template.Library()


@register.filter
def by_name(buckets: Iterable[Bucket]) -> list[Bucket]:
    """``buckets`` in the one order the sidebar and the bucket list share: by name, whatever
    the case ("alpha" before "Zebra"), then oldest first. Sorted here, not by the database:
    the model's ordering compares case, and a query that counts (the list's) drops it."""
    return sorted(buckets, key=lambda bucket: (bucket.name.casefold(), bucket.pk))


@register.filter
def break_after_hyphens(value: str) -> SafeString:
    """``value`` (escaped) with a line break allowed after each hyphen and nowhere else, so
    that a bucket ID too long for its card wraps between two of its groups: browsers do not
    break between a hyphen and a digit on their own."""
    return format_html_join(mark_safe("-<wbr>"), "{}", ((part,) for part in value.split("-")))
