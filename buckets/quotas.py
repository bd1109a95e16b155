"""Quotas: an optional byte quota per user and an optional object limit per bucket.

Checked on every write path: the service layer's commit (pane and API uploads, copies, composes,
finished resumable uploads), before an upload's bytes are streamed (from its declared size), and
when a resumable session starts or grows, since a session's bytes take space for up to a week
before they become an object. Usage counts objects (every generation kept: live, noncurrent and
soft-deleted) and unfinished sessions together.

Usage is summed when a quota applies, not kept as counters: writes of users without a quota
cost nothing (one cached lookup), and no write contends on a shared counter row. The cost lies
with quota'd users: a SUM over their objects per write (~10 ms per 50,000 objects on SQLite),
and concurrent writes may overshoot a quota by what they write at the same moment.
"""

import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Sum
from django.template.defaultfilters import filesizeformat

from .models import Bucket, StorageQuota

_CACHE_SECONDS = 5.0
_cache: dict[int, tuple[float, int]] = {}
_cache_lock = threading.Lock()


class QuotaExceeded(Exception):
    pass


def user_quota(user_id: int) -> int:
    """The user's byte quota, 0 for none (cached for a few seconds per process)."""
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(user_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    row = StorageQuota.objects.filter(user_id=user_id).values_list("max_bytes", flat=True).first()
    quota = row if row is not None else settings.OBJSTORE_USER_QUOTA_BYTES
    with _cache_lock:
        _cache[user_id] = (now + _CACHE_SECONDS, quota)
    return quota


def forget_cached_quotas() -> None:
    with _cache_lock:
        _cache.clear()


@dataclass(frozen=True)
class Usage:
    object_bytes: int
    session_bytes: int

    @property
    def total(self) -> int:
        return self.object_bytes + self.session_bytes


def user_usage(user_id: int) -> Usage:
    from objects.models import Object, ObjectVersion, UploadSession

    objects = Object.objects.filter(bucket__owner_id=user_id).aggregate(total=Sum("size"))
    # Noncurrent and soft-deleted generations hold their bytes until they are gone for good.
    kept = ObjectVersion.objects.filter(bucket__owner_id=user_id).aggregate(total=Sum("size"))
    sessions = UploadSession.objects.filter(
        bucket__owner_id=user_id, completed_generation__isnull=True
    ).aggregate(total=Sum("received"))
    return Usage((objects["total"] or 0) + (kept["total"] or 0), sessions["total"] or 0)


def check_bytes(bucket: Bucket, added: int) -> None:
    """Refuse ``added`` more bytes in ``bucket``'s owner's buckets if they pass the quota."""
    if added <= 0:
        return
    quota = user_quota(bucket.owner_id)
    if quota <= 0:
        return
    usage = user_usage(bucket.owner_id)
    if usage.total + added > quota:
        raise QuotaExceeded(
            f"This would take your storage past its quota of {filesizeformat(quota)} "
            f"({filesizeformat(usage.total)} used, deleted files and old versions "
            "included until they are gone for good). Delete something first."
        )


def check_new_object(bucket: Bucket) -> None:
    """Refuse one more object in a bucket that has reached its object limit."""
    limit = bucket.max_objects
    if limit is None:
        return
    from objects.models import Object

    # Counts at most limit rows, whatever the bucket holds.
    count = len(Object.objects.filter(bucket=bucket).values_list("pk", flat=True)[:limit])
    if count >= limit:
        raise QuotaExceeded(
            f"The bucket {bucket.bucket_id} holds its limit of {limit} objects. Delete some first."
        )
