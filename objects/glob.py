"""GCS ``matchGlob`` patterns, compiled to RE2 regular expressions.

Syntax (GCS JSON API): ``*`` any run of characters without ``/``; ``**`` any run including
``/``; ``**/`` zero or more whole segments; ``?`` one character other than ``/``; ``[abc]``,
``[a-z]`` and ``[!a]`` character classes; ``{a,b}`` alternatives; ``\\`` escapes the next
character.

Budget: matching is linear in the name's length whatever the pattern. Python's ``re``
backtracks, and a pattern such as ``**?**?**?**?**?**?**?**#`` took 33 s against one
70-character name (x6 per extra ``**?``); RE2 runs an automaton instead (~5 us for that case).
Patterns are at most MAX_GLOB_LENGTH characters, which bounds the automaton's size too.
"""

from collections.abc import Callable

import re2

MAX_GLOB_LENGTH = 1024

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a client's bad pattern is a 400, not a line on stderr


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
            out.append(_literal(glob[pos + 1]))
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
            # The class's first character may be "]" itself ("[]a]", "[!]a]").
            first = pos + 2 if glob.startswith("[!", pos) else pos + 1
            end = glob.find("]", first + 1)
            if end < 0:
                raise InvalidGlob("matchGlob has an unclosed '['.")
            body = glob[pos + 1 : end]
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            escaped = "".join(c if c == "-" else _literal(c) for c in body)
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
            out.append(_literal(char))
            pos += 1
    if in_braces:
        raise InvalidGlob("matchGlob has an unclosed '{'.")
    return out, pos


def _literal(char: str) -> str:
    """One character, matched as itself (RE2 takes any code point written as \\x{...})."""
    return char if char.isascii() and char.isalnum() else f"\\x{{{ord(char):x}}}"


def compile_glob(glob: str) -> Callable[[str], bool]:
    """Return a predicate that tells whether a whole object name matches ``glob``."""
    if len(glob) > MAX_GLOB_LENGTH:
        raise InvalidGlob(f"matchGlob is longer than {MAX_GLOB_LENGTH} characters.")
    parts, _ = _parse(glob, 0, in_braces=False)
    try:
        pattern = re2.compile("(?s)" + "".join(parts), _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise InvalidGlob(f"matchGlob is not a valid pattern: {reason}") from None
    return lambda name: pattern.fullmatch(name) is not None
