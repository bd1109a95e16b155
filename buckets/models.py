import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse


def new_bucket_id() -> str:
    """A bucket ID that is also a valid GCS bucket name (lowercase, digits and dashes, 45 chars)."""
    return f"objstore-{uuid.uuid4()}"


def default_soft_delete_seconds() -> int:
    """New buckets keep deleted objects this long (GCS's default: 7 days)."""
    return settings.OBJSTORE_SOFT_DELETE_SECONDS


class Bucket(models.Model):
    bucket_id = models.CharField(
        "bucket ID", max_length=63, unique=True, default=new_bucket_id, editable=False
    )
    name = models.CharField(max_length=100, help_text="Display name, unique per owner.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="buckets"
    )
    labels = models.JSONField(default=dict, blank=True)
    max_objects = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Most objects the bucket may hold (folders' placeholders too). Empty: no limit.",
    )
    versioning_enabled = models.BooleanField(
        "object versioning",
        default=False,
        help_text="Keep the previous generation of an object as noncurrent when it is replaced "
        "or deleted.",
    )
    soft_delete_seconds = models.BigIntegerField(
        "soft delete retention (seconds)",
        default=default_soft_delete_seconds,
        help_text="How long deleted objects stay recoverable; 0 turns soft delete off.",
    )
    soft_delete_effective = models.DateTimeField(null=True, blank=True, editable=False)
    # GCS's lifecycle.rule list, stored exactly as the client sent it (validated).
    lifecycle_rules = models.JSONField(default=list, blank=True)
    metageneration = models.BigIntegerField(default=1, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        # Case-insensitive, as the pane lists them ("alpha" before "Zebra").
        ordering = [Lower("name"), "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="bucket_unique_name_per_owner")
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("object_browser", args=[self.bucket_id])


class ApiToken(models.Model):
    """A credential for the GCS JSON API. Only a SHA-256 of the secret is stored; the secret
    itself is shown once, when the token is made."""

    PREFIX = "objstore_"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters of the secret, so a user can tell tokens apart in lists and logs.
    hint = models.CharField(max_length=16, editable=False)
    read_only = models.BooleanField(default=False)
    bucket = models.ForeignKey(
        Bucket,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="api_tokens",
        help_text="Limit the token to this bucket. Empty: all of the owner's buckets.",
    )
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"


class StorageQuota(models.Model):
    """How many bytes one user's buckets may hold (objects and unfinished uploads together).
    Users without one get ``OBJSTORE_USER_QUOTA_BYTES`` (0: unlimited)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="storage_quota"
    )
    max_bytes = models.BigIntegerField(
        help_text="Bytes this user's buckets may hold in all; 0 means unlimited."
    )

    def __str__(self) -> str:
        return f"{self.user}: {self.max_bytes} bytes"


class LoginFailure(models.Model):
    """One wrong password, counted against an account (its username, casefolded, whether or not
    such a user exists) and, in a second row, against the client's address. Kept in the
    database so that every gunicorn worker and app server sees the same counts; rows older than
    twice ``OBJSTORE_LOGIN_LOCKOUT`` are swept (``buckets.throttle``). Deleting an account's rows
    in the admin lifts its lockout."""

    ACCOUNT = "account"
    ADDRESS = "address"
    SCOPES = [(ACCOUNT, "account"), (ADDRESS, "address")]

    scope = models.CharField(max_length=8, choices=SCOPES)
    key = models.CharField(max_length=255, help_text="The username (casefolded) or the address.")
    at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["scope", "key", "at"], name="login_failure_lookup")]
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.scope} {self.key} at {self.at:%Y-%m-%d %H:%M:%S}"
