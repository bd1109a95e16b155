from urllib.parse import urlencode

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.html import format_html

from . import services
from .models import FolderMove, Object, ObjectVersion, ShareLink, UploadSession


@admin.register(Object)
class ObjectAdmin(admin.ModelAdmin):
    """Objects are written through the pane and the API (which stream and hash the bytes);
    the admin inspects them, edits their type, and deletes them through the service layer, as
    any delete: the bucket's policy applies, so the object becomes noncurrent or soft-deleted
    if its bucket keeps them (see Object versions), and only otherwise are its bytes gone."""

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


@admin.register(ObjectVersion)
class ObjectVersionAdmin(admin.ModelAdmin):
    """Generations that are no longer live: noncurrent (replaced or deleted in a bucket with
    versioning) and soft-deleted (kept until their hard delete time). Read-only; deleting one
    here purges it for good, bytes and all (the service layer's ``version_purge``), and a
    soft-deleted one can be restored as the live object."""

    list_display = [
        "name",
        "bucket",
        "generation",
        "state",
        "human_size",
        "time_deleted",
        "hard_delete_time",
    ]
    list_filter = ["state", "bucket__owner", "time_deleted"]
    search_fields = ["name", "bucket__name", "bucket__bucket_id"]
    list_select_related = ["bucket"]
    show_full_result_count = False
    fields = [
        "bucket",
        "name",
        "generation",
        "state",
        "size",
        "content_type",
        "content_encoding",
        "cache_control",
        "metadata",
        "md5_hash",
        "crc32c",
        "metageneration",
        "component_count",
        "custom_time",
        "created",
        "updated",
        "time_deleted",
        "soft_delete_time",
        "hard_delete_time",
    ]
    readonly_fields = fields
    actions = ["restore_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="Size", ordering="size")
    def human_size(self, version: ObjectVersion) -> str:
        return filesizeformat(version.size)

    def delete_model(self, request: HttpRequest, obj: ObjectVersion) -> None:
        try:
            services.version_purge(bucket=obj.bucket, name=obj.name, generation=obj.generation)
        except services.ObjectNotFound:
            pass  # purged or restored meanwhile

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ObjectVersion]) -> None:
        for version in queryset.select_related("bucket"):
            self.delete_model(request, version)

    def has_restore_permission(self, request: HttpRequest) -> bool:
        # A restore writes the live object: whoever may change objects may restore them.
        return request.user.has_perm("objects.change_object")

    @admin.action(
        description="Restore selected soft-deleted generations as live objects",
        permissions=["restore"],
    )
    def restore_selected(self, request: HttpRequest, queryset: QuerySet[ObjectVersion]) -> None:
        restored, skipped = 0, []
        for version in queryset.select_related("bucket").order_by("generation"):
            if version.state != ObjectVersion.SOFT_DELETED:
                skipped.append(f"{version} is not soft-deleted")
                continue
            try:
                services.object_restore(
                    bucket=version.bucket, name=version.name, generation=version.generation
                )
            except services.ObjectNotFound:
                skipped.append(f"{version} was purged or restored meanwhile")
            except services.QuotaExceeded as exc:
                skipped.append(f"{version}: {exc}")
            else:
                restored += 1
        if restored:
            self.message_user(request, f"Restored {restored} object(s).", messages.SUCCESS)
        for reason in skipped:
            self.message_user(request, f"Not restored: {reason}.", messages.WARNING)


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


@admin.register(FolderMove)
class FolderMoveAdmin(admin.ModelAdmin):
    """Folder moves (read-only: the pane runs, stops, resumes and undoes them)."""

    list_display = [
        "source",
        "destination",
        "bucket",
        "state",
        "moved",
        "skipped",
        "total",
        "updated",
    ]
    list_filter = ["state", "created"]
    search_fields = ["source", "destination", "bucket__bucket_id"]
    list_select_related = ["bucket"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    """Share links (their tokens are not stored: only the owner saw each, once)."""

    list_display = ["name", "bucket", "created", "expires", "downloads", "max_downloads", "revoked"]
    list_filter = ["created", "expires", "revoked"]
    search_fields = ["name", "bucket__bucket_id"]
    list_select_related = ["bucket"]
    readonly_fields = ["bucket", "name", "downloads", "created", "last_used"]
    fields = [*readonly_fields, "expires", "max_downloads", "revoked"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
