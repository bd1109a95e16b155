"""The Objects tab of the pane: browse, upload, create folders, delete (and undo) and download.

Every state change is a POST on a real form (CSRF-protected); htmx requests get the listing
partial back, plain form posts a redirect, so the pane also works without JavaScript. The
versions and deleted-files pages live in ``version_views``.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import IO
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse, UnreadablePostError
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST

from buckets.access import get_bucket_for_user
from buckets.models import Bucket

from . import services
from .listing import InvalidPageToken
from .middleware import TOO_LARGE_FLAG
from .models import ObjectData


@dataclass(frozen=True)
class Crumb:
    label: str
    prefix: str


@dataclass(frozen=True)
class FolderRow:
    prefix: str

    @property
    def label(self) -> str:
        return self.prefix.rstrip("/").rsplit("/", 1)[-1] + "/"


def _breadcrumbs(prefix: str) -> list[Crumb]:
    crumbs = []
    start = 0
    while (cut := prefix.find("/", start)) >= 0:
        crumbs.append(Crumb(label=prefix[start:cut] or "(empty)", prefix=prefix[: cut + 1]))
        start = cut + 1
    return crumbs


def _folder_prefix(value: str) -> str:
    """The folder a request talks about: empty (the root) or a name ending in '/'."""
    if value and not value.endswith("/"):
        value += "/"
    return value


def browser_url(bucket: Bucket, prefix: str = "", **extra: str) -> str:
    query = {"prefix": prefix, **extra} if prefix else extra
    url = reverse("object_browser", args=[bucket.bucket_id])
    return f"{url}?{urlencode(query)}" if query else url


def duration_words(seconds: int) -> str:
    """A retention in the largest whole unit that states it exactly: "7 days", "90 minutes"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def parse_generation(value: str) -> int | None:
    """A generation number from a form or a query, or None when it cannot be one (a database
    bigint: anything longer could only fail the query)."""
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


def keeps_deleted(bucket: Bucket) -> bool:
    """Whether a delete in this bucket can be undone (an old or a soft-deleted version stays)."""
    return services.keeps_retired(bucket)


def deletion_note(bucket: Bucket) -> str:
    """What deleting a file costs in this bucket, as the confirmations say it."""
    if bucket.versioning_enabled:
        return "Versioning is on: deleted files stay as old versions that you can restore."
    if bucket.soft_delete_seconds > 0:
        return f"Deleted files can be restored for {duration_words(bucket.soft_delete_seconds)}."
    return "This cannot be undone."


def deleted_url(bucket: Bucket, prefix: str = "", **extra: str) -> str:
    query = {"prefix": prefix, **extra} if prefix else extra
    url = reverse("deleted_list", args=[bucket.bucket_id])
    return f"{url}?{urlencode(query)}" if query else url


def versions_url(bucket: Bucket, name: str) -> str:
    url = reverse("object_versions", args=[bucket.bucket_id])
    return f"{url}?{urlencode({'name': name})}"


# The delete a listing may offer to undo, kept in the session until a listing of the same bucket
# shows it once (after a plain form's redirect as after an htmx swap), like a message.
_UNDO_KEY = "objstore_undo"


def _offer_undo(
    request: HttpRequest, bucket: Bucket, since: datetime, *, name: str = "", folder: str = ""
) -> None:
    if keeps_deleted(bucket):
        request.session[_UNDO_KEY] = {
            "bucket": bucket.bucket_id,
            "name": name,
            "folder": folder,
            "since": since.isoformat(),
        }


def _undo_tag(bucket: Bucket) -> str:
    """Marks the message that the listing shows the Undo button in."""
    return "undo" if keeps_deleted(bucket) else ""


def _take_undo(request: HttpRequest, bucket: Bucket) -> dict | None:
    undo = request.session.pop(_UNDO_KEY, None)
    return undo if undo and undo.get("bucket") == bucket.bucket_id else None


