"""What the logs may show of a request's path (no Django here: gunicorn's settings import it)."""

import logging
import re

# A share link's token in any text: "/s/" and at least 20 characters of the token alphabet.
_TOKEN = re.compile(r"(/s/[A-Za-z0-9_-]{4})[A-Za-z0-9_-]{16,}")


def without_secrets(path: str) -> str:
    """``path`` as the logs show it: a share link's token (``/s/<token>``) opens what it
    shares, so only its first characters are kept."""
    if path.startswith("/s/"):
        token, _, rest = path[3:].partition("/")
        return f"/s/{token[:4]}..." + (f"/{rest}" if rest else "")
    return path


class HideShareTokens(logging.Filter):
    """On the console handler: any record (Django's "Forbidden: /s/<token>" lines, say) keeps
    only the first characters of a share link's token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "/s/" in record.msg:
            record.msg = _TOKEN.sub(r"\1...", record.msg)
        if isinstance(record.args, tuple) and any("/s/" in str(arg) for arg in record.args):
            record.args = tuple(
                _TOKEN.sub(r"\1...", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True
