"""Share links: one file, or one folder (browsable, and as a zip), for anyone who has the link.

A link is ``/s/<token>``: 32 random bytes (``secrets.token_urlsafe``), of which only the SHA-256
is stored, so a copy of the database opens nothing. It may expire (hours to never), ask for a
password (hashed as Django hashes passwords; wrong guesses are throttled as sign-ins are) and
stop after a number of downloads (each file, or each zip, is one). The owner sees each bucket's
links with their download counts and revokes them. A revoked, expired or used-up link answers
a page that says so, never the bytes.
"""

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.hashers import check_password, make_password
from django.db.models import F, Q
from django.utils import timezone

from buckets.models import Bucket

from . import services
from .models import ShareLink

# What the form offers: (value, label, lifetime); None lives until revoked.
EXPIRY_CHOICES = (
    ("1h", "1 hour", timedelta(hours=1)),
    ("1d", "1 day", timedelta(days=1)),
    ("7d", "7 days", timedelta(days=7)),
    ("30d", "30 days", timedelta(days=30)),
    ("never", "Never", None),
)
MAX_DOWNLOADS = 1_000_000
PASSWORD_MAX = 128


class ShareRefused(Exception):
    """A link that cannot be made, with the reason as its message."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def share_create(
    *,
    bucket: Bucket,
    name: str,
    expiry: str,
    password: str = "",
    max_downloads: int | None = None,
) -> tuple[ShareLink, str]:
    """A new link to the file ``name`` or the folder ``name`` (ending in "/"); returns it and
    its token, which is never stored and so cannot be shown again."""
    lifetimes = {value: lifetime for value, _, lifetime in EXPIRY_CHOICES}
    if expiry not in lifetimes:
        raise ShareRefused("Choose when the link expires.")
    if len(password) > PASSWORD_MAX:
        raise ShareRefused(f"The password is longer than {PASSWORD_MAX} characters.")
    if max_downloads is not None and not 1 <= max_downloads <= MAX_DOWNLOADS:
        raise ShareRefused(f"The download limit is a number from 1 to {MAX_DOWNLOADS:,}.")
    if name.endswith("/"):
        if not services.objects_count_under(bucket=bucket, prefix=name, limit=1):
            raise ShareRefused(f"“{name}” holds nothing to share.")
    else:
        try:
            services.object_get(bucket=bucket, name=name)
        except services.ObjectNotFound:
            raise ShareRefused(f"There is no file named “{name}”.") from None
    token = secrets.token_urlsafe(32)
    lifetime = lifetimes[expiry]
    link = ShareLink.objects.create(
        bucket=bucket,
        name=name,
        token_hash=_digest(token),
        expires=timezone.now() + lifetime if lifetime else None,
        password_hash=make_password(password) if password else "",
        max_downloads=max_downloads,
    )
    return link, token


def share_find(token: str) -> ShareLink | None:
    """The link with this token, whatever its state (``share_state`` says it)."""
    if not token or len(token) > 100:
        return None
    return ShareLink.objects.select_related("bucket").filter(token_hash=_digest(token)).first()


def share_state(link: ShareLink) -> str:
    """ "ok", or why the link opens nothing: "revoked", "expired" or "used up"."""
    if link.revoked is not None:
        return "revoked"
    if link.expires is not None and link.expires <= timezone.now():
        return "expired"
    if link.max_downloads is not None and link.downloads >= link.max_downloads:
        return "used up"
    return "ok"


def share_password_ok(link: ShareLink, password: str) -> bool:
    return bool(link.password_hash) and check_password(password, link.password_hash)


def share_count_download(link: ShareLink) -> bool:
    """Count one download, if the link still allows one (one UPDATE: two downloads at once
    never both get the last one)."""
    now = timezone.now()
    allowed = (
        ShareLink.objects.filter(pk=link.pk, revoked__isnull=True)
        .filter(Q(expires__isnull=True) | Q(expires__gt=now))
        .filter(Q(max_downloads__isnull=True) | Q(downloads__lt=F("max_downloads")))
        .update(downloads=F("downloads") + 1, last_used=now)
    )
    link.refresh_from_db()
    return bool(allowed)


def share_revoke(link: ShareLink) -> None:
    ShareLink.objects.filter(pk=link.pk, revoked__isnull=True).update(revoked=timezone.now())
    link.refresh_from_db()


def share_covers(link: ShareLink, name: str) -> bool:
    """Whether the object ``name`` is what the link shares (the file, or under the folder)."""
    return name.startswith(link.name) if link.is_folder else name == link.name
