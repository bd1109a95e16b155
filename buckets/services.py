import re

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

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


def bucket_patch_labels(*, bucket: Bucket, labels: dict[str, str | None]) -> Bucket:
    """Merge labels (a None value removes a key) and bump the metageneration."""
    with transaction.atomic():
        bucket = Bucket.objects.select_for_update().get(pk=bucket.pk)
        bucket.labels = merge_map(bucket.labels, labels)
        bucket.metageneration += 1
        bucket.save(update_fields=["labels", "metageneration", "updated"])
    return bucket
