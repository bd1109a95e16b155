from django.contrib import admin
from django.db.models import Count, QuerySet, Sum
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat

from objects import services

from .models import Bucket


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
