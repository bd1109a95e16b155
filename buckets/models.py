import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse


def new_bucket_id() -> str:
    """A bucket ID that is also a valid GCS bucket name (lowercase, digits and dashes, 45 chars)."""
    return f"objstore-{uuid.uuid4()}"


class Bucket(models.Model):
    bucket_id = models.CharField(
        "bucket ID", max_length=63, unique=True, default=new_bucket_id, editable=False
    )
    name = models.CharField(max_length=100, help_text="Display name, unique per owner.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="buckets"
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="bucket_unique_name_per_owner")
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("object_browser", args=[self.bucket_id])
