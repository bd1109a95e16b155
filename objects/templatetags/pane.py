"""Template helpers of the Objects pane."""

import hashlib

from django import template

register = template.Library()


def row_id(name: str) -> str:
    """A stable HTML id for the listing row of ``name`` (any object name: hashed, so that it is
    a valid id and a valid CSS selector whatever characters the name holds)."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:20]
    return f"row-{digest}"


register.filter("row_id", row_id)