def _listing_context(request: HttpRequest, bucket: Bucket, prefix: str, token: str = "") -> dict:
    try:
        page = services.objects_list(
            bucket=bucket,
            prefix=prefix,
            delimiter="/",
            max_results=settings.OBJSTORE_PAGE_SIZE,
            page_token=token,
        )
    except InvalidPageToken:
        page = services.objects_list(
            bucket=bucket, prefix=prefix, delimiter="/", max_results=settings.OBJSTORE_PAGE_SIZE
        )
        token = ""
    # The folder's own placeholder object ("photos/" inside "photos/") is the folder itself.
    files = [obj for obj in page.objects if obj.name != prefix]
    return {
        "bucket": bucket,
        "prefix": prefix,
        "crumbs": _breadcrumbs(prefix),
        "folders": [FolderRow(p) for p in page.prefixes],
        "files": files,
        "is_continuation": bool(token),
        "next_url": (
            browser_url(bucket, prefix, page_token=page.next_page_token)
            if page.next_page_token
            else ""
        ),
        "listing_url": browser_url(bucket, prefix),
        "deleted_url": deleted_url(bucket, prefix),
        "max_upload_size": settings.OBJSTORE_MAX_OBJECT_SIZE,
        "deletion_note": deletion_note(bucket),
    }


def _render_listing(request: HttpRequest, bucket: Bucket, prefix: str, status: int = 200):
    context = _listing_context(request, bucket, prefix)
    context["undo"] = _take_undo(request, bucket)
    return render(request, "objects/browser.html#listing", context, status=status)


def _done(request: HttpRequest, bucket: Bucket, prefix: str, status: int = 200) -> HttpResponse:
    """After a change: the fresh listing for htmx, a redirect (POST/redirect/GET) otherwise."""
    if request.htmx:
        return _render_listing(request, bucket, prefix, status=status)
    return redirect(browser_url(bucket, prefix))


@require_GET
@login_required
def object_browser(request: HttpRequest, bucket_id: str) -> HttpResponse:
    bucket = get_bucket_for_user(request, bucket_id)
    prefix = _folder_prefix(request.GET.get("prefix", ""))
    token = request.GET.get("page_token", "")
    context = _listing_context(request, bucket, prefix, token)
    if request.htmx and token:
        # "Load more": only the next rows, appended in place of the button.
        return render(request, "objects/browser.html#more-rows", context)
    context["undo"] = _take_undo(request, bucket)
    if request.htmx and request.htmx.target == "listing":
        return render(request, "objects/browser.html#listing", context)
    context.update({"buckets": request.user.buckets.all(), "tab": "objects"})
    return render(request, "objects/browser.html", context)


def _upload_name(prefix: str, relative_path: str, filename: str) -> str:
    # Browsers send "folder/sub/file.txt" for folder uploads; keep it under the current folder.
    return prefix + (relative_path.lstrip("/") or filename)


@require_POST
@login_required
def object_upload(request: HttpRequest, bucket_id: str) -> HttpResponse:
    """Upload one or more files. The pane's script sends one file per request (for progress)
    and asks for JSON; a plain form may send several and gets a redirect with messages."""
    bucket = get_bucket_for_user(request, bucket_id)
    wants_json = "application/json" in request.headers.get("Accept", "")
    try:
        # Parsing the form reads the whole body; a body that broke off raises here, before
        # anything is stored.
        prefix = _folder_prefix(request.POST.get("prefix", ""))
        files = request.FILES.getlist("files")
        paths = request.POST.getlist("paths")
    except UnreadablePostError:
        return _upload_failed(request, bucket, wants_json, 400, _BROKE_OFF)
    except OSError as exc:
        if not services.is_disk_full(exc):
            raise
        return _upload_failed(request, bucket, wants_json, 507, services.DISK_FULL)
    if getattr(request, TOO_LARGE_FLAG, False):
        error = _too_large_message(settings.OBJSTORE_MAX_OBJECT_SIZE)
        return _upload_failed(request, bucket, wants_json, 413, error)
    if not files:
        error = "Choose at least one file to upload."
        if wants_json:
            return JsonResponse({"error": error}, status=400)
        messages.error(request, error)
        return redirect(browser_url(bucket, prefix))

    results = []
    status = 200
    for index, upload in enumerate(files):
        relative = paths[index] if index < len(paths) else ""
        name = _upload_name(prefix, relative, upload.name or "")
        try:
            if upload.size is not None and upload.size > settings.OBJSTORE_MAX_OBJECT_SIZE:
                raise services.ObjectTooLarge(settings.OBJSTORE_MAX_OBJECT_SIZE)
            obj = services.object_upload(
                bucket=bucket,
                name=name,
                stream=upload,
                content_type=_uploaded_content_type(upload.content_type, name),
            )
        except services.InvalidObjectName as exc:
            status = 400
            results.append({"name": name, "error": " ".join(exc.messages)})
        except services.ObjectTooLarge as exc:
            status = 413
            results.append({"name": name, "error": _too_large_message(exc.limit)})
        except services.InsufficientStorage as exc:
            status = 507
            results.append({"name": name, "error": str(exc)})
        except services.QuotaExceeded as exc:
            status = 403
            results.append({"name": name, "error": str(exc)})
        else:
            results.append({"name": obj.name, "size": obj.size})
        finally:
            upload.close()

    if wants_json:
        return JsonResponse({"results": results}, status=status)
    for result in results:
        if "error" in result:
            messages.error(request, f"{result['name']}: {result['error']}")
    stored = sum("error" not in result for result in results)
    if stored:
        messages.success(request, f"Uploaded {stored} file{'s' if stored != 1 else ''}.")
    return redirect(browser_url(bucket, prefix))


