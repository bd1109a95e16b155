"""What the logs may show of a request's path (no Django here: gunicorn's settings import it)."""


def without_secrets(path: str) -> str:
    """``path`` as the logs show it: a share link's token (``/s/<token>``) opens what it
    shares, so only its first characters are kept."""
    if path.startswith("/s/"):
        token, _, rest = path[3:].partition("/")
        return f"/s/{token[:4]}..." + (f"/{rest}" if rest else "")
    return path
