import json

from django import forms
from django.contrib import admin
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.utils.html import format_html

from objects import services
from objects.models import ObjectVersion

from . import quotas
from .models import ApiToken, Bucket, LoginFailure, StorageQuota
from .services import bucket_update_settings, validate_soft_delete_seconds

# The settings the GCS API also changes: saved through the service layer, which bumps the
# bucket's metageneration (and dates a new soft delete policy) as the API's patch does.
_POLICY_FIELDS = ("versioning_enabled", "soft_delete_seconds")


class BucketForm(forms.ModelForm):
    class Meta:
        model = Bucket
        fields = [
            "name",
            "owner",
            "labels",
            "max_objects",
            "versioning_enabled",
            "soft_delete_seconds",
        ]

    def clean_soft_delete_seconds(self) -> int:
        return validate_soft_delete_seconds(self.cleaned_data["soft_delete_seconds"])


def _versions_of_bucket(aggregate) -> Subquery:
    """A per-bucket aggregate over its noncurrent and soft-deleted generations (a subquery: a
    second join beside ``contents`` would multiply the rows both sums count)."""
    rows = (
        ObjectVersion.objects.filter(bucket=OuterRef("pk"))
        .order_by()
        .values("bucket")
        .annotate(value=aggregate)
        .values("value")
    )
    return Subquery(rows, output_field=IntegerField())


@admin.register(Bucket)
class BucketAdmin(admin.ModelAdmin):
    form = BucketForm
    list_display = [
        "name",
        "bucket_id",
        "owner",
        "object_count",
        "total_size",
        "kept_generations",
        "versioning_enabled",
        "soft_delete",
        "created",
    ]
    list_filter = ["owner", "versioning_enabled", "created"]
    search_fields = ["name", "bucket_id", "owner__username", "owner__email"]
    readonly_fields = [
        "bucket_id",
        "metageneration",
        "soft_delete_effective",
        "lifecycle",
        "created",
        "updated",
    ]
    # Lifecycle rules are set through the GCS API (which validates them); shown here.
    exclude = ["lifecycle_rules"]
    date_hierarchy = "created"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Bucket]:
        return (
            super()
            .get_queryset(request)
            .select_related("owner")
            .annotate(
                _object_count=Count("contents"),
                _total_size=Sum("contents__size"),
                _version_count=_versions_of_bucket(Count("pk")),
                _version_size=_versions_of_bucket(Sum("size")),
            )
        )

    @admin.display(description="Objects", ordering="_object_count")
    def object_count(self, bucket: Bucket) -> int:
        return bucket._object_count

    @admin.display(description="Size", ordering="_total_size")
    def total_size(self, bucket: Bucket) -> str:
        return filesizeformat(bucket._total_size or 0)

    @admin.display(description="Kept generations", ordering="_version_size")
    def kept_generations(self, bucket: Bucket) -> str:
        """Noncurrent and soft-deleted generations: their bytes are stored too."""
        count = bucket._version_count or 0
        return f"{count} ({filesizeformat(bucket._version_size or 0)})" if count else "0"

    @admin.display(description="Soft delete", ordering="soft_delete_seconds")
    def soft_delete(self, bucket: Bucket) -> str:
        seconds = bucket.soft_delete_seconds
        if not seconds:
            return "off"
        days, rest = divmod(seconds, 24 * 3600)
        if rest:
            return f"{seconds} s"
        return f"{days} day{'s' if days != 1 else ''}"

    @admin.display(description="Lifecycle rules")
    def lifecycle(self, bucket: Bucket) -> str:
        if not bucket.lifecycle_rules:
            return "none"
        return format_html("<pre>{}</pre>", json.dumps(bucket.lifecycle_rules, indent=2))

    def save_model(self, request: HttpRequest, obj: Bucket, form: BucketForm, change: bool) -> None:
        changed = set(form.changed_data)
        if not change or not changed & set(_POLICY_FIELDS):
            super().save_model(request, obj, form, change)
            return
        others = [name for name in form.changed_data if name not in _POLICY_FIELDS]
        if others:
            obj.save(update_fields=[*others, "updated"])
        updated = bucket_update_settings(
            bucket=obj,
            versioning=obj.versioning_enabled if "versioning_enabled" in changed else None,
            soft_delete_seconds=(
                obj.soft_delete_seconds if "soft_delete_seconds" in changed else None
            ),
        )
        obj.metageneration = updated.metageneration
        obj.soft_delete_effective = updated.soft_delete_effective

    # Deleting goes through the service layer so the objects' bytes go too.
    def delete_model(self, request: HttpRequest, obj: Bucket) -> None:
        services.bucket_delete(bucket=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Bucket]) -> None:
        for bucket in queryset:
            services.bucket_delete(bucket=bucket)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are made in the pane (their secret is shown once, to their owner); here they can
    be inspected, narrowed and revoked."""

    list_display = ["name", "owner", "hint", "read_only", "bucket", "created", "last_used"]
    list_filter = ["read_only", "owner", "created", "last_used"]
    search_fields = ["name", "hint", "owner__username", "bucket__bucket_id"]
    list_select_related = ["owner", "bucket"]
    readonly_fields = ["public_id", "hint", "owner", "created", "last_used"]
    fields = ["name", "owner", "hint", "public_id", "read_only", "bucket", "created", "last_used"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(StorageQuota)
class StorageQuotaAdmin(admin.ModelAdmin):
    """A user's byte quota (their buckets' objects and unfinished uploads together); users
    without one get OBJSTORE_USER_QUOTA_BYTES. Each bucket's object limit is on the bucket."""

    list_display = ["user", "quota", "used"]
    search_fields = ["user__username", "user__email"]
    autocomplete_fields = ["user"]

    @admin.display(description="Quota")
    def quota(self, quota: StorageQuota) -> str:
        return filesizeformat(quota.max_bytes) if quota.max_bytes else "unlimited"

    @admin.display(description="Used")
    def used(self, quota: StorageQuota) -> str:
        return filesizeformat(quotas.user_usage(quota.user_id).total)


@admin.register(LoginFailure)
class LoginFailureAdmin(admin.ModelAdmin):
    """Failed sign-ins; delete an account's or an address's rows to lift its lockout."""

    list_display = ["at", "scope", "key"]
    list_filter = ["scope"]
    search_fields = ["key"]
    date_hierarchy = "at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
