import re
from collections.abc import Callable

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import Bucket


def bucket_create(*, owner: AbstractBaseUser, name: str) -> Bucket:
    name = name.strip()
    if not name:
        raise ValidationError("Give the bucket a name.", code="required")
    if Bucket.objects.filter(owner=owner, name=name).exists():
        raise ValidationError(f"You already have a bucket named “{name}”.", code="duplicate")
    try:
        with transaction.atomic():
            return Bucket.objects.create(owner=owner, name=name)
    except IntegrityError:
        raise ValidationError(
            f"You already have a bucket named “{name}”.", code="duplicate"
        ) from None


_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")


class BucketNameTaken(Exception):
    def __init__(self, owned_by_caller: bool) -> None:
        super().__init__("bucket name taken")
        self.owned_by_caller = owned_by_caller


def validate_bucket_id(bucket_id: str) -> str:
    """GCS's bucket naming rules (the subset without dots-as-domains)."""
    if not _BUCKET_NAME.fullmatch(bucket_id) or ".." in bucket_id or bucket_id.startswith("goog"):
        raise ValidationError(
            "Bucket names must be 3-63 characters of lowercase letters, digits, '-', '_' and "
            "'.', and start and end with a letter or digit.",
            code="invalid_bucket_name",
        )
    return bucket_id


def bucket_create_with_id(
    *, owner: AbstractBaseUser, bucket_id: str, labels: dict[str, str] | None = None
) -> Bucket:
    """Create a bucket with a caller-chosen ID (the GCS API's bucket insert)."""
    validate_bucket_id(bucket_id)
    existing = Bucket.objects.filter(bucket_id=bucket_id).first()
    if existing is not None:
        raise BucketNameTaken(owned_by_caller=existing.owner_id == owner.pk)
    name = bucket_id
    if Bucket.objects.filter(owner=owner, name=name).exists():
        raise BucketNameTaken(owned_by_caller=True)
    try:
        with transaction.atomic():
            return Bucket.objects.create(
                owner=owner, bucket_id=bucket_id, name=name, labels=labels or {}
            )
    except IntegrityError:
        raise BucketNameTaken(owned_by_caller=False) from None


def merge_map(current: dict[str, str], patch: dict[str, object]) -> dict[str, str]:
    """GCS's patch semantics for labels and custom metadata: keys merge, None removes one."""
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(str(key), None)
        else:
            merged[str(key)] = str(value)
    return merged


# GCS accepts 0 (off) or 7 to 90 days; self-hosted, anything up to 90 days may make sense.
MAX_SOFT_DELETE_SECONDS = 90 * 24 * 3600


def validate_soft_delete_seconds(value: object) -> int:
    try:
        seconds = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ValidationError(
            "The soft delete retention must be a whole number of seconds.", code="soft_delete"
        ) from None
    if not 0 <= seconds <= MAX_SOFT_DELETE_SECONDS:
        raise ValidationError(
            f"The soft delete retention must be between 0 (off) and {MAX_SOFT_DELETE_SECONDS} "
            "seconds (90 days).",
            code="soft_delete",
        )
    return seconds


def bucket_update_settings(
    *,
    bucket: Bucket,
    labels: dict[str, str | None] | None = None,
    versioning: bool | None = None,
    soft_delete_seconds: int | None = None,
    lifecycle_rules: list[dict] | None = None,
    lifecycle_edit: Callable[[list[dict]], list[dict]] | None = None,
) -> Bucket:
    """Change a bucket's settings (None leaves one as it is) and bump its metageneration, in
    one transaction. ``lifecycle_rules`` must have been validated
    (``objects.lifecycle.validate_rules``); ``lifecycle_edit`` instead turns the rules as they
    are now, under the row lock, into new ones (so two edits at once never lose one), and
    returns them validated or raises; ``labels`` merge (a None value removes a key)."""
    with transaction.atomic():
        bucket = Bucket.objects.select_for_update().get(pk=bucket.pk)
        if labels is not None:
            bucket.labels = merge_map(bucket.labels, labels)
        if versioning is not None:
            bucket.versioning_enabled = bool(versioning)
        if soft_delete_seconds is not None:
            seconds = validate_soft_delete_seconds(soft_delete_seconds)
            if seconds != bucket.soft_delete_seconds:
                bucket.soft_delete_seconds = seconds
                bucket.soft_delete_effective = timezone.now()
        if lifecycle_rules is not None:
            bucket.lifecycle_rules = lifecycle_rules
        if lifecycle_edit is not None:
            bucket.lifecycle_rules = lifecycle_edit(list(bucket.lifecycle_rules))
        bucket.metageneration += 1
        bucket.save()
    return bucket
