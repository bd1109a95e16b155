"""Partial responses: the ``fields`` parameter of Google's JSON APIs.

``fields=items(name,size),nextPageToken`` keeps only those members: ``a/b`` selects ``b`` inside
``a``, ``a(b,c)`` selects ``b`` and ``c`` inside ``a`` (inside each element when ``a`` is a
list), ``*`` every member. Clients such as Google's Go client ask for partial listings; answering
with everything would work too, but costs bytes on every page.

Budget: the selection is parsed once per request, at most 2,048 characters and 16 levels deep.
"""

from typing import Any

MAX_LENGTH = 2048
MAX_DEPTH = 16

# A selection: member name -> the selection inside it (None: the whole member).
Selection = dict[str, "Selection | None"]


class InvalidFields(ValueError):
    pass


def parse(text: str) -> Selection:
    if len(text) > MAX_LENGTH:
        raise InvalidFields(f"fields is longer than {MAX_LENGTH} characters.")
    selection, position = _list(text, 0, 0)
    if position != len(text):
        raise InvalidFields(f"Invalid field selection {text!r}.")
    return selection


def _list(text: str, position: int, depth: int) -> tuple[Selection, int]:
    if depth > MAX_DEPTH:
        raise InvalidFields("fields is nested too deeply.")
    selection: Selection = {}
    while True:
        path, position = _path(text, position)
        inner: Selection | None = None
        if position < len(text) and text[position] == "(":
            inner, position = _list(text, position + 1, depth + 1)
            if position >= len(text) or text[position] != ")":
                raise InvalidFields(f"Invalid field selection {text!r}: unclosed '('.")
            position += 1
        _merge(selection, path, inner)
        if position < len(text) and text[position] == ",":
            position += 1
            continue
        return selection, position


def _path(text: str, position: int) -> tuple[list[str], int]:
    names = []
    while True:
        start = position
        while position < len(text) and text[position] not in ",()/":
            position += 1
        name = text[start:position].strip()
        if not name:
            raise InvalidFields(f"Invalid field selection {text!r}.")
        names.append(name)
        if position < len(text) and text[position] == "/":
            position += 1
            continue
        return names, position


def _merge(selection: Selection, path: list[str], inner: Selection | None) -> None:
    head, rest = path[0], path[1:]
    if not rest:
        if head in selection and selection[head] is not None and inner is not None:
            selection[head].update(inner)  # type: ignore[union-attr]
        elif head not in selection or inner is None:
            selection[head] = inner
        return
    below = selection.get(head)
    if head in selection and below is None:
        return  # the whole member is selected already
    if below is None:
        below = selection[head] = {}
    _merge(below, rest, inner)


def apply(data: Any, selection: Selection | None) -> Any:
    """``data`` with only the selected members (lists: each element)."""
    if selection is None:
        return data
    if isinstance(data, list):
        return [apply(item, selection) for item in data]
    if not isinstance(data, dict):
        return data
    if "*" in selection:
        return {key: apply(value, selection["*"]) for key, value in data.items()}
    return {key: apply(data[key], inner) for key, inner in selection.items() if key in data}
