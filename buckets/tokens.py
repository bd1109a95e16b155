"""API tokens: made and revoked in the pane, checked on every API request."""

import hashlib
import secrets
from datetime import timedelta
from functools import cache

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from objstore_site.db import ALIAS, fetch_row

from .models import ApiToken, Bucket

# Writing last_used on every request would turn each read into a write; a minute is precise
# enough to tell a user whether a token is still in use.
_LAST_USED_PRECISION = timedelta(minutes=1)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def token_create(
    *,
    owner: AbstractBaseUser,
    name: str,
    read_only: bool = False,
    bucket: Bucket | None = None,
) -> tuple[ApiToken, str]:
    """Make a token; returns it with its secret, which is never stored and cannot be shown again."""
    name = name.strip()
    if not name:
        raise ValidationError("Give the token a name.", code="required")
    if bucket is not None and bucket.owner_id != owner.pk:
        raise ValidationError("That bucket is not yours.", code="foreign_bucket")
    secret = ApiToken.PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        owner=owner,
        name=name,
        read_only=read_only,
        bucket=bucket,
        token_hash=_digest(secret),
        hint=secret[: len(ApiToken.PREFIX) + 4],
    )
    return token, secret


@cache
def _active_token_tail(vendor: str) -> str:
    quote = connection.ops.quote_name
    owner = ApiToken._meta.get_field("owner")
    users = owner.related_model._meta
    active = users.get_field("is_active").column
    return (
        f"JOIN {quote(users.db_table)} u"
        f" ON u.{quote(users.pk.column)} = {ALIAS}.{quote(owner.column)}"
        f" WHERE {ALIAS}.{quote('token_hash')} = %s AND u.{quote(active)} = %s"
    )


def token_authenticate(secret: str) -> ApiToken | None:
    """The active token for ``secret``, or None. Marks it used (to the minute)."""
    if not secret:
        return None
    # Hand-written, as objstore_site.db explains: this runs on every API request.
    tail = _active_token_tail(connection.vendor)
    token = fetch_row(ApiToken, tail, [_digest(secret), True])
    if token is None:
        return None
    now = timezone.now()
    if token.last_used is None or now - token.last_used > _LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)
        token.last_used = now
    return token


def token_revoke(*, token: ApiToken) -> None:
    token.delete()
