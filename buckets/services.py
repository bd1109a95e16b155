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
