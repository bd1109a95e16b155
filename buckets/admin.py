from django.contrib import admin
from django.db.models import Count, QuerySet, Sum
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat

from objects import services

from . import quotas
from .models import ApiToken, Bucket, LoginFailure, StorageQuota


@admin.register(Bucket)
class BucketAdmin(admin.ModelAdmin):
    list_display = ["name", "bucket_id", "owner", "object_count", "total_size", "created"]
    list_filter = ["owner", "created"]
    search_fields = ["name", "bucket_id", "owner__username", "owner__email"]
    readonly_fields = ["bucket_id", "created", "updated"]
    date_hierarchy = "created"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Bucket]:
        return (
            super()
            .get_queryset(request)
            .select_related("owner")
            .annotate(_object_count=Count("contents"), _total_size=Sum("contents__size"))
        )

    @admin.display(description="Objects", ordering="_object_count")
    def object_count(self, bucket: Bucket) -> int:
        return bucket._object_count

    @admin.display(description="Size", ordering="_total_size")
    def total_size(self, bucket: Bucket) -> str:
        return filesizeformat(bucket._total_size or 0)

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
