"""Object-name rules (GCS's) and the bytewise ordering helpers that listing relies on."""

from django.core.exceptions import ValidationError

MAX_NAME_BYTES = 1024
_FORBIDDEN_PREFIX = ".well-known/acme-challenge/"


class InvalidObjectName(ValidationError):
    pass


def validate_object_name(name: str) -> str:
    """Return ``name`` if GCS would accept it as an object name, else raise InvalidObjectName.

    Names are opaque strings: ``../x`` and ``/etc/passwd`` are valid names. They never touch the
    filesystem, because blobs are stored at keys the service layer generates.
    """
    if not isinstance(name, str) or name == "":
        raise InvalidObjectName("Object name is required.", code="empty")
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidObjectName("Object name must be valid Unicode.", code="encoding") from None
    if len(encoded) > MAX_NAME_BYTES:
        raise InvalidObjectName(
            f"Object name is {len(encoded)} bytes of UTF-8; the limit is {MAX_NAME_BYTES}.",
            code="too_long",
        )
    if "\r" in name or "\n" in name:
        raise InvalidObjectName(
            "Object name cannot contain carriage return or line feed characters.", code="newline"
        )
    if "\x00" in name:
        raise InvalidObjectName("Object name cannot contain the NUL character.", code="nul")
    if name in {".", ".."}:
        raise InvalidObjectName('Object name cannot be "." or "..".', code="dots")
    if name.startswith(_FORBIDDEN_PREFIX):
        raise InvalidObjectName(
            f'Object name cannot start with "{_FORBIDDEN_PREFIX}".', code="reserved"
        )
    return name


def successor(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with ``prefix``.

    Code-point order equals UTF-8 byte order, so this is also the bound for a bytewise index
    scan: ``prefix <= name < successor(prefix)`` selects exactly the names under ``prefix``.
    Returns None when no such string exists (``prefix`` is all U+10FFFF), meaning "no bound".
    """
    stripped = prefix.rstrip("\U0010ffff")
    if not stripped:
        return None
    last = ord(stripped[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:  # surrogates are not characters; skip the block
        last = 0xE000
    return stripped[:-1] + chr(last)