_BROKE_OFF = "The upload broke off before all of it arrived; nothing was stored."


def _upload_failed(
    request: HttpRequest, bucket: Bucket, wants_json: bool, status: int, error: str
) -> HttpResponse:
    if wants_json:
        return JsonResponse({"error": error}, status=status)
    messages.error(request, error)
    return redirect(browser_url(bucket))


def _uploaded_content_type(declared: str | None, name: str) -> str:
    if declared and declared != "application/octet-stream":
        try:
            services.validate_header_fields(content_type=declared)
            return declared
        except services.InvalidAttribute:
            pass  # what the browser sent is no header value: guess from the name instead
    return services.guess_content_type(name)


def _too_large_message(limit: int) -> str:
    return f"This file is larger than the upload limit of {filesizeformat(limit)}."


@require_POST
@login_required
def folder_create(request: HttpRequest, bucket_id: str) -> HttpResponse:
    bucket = get_bucket_for_user(request, bucket_id)
    prefix = _folder_prefix(request.POST.get("prefix", ""))
    folder = request.POST.get("name", "").strip().strip("/")
    if not folder:
        messages.error(request, "Give the folder a name.")
        return _done(request, bucket, prefix, status=400)
    try:
        services.folder_create(bucket=bucket, prefix=f"{prefix}{folder}/")
    except services.QuotaExceeded as exc:
        messages.error(request, str(exc))
        return _done(request, bucket, prefix, status=403)
    except services.InvalidObjectName as exc:
        messages.error(request, " ".join(exc.messages))
        return _done(request, bucket, prefix, status=400)
    messages.success(request, f"Created folder “{folder}/”.")
    return _done(request, bucket, prefix)


def _confirmed(request: HttpRequest) -> bool:
    return request.POST.get("confirmed") == "yes"


@require_POST
@login_required
def object_delete(request: HttpRequest, bucket_id: str) -> HttpResponse:
    bucket = get_bucket_for_user(request, bucket_id)
    name = request.POST.get("name", "")
    prefix = _folder_prefix(request.POST.get("prefix", ""))
    if not _confirmed(request):
        return _confirm_delete(request, bucket, name, prefix, is_folder=False)
    since = timezone.now()
    try:
        services.object_delete(bucket=bucket, name=name)
    except services.ObjectNotFound:
        messages.error(request, f"“{name}” no longer exists.")
        return _done(request, bucket, prefix, status=404)
    _offer_undo(request, bucket, since, name=name)
    messages.success(request, f"Deleted “{name}”.", extra_tags=_undo_tag(bucket))
    return _done(request, bucket, prefix)


@require_POST
@login_required
def folder_delete(request: HttpRequest, bucket_id: str) -> HttpResponse:
    bucket = get_bucket_for_user(request, bucket_id)
    folder = request.POST.get("folder", "")
    prefix = _folder_prefix(request.POST.get("prefix", ""))
    if not _confirmed(request):
        return _confirm_delete(request, bucket, folder, prefix, is_folder=True)
    since = timezone.now()
    try:
        count = services.folder_delete(bucket=bucket, prefix=folder)
    except services.InvalidObjectName as exc:
        messages.error(request, " ".join(exc.messages))
        return _done(request, bucket, prefix, status=400)
    if count:
        _offer_undo(request, bucket, since, folder=folder)
    messages.success(
        request,
        f"Deleted folder “{folder}” and {count} object{'s' if count != 1 else ''}.",
        extra_tags=_undo_tag(bucket) if count else "",
    )
    return _done(request, bucket, prefix)


