"""API tokens: made and revoked in the pane, checked on every API request."""

import hashlib
import secrets
from datetime import timedelta
from functools import cache

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from objstore_site.db import ALIAS, JOINED, fetch_pair, fetch_row

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
def _active_token_tail(vendor: str, with_bucket: bool) -> str:
    # Hand-written, as objstore_site.db explains: this runs on every API request.
    quote = connection.ops.quote_name
    owner = ApiToken._meta.get_field("owner")
    users = owner.related_model._meta
    active = users.get_field("is_active").column
    join_bucket = ""
    if with_bucket:
        buckets = Bucket._meta
        bucket_owner = buckets.get_field("owner").column
        join_bucket = (
            f" LEFT JOIN {quote(buckets.db_table)} {JOINED}"
            f" ON {JOINED}.{quote(buckets.get_field('bucket_id').column)} = %s"
            f" AND {JOINED}.{quote(bucket_owner)} = {ALIAS}.{quote(owner.column)}"
        )
    return (
        f"JOIN {quote(users.db_table)} u"
        f" ON u.{quote(users.pk.column)} = {ALIAS}.{quote(owner.column)}{join_bucket}"
        f" WHERE {ALIAS}.{quote('token_hash')} = %s AND u.{quote(active)} = %s"
    )


def token_authenticate(secret: str) -> ApiToken | None:
    """The active token for ``secret``, or None. Marks it used (to the minute)."""
    if not secret:
        return None
    tail = _active_token_tail(connection.vendor, False)
    token = fetch_row(ApiToken, tail, [_digest(secret), True])
    return _mark_used(token) if token is not None else None


def token_authenticate_for_bucket(
    secret: str, bucket_id: str
) -> tuple[ApiToken, Bucket | None] | None:
    """token_authenticate, and in the same query the token owner's bucket ``bucket_id`` (None
    when the owner has no such bucket). An API call on a bucket needs both."""
    if not secret:
        return None
    tail = _active_token_tail(connection.vendor, True)
    found = fetch_pair(ApiToken, Bucket, tail, [bucket_id, _digest(secret), True])
    if found is None:
        return None
    return _mark_used(found[0]), found[1]


def _mark_used(token: ApiToken) -> ApiToken:
    now = timezone.now()
    if token.last_used is None or now - token.last_used > _LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)
        token.last_used = now
    return token


def token_revoke(*, token: ApiToken) -> None:
    token.delete()
