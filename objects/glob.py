"""GCS ``matchGlob`` patterns, compiled to Python regular expressions.

Syntax (GCS JSON API): ``*`` any run of characters without ``/``; ``**`` any run including
``/``; ``**/`` zero or more whole segments; ``?`` one character other than ``/``; ``[abc]``,
``[a-z]`` and ``[!a]`` character classes; ``{a,b}`` alternatives; ``\\`` escapes the next
character.
"""

import re
from collections.abc import Callable


class InvalidGlob(ValueError):
    pass


def _parse(glob: str, pos: int, in_braces: bool) -> tuple[list[str], int]:
    """Translate from ``pos`` until the end, or until an unnested ``,``/``}`` inside braces."""
    out: list[str] = []
    n = len(glob)
    while pos < n:
        char = glob[pos]
        if in_braces and char in ",}":
            return out, pos
        if char == "\\":
            if pos + 1 >= n:
                raise InvalidGlob("matchGlob ends with an unfinished escape.")
            out.append(re.escape(glob[pos + 1]))
            pos += 2
        elif char == "*":
            if glob.startswith("**/", pos):
                out.append("(?:.*/)?")
                pos += 3
            elif glob.startswith("**", pos):
                out.append(".*")
                pos += 2
            else:
                out.append("[^/]*")
                pos += 1
        elif char == "?":
            out.append("[^/]")
            pos += 1
        elif char == "[":
            end = glob.find("]", pos + 2 if glob.startswith("[!", pos) else pos + 1)
            if end < 0:
                raise InvalidGlob("matchGlob has an unclosed '['.")
            body = glob[pos + 1 : end]
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            escaped = "".join("\\" + c if c in "\\^[]" else c for c in body)
            out.append(f"[{'^' if negate else ''}{escaped}]")
            pos = end + 1
        elif char == "{":
            alternatives: list[str] = []
            pos += 1
            while True:
                parts, pos = _parse(glob, pos, in_braces=True)
                alternatives.append("".join(parts))
                if pos >= n:
                    raise InvalidGlob("matchGlob has an unclosed '{'.")
                if glob[pos] == "}":
                    pos += 1
                    break
                pos += 1  # the comma
            out.append("(?:" + "|".join(alternatives) + ")")
        else:
            out.append(re.escape(char))
            pos += 1
    if in_braces:
        raise InvalidGlob("matchGlob has an unclosed '{'.")
    return out, pos


def compile_glob(glob: str) -> Callable[[str], bool]:
    """Return a predicate that tells whether a whole object name matches ``glob``."""
    parts, _ = _parse(glob, 0, in_braces=False)
    try:
        pattern = re.compile("".join(parts), re.DOTALL)
    except re.error as exc:
        raise InvalidGlob(f"matchGlob is not a valid pattern: {exc}") from None
    return lambda name: pattern.fullmatch(name) is not None