@require_POST
@login_required
def delete_undo(request: HttpRequest, bucket_id: str) -> HttpResponse:
    """Undo the delete of one file or one folder: bring back what it deleted, from ``since`` on
    (the delete's time), and nothing written again meanwhile."""
    bucket = get_bucket_for_user(request, bucket_id)
    prefix = _folder_prefix(request.POST.get("prefix", ""))
    name = request.POST.get("name", "")
    folder = request.POST.get("folder", "")
    since = parse_datetime(request.POST.get("since", ""))
    if since is None or timezone.is_naive(since) or bool(name) == bool(folder):
        messages.error(request, "There is nothing to undo.")
        return _done(request, bucket, prefix, status=400)
    target = name or folder
    if name:
        restored = services.deleted_restore(bucket=bucket, name=name, since=since)
    else:
        restored = services.deleted_restore(bucket=bucket, prefix=folder, since=since)
    if not restored:
        messages.error(
            request, f"Nothing was restored: “{target}” was written again or is gone for good."
        )
    elif name:
        messages.success(request, f"Restored “{name}”.")
    else:
        messages.success(
            request, f"Restored {restored} object{'s' if restored != 1 else ''} in “{folder}”."
        )
    return _done(request, bucket, prefix)


def render_confirm(
    request: HttpRequest,
    bucket: Bucket,
    *,
    question: str,
    consequence: str,
    action: str,
    fields: dict[str, str],
    button: str,
    cancel_url: str,
) -> HttpResponse:
    """Without JavaScript there is no confirm() dialog: ask on a page of its own, which posts
    the same form again with ``confirmed=yes``."""
    return render(
        request,
        "objects/confirm.html",
        {
            "bucket": bucket,
            "buckets": request.user.buckets.all(),
            "question": question,
            "consequence": consequence,
            "action": action,
            "fields": fields,
            "button": button,
            "cancel_url": cancel_url,
            "tab": "objects",
        },
    )


def _confirm_delete(
    request: HttpRequest, bucket: Bucket, target: str, prefix: str, *, is_folder: bool
) -> HttpResponse:
    note = deletion_note(bucket)
    if is_folder:
        count = services.objects_count_under(bucket=bucket, prefix=target)
        question = f"Delete the folder “{target}”?"
        consequence = f"This deletes {count:,} object{'s' if count != 1 else ''} under it. {note}"
        url_name, fields = "folder_delete", {"folder": target}
    else:
        question = f"Delete “{target}”?"
        consequence = note
        url_name, fields = "object_delete", {"name": target}
    return render_confirm(
        request,
        bucket,
        question=question,
        consequence=consequence,
        action=reverse(url_name, args=[bucket.bucket_id]),
        fields={**fields, "prefix": prefix},
        button="Delete",
        cancel_url=browser_url(bucket, prefix),
    )


@require_GET
@login_required
def object_download(request: HttpRequest, bucket_id: str) -> HttpResponse:
    bucket = get_bucket_for_user(request, bucket_id)
    name = request.GET.get("name", "")
    generation = parse_generation(request.GET.get("generation", ""))
    if generation is None and "generation" in request.GET:
        return HttpResponse("No such object.", status=404, content_type="text/plain")
    try:
        obj, handle = _read_generation(bucket, name, generation)
    except services.ObjectNotFound:
        return HttpResponse("No such object.", status=404, content_type="text/plain")
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=obj.basename,
        content_type=obj.content_type,
    )
    response.block_size = services.CHUNK_SIZE  # when not sent with sendfile (cloud backends)
    response["Content-Length"] = str(obj.size)
    # Uploaded HTML or SVG must never run on our origin, even if someone opens the URL inline.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-cache"
    response["ETag"] = f'"{obj.md5_hash or obj.crc32c}"'
    return response


def _read_generation(
    bucket: Bucket, name: str, generation: int | None
) -> tuple[ObjectData, IO[bytes]]:
    """The live object, or exactly ``generation``, live, old or soft-deleted (the versions page
    lets the owner look at a deleted file before restoring it)."""
    try:
        return services.object_read(bucket=bucket, name=name, generation=generation)
    except services.ObjectNotFound:
        if generation is None:
            raise

    def read_deleted() -> tuple[ObjectData, IO[bytes]]:
        obj = services.object_get(
            bucket=bucket, name=name, generation=generation, soft_deleted=True
        )
        return obj, services.object_open(obj)

    return services.retry_if_replaced(read_deleted)
