from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.html import format_html

from . import services
from .models import Object, UploadSession


@admin.register(Object)
class ObjectAdmin(admin.ModelAdmin):
    """Objects are written through the pane and the API (which stream and hash the bytes);
    the admin inspects them, edits their type, and deletes them through the service layer."""

    list_display = ["name", "bucket", "human_size", "content_type", "generation", "updated"]
    list_filter = ["content_type", "bucket__owner", "updated"]
    search_fields = ["name", "bucket__name", "bucket__bucket_id"]
    list_select_related = ["bucket"]
    show_full_result_count = False  # counting a million rows on every page is not free
    readonly_fields = [
        "bucket",
        "name",
        "size",
        "md5_hash",
        "crc32c",
        "generation",
        "metageneration",
        "component_count",
        "created",
        "updated",
        "download_link",
    ]
    fields = (
        readonly_fields[:2] + ["content_type", "cache_control", "metadata"] + readonly_fields[2:]
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Size", ordering="size")
    def human_size(self, obj: Object) -> str:
        return filesizeformat(obj.size)

    @admin.display(description="Download")
    def download_link(self, obj: Object) -> str:
        url = reverse("object_download", args=[obj.bucket.bucket_id])
        return format_html(
            '<a href="{}?{}">Download (owner only)</a>', url, urlencode({"name": obj.name})
        )

    def save_model(self, request: HttpRequest, obj: Object, form: object, change: bool) -> None:
        services.object_patch(
            bucket=obj.bucket,
            name=obj.name,
            changes={field: form.cleaned_data[field] for field in form.changed_data},
        )

    def delete_model(self, request: HttpRequest, obj: Object) -> None:
        try:
            services.object_delete(bucket=obj.bucket, name=obj.name)
        except services.ObjectNotFound:
            pass

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Object]) -> None:
        for obj in queryset.select_related("bucket"):
            self.delete_model(request, obj)


@admin.register(UploadSession)
class UploadSessionAdmin(admin.ModelAdmin):
    """Resumable uploads in progress (read-only; objstore_gc removes expired ones)."""

    list_display = ["name", "bucket", "received", "expected_size", "created", "expires"]
    list_filter = ["created", "expires"]
    search_fields = ["name", "bucket__bucket_id", "upload_id"]
    list_select_related = ["bucket"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
