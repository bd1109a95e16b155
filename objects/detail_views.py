"""A file's *Details* page: everything stored about it (path, size, checksums, generation,
times, custom metadata), the addresses to reach it by (its path, ``gs://`` URI and JSON API
URL, each with a copy button), and a form to change its content type and custom metadata.

A plain page with a plain form, so it works without JavaScript. A save names the generation and
metageneration it was shown, so it never overwrites a change made meanwhile (another tab, the
API) or lands on a newer upload of the same name: the page then says so and shows the file as it
is now, keeping what the user typed.
"""

import base64
import binascii

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header, urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from buckets.access import get_bucket_for_user
from buckets.models import Bucket
from objstore_site.slots import Busy

from . import pdfs, preview, ranges, services, thumbnails, zips
from .api.resources import base_url, quote_name
from .api.views import RangeFile
from .models import Object
from .names import InvalidObjectName
from .views import (
    _breadcrumbs,
    _done,
    _folder_prefix,
    browser_url,
    deleted_url,
    parse_generation,
    served_untrusted,
    versions_url,
)


def details_url(bucket: Bucket, name: str) -> str:
    return f"{reverse('object_details', args=[bucket.bucket_id])}?{urlencode({'name': name})}"


def _hex(b64: str) -> str:
    try:
        return base64.b64decode(b64, validate=True).hex()
    except (binascii.Error, ValueError):
        return ""


class MetadataForm:
    """The edit form's values: the content type and the custom metadata as rows of key and
    value (rows with an empty key are dropped), from the file or from what was posted."""

    def __init__(self, content_type: str, rows: list[tuple[str, str]], blank_rows: int = 1):
        self.content_type = content_type
        self.rows = rows + [("", "")] * blank_rows
        self.error = ""

    @classmethod
    def of(cls, obj: Object) -> "MetadataForm":
        rows = [(str(key), str(value)) for key, value in sorted((obj.metadata or {}).items())]
        return cls(obj.content_type, rows)

    @classmethod
    def posted(cls, data) -> "MetadataForm":
        keys, values = data.getlist("meta_key"), data.getlist("meta_value")
        rows = [(key.strip(), values[i] if i < len(values) else "") for i, key in enumerate(keys)]
        rows = [(key, value) for key, value in rows if key or value]
        return cls(data.get("content_type", "").strip(), rows, 2 if "add_row" in data else 1)

    def metadata(self) -> dict[str, str]:
        """The custom metadata the rows say; InvalidAttribute for a value without a key or a
        key given twice."""
        metadata: dict[str, str] = {}
        for key, value in self.rows:
            if not key and not value:
                continue
            if not key:
                raise services.InvalidAttribute(f"The value “{value}” has no key.")
            if key in metadata:
                raise services.InvalidAttribute(f"The key “{key}” is given twice.")
            metadata[key] = value
        return metadata


@require_http_methods(["GET", "POST"])
@login_required
def object_details(request: HttpRequest, bucket_id: str) -> HttpResponse:
    bucket = get_bucket_for_user(request, bucket_id)
    name = request.GET.get("name", "") if request.method == "GET" else request.POST.get("name", "")
    try:
        obj = services.object_get(bucket=bucket, name=name)
    except services.ObjectNotFound:
        obj = None
    if request.method == "GET" or obj is None:
        if obj is None and request.method == "POST":
            messages.error(request, "This file was deleted since you opened it: nothing was saved.")
        form = MetadataForm.of(obj) if obj is not None else None
        return _render(request, bucket, name, obj, form, status=200 if obj else 404)

    form = MetadataForm.posted(request.POST)
    if "add_row" in request.POST:  # "Add a field" without JavaScript: the form, one row longer
        return _render(request, bucket, name, obj, form)
    shown_generation = parse_generation(request.POST.get("generation", ""))
    shown_metageneration = parse_generation(request.POST.get("metageneration", ""))
    try:
        metadata = form.metadata()
        if not form.content_type:
            raise services.InvalidAttribute("Enter a content type, such as text/plain.")
        saved = services.object_patch(
            bucket=bucket,
            name=name,
            generation=shown_generation,
            changes={"content_type": form.content_type},
            metadata_patch=metadata,
            replace_metadata=True,
            preconditions=services.Preconditions(if_metageneration_match=shown_metageneration),
        )
    except services.InvalidAttribute as exc:
        form.error = str(exc)
        return _render(request, bucket, name, obj, form, status=400)
    except services.ObjectNotFound:
        form.error = (
            "This file was replaced by a new upload since you opened it: nothing was saved. "
            "Below is the new file; make your change again if you still want it."
        )
        return _render(request, bucket, name, obj, form, status=409)
    except services.PreconditionFailed:
        form.error = (
            "Someone changed this file's details since you opened them: nothing was saved. "
            "Below are its details now, and your changes are still in the form: save again "
            "to apply them over the new ones."
        )
        return _render(request, bucket, name, obj, form, status=409)
    messages.success(request, f"Saved the details of “{saved.basename}”.")
    return redirect(details_url(bucket, name))


class MoveForm:
    """The *Rename or move* form: the new path typed, and why it was refused."""

    def __init__(self, new_name: str, error: str = "", exists: bool = False) -> None:
        self.new_name = new_name
        self.error = error
        self.exists = exists  # the new name is taken: the form offers to replace it


def _folders_near(bucket: Bucket, folder: str) -> list[str]:
    """Folders to suggest as the new path's folder: the root, the file's folder and what is
    around it (its parent's subfolders and its own), at most a page of each."""
    from .browse import folder_page

    parent = folder.rpartition("/")[0].rpartition("/")[0]
    parent = f"{parent}/" if parent else ""
    found = {"", folder, parent}
    for prefix in {parent, folder}:
        found.update(folder_page(bucket=bucket, prefix=prefix, limit=100).folders)
    return sorted(found)


def _render(
    request: HttpRequest,
    bucket: Bucket,
    name: str,
    obj: Object | None,
    form: MetadataForm | None,
    status: int = 200,
    move: "MoveForm | None" = None,
) -> HttpResponse:
    folder, _, basename = name.rpartition("/")
    folder = f"{folder}/" if folder else ""
    context = {
        "bucket": bucket,
        "buckets": request.user.buckets.all(),
        "tab": "objects",
        "name": name,
        "basename": basename,
        "folder": folder,
        "crumbs": _breadcrumbs(folder),
        "obj": obj,
        "form": form,
        "move": move or MoveForm(name),
        "folders": _folders_near(bucket, folder),
        "back_url": browser_url(bucket, folder),
        "versions_url": versions_url(bucket, name),
        "deleted_url": deleted_url(bucket, folder),
        "gs_uri": f"gs://{bucket.bucket_id}/{name}",
        "api_url": f"{base_url(request)}/storage/v1/b/{bucket.bucket_id}/o/{quote_name(name)}",
    }
    if obj is not None:
        context.update(
            {
                "download_url": (
                    f"{reverse('object_download', args=[bucket.bucket_id])}"
                    f"?{urlencode({'name': name})}"
                ),
                "md5_hex": _hex(obj.md5_hash),
                "crc32c_hex": _hex(obj.crc32c),
                "preview": preview.preview_of(bucket, obj, _page_number(request)),
                "preview_url": (
                    f"{reverse('object_preview', args=[bucket.bucket_id])}"
                    f"?{urlencode({'name': name, 'generation': obj.generation})}"
                ),
                "pdf_page_url": (
                    f"{reverse('object_pdf_page', args=[bucket.bucket_id])}"
                    f"?{urlencode({'name': name, 'generation': obj.generation})}"
                ),
                "details_url": details_url(bucket, name),
            }
        )
    return render(request, "objects/details.html", context, status=status)


@require_GET
@login_required
def object_preview(request: HttpRequest, bucket_id: str) -> HttpResponse:
    """The bytes the Details page's ``<img>``, ``<audio>`` or ``<video>`` shows: only the types
    of ``preview.SERVED_TYPES`` (never HTML, SVG or anything else that could run), under their
    own type, with nosniff and a sandboxing CSP, as the download is. Media come in the ranges
    the browser asks for (it seeks with them)."""
    bucket = get_bucket_for_user(request, bucket_id)
    generation = parse_generation(request.GET.get("generation", ""))
    try:
        obj, handle = services.object_read(
            bucket=bucket, name=request.GET.get("name", ""), generation=generation
        )
    except services.ObjectNotFound:
        return HttpResponse("No such object.", status=404, content_type="text/plain")
    content_type = obj.content_type.split(";", 1)[0].strip().lower()
    if content_type not in preview.SERVED_TYPES or (
        content_type in preview.IMAGE_TYPES and obj.size > preview.IMAGE_LIMIT
    ):
        handle.close()
        return HttpResponse("No preview for this file.", status=404, content_type="text/plain")
    status, start, end = 200, 0, obj.size - 1
    try:
        window = ranges.requested_range(request.headers.get("Range", ""), obj.size)
    except ranges.Unsatisfiable:
        handle.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{obj.size}"
        return response
    if window is not None:
        handle.close()
        (start, end), status = window, 206
        handle = services.object_open(obj, start)
    length = end - start + 1
    body = RangeFile(handle, length) if status == 206 else handle
    response = FileResponse(body, status=status, content_type=content_type)
    response.headers.pop("Content-Disposition", None)  # FileResponse would name the blob key
    response.block_size = services.CHUNK_SIZE
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    if status == 206:
        response["Content-Range"] = f"bytes {start}-{end}/{obj.size}"
    return served_untrusted(response)


@require_GET
@login_required
def object_thumbnail(request: HttpRequest, bucket_id: str) -> HttpResponse:
    """A listing row's thumbnail (objects/thumbnails.py). The URL names the generation, so the
    answer can be kept by the browser for a year; 404 when the file has none."""
    bucket = get_bucket_for_user(request, bucket_id)
    generation = parse_generation(request.GET.get("generation", ""))
    name = request.GET.get("name", "")

    def make() -> bytes:
        return thumbnails.thumbnail(
            services.object_get(bucket=bucket, name=name, generation=generation)
        )

    try:
        data = services.retry_if_replaced(make)
    except (services.ObjectNotFound, services.BlobMissing, thumbnails.NoThumbnail):
        return HttpResponse("No thumbnail for this file.", status=404, content_type="text/plain")
    except Busy:
        return _busy("Busy with other thumbnails.")
    return _rendered_image(data, generation)


def _rendered_image(data: bytes, generation: int | None) -> HttpResponse:
    """A WebP made of a user's file; kept by the browser for a year when its URL names the
    generation it was made of."""
    response = served_untrusted(HttpResponse(data, content_type="image/webp"))
    if generation is not None:
        response["Cache-Control"] = "private, max-age=31536000, immutable"
    return response


def _busy(text: str) -> HttpResponse:
    response = HttpResponse(text, status=503, content_type="text/plain")
    response["Retry-After"] = "5"
    return response


def _page_number(request: HttpRequest) -> int:
    value = request.GET.get("page", "")
    return int(value) if value.isascii() and value.isdigit() and len(value) < 7 else 1


@require_GET
@login_required
def object_pdf_page(request: HttpRequest, bucket_id: str) -> HttpResponse:
    """A page of a PDF as an image, for its Details page (objects/pdfs.py): the URL names the
    generation, so the browser may keep it for a year. 404 when there is no such page."""
    bucket = get_bucket_for_user(request, bucket_id)
    generation = parse_generation(request.GET.get("generation", ""))
    name, page = request.GET.get("name", ""), _page_number(request)
    if page < 1:
        return HttpResponse("No such page.", status=404, content_type="text/plain")

    def render() -> bytes:
        obj = services.object_get(bucket=bucket, name=name, generation=generation)
        if not pdfs.is_pdf(obj.content_type, obj.name):
            raise pdfs.Unreadable
        return pdfs.render_page(obj, page)

    try:
        data = services.retry_if_replaced(render)
    except (services.ObjectNotFound, services.BlobMissing, pdfs.Unreadable, pdfs.NoPage):
        return HttpResponse("No such page.", status=404, content_type="text/plain")
    except Busy:
        return _busy("Busy with other PDFs.")
    return _rendered_image(data, generation)


# What a move may be refused for besides its names, and the status each answers.
_MOVE_REFUSED = {
    services.InvalidAttribute: 400,
    services.QuotaExceeded: 403,
    services.ObjectTooLarge: 413,
    services.InsufficientStorage: 507,
}


@require_POST
@login_required
def object_move(request: HttpRequest, bucket_id: str) -> HttpResponse:
    """Rename or move one file. From its Details page (``new_name``, the whole new path): back
    to the Details of the new name, or the page again with the reason and, when the name is
    taken, a *Replace it* button. From the listing, where a file was dropped on a folder
    (``folder``, by htmx): the listing again with the news as a toast."""
    bucket = get_bucket_for_user(request, bucket_id)
    name = request.POST.get("name", "")
    basename = name.rpartition("/")[2]
    if "folder" in request.POST:
        folder = _folder_prefix(request.POST.get("folder", ""))
        new_name = folder + basename
    else:
        new_name = request.POST.get("new_name", "").strip()
    replace = request.POST.get("replace") == "yes"
    error, exists, status = "", False, 200
    try:
        moved = services.object_move(bucket=bucket, name=name, new_name=new_name, replace=replace)
    except services.DestinationExists:
        error, exists, status = f"A file named “{new_name}” already exists.", True, 409
    except services.ObjectNotFound:
        error, status = f"“{name}” no longer exists: nothing was moved.", 404
    except InvalidObjectName as exc:
        error, status = " ".join(exc.messages), 400
    except tuple(_MOVE_REFUSED) as exc:
        error = str(exc)
        status = next(code for kind, code in _MOVE_REFUSED.items() if isinstance(exc, kind))
    if "folder" in request.POST:
        prefix = _folder_prefix(request.POST.get("prefix", ""))
        if error:
            messages.error(request, error)
        else:
            messages.success(request, f"Moved “{basename}” to “{moved.name}”.")
        return _done(request, bucket, prefix, status=status)
    if error:
        try:
            obj = services.object_get(bucket=bucket, name=name)
        except services.ObjectNotFound:
            obj = None
        form = MetadataForm.of(obj) if obj is not None else None
        move = MoveForm(new_name, error, exists)
        return _render(request, bucket, name, obj, form, status=status, move=move)
    messages.success(request, f"Renamed “{name}” to “{moved.name}”.")
    return redirect(details_url(bucket, moved.name))


@require_GET
@login_required
def folder_zip(request: HttpRequest, bucket_id: str) -> HttpResponse:
    """A folder (``prefix``; the whole bucket without one) as one zip, streamed as it is built
    (objects/zips.py): it starts at once, whatever the size of its files. A folder of more than
    OBJSTORE_ZIP_MAX_FILES files goes back to its parent's listing with the reason."""
    bucket = get_bucket_for_user(request, bucket_id)
    prefix = _folder_prefix(request.GET.get("prefix", ""))
    if zips.too_many_files(bucket, prefix):
        messages.error(
            request,
            f"“{prefix or bucket.name}” holds more than "
            f"{settings.OBJSTORE_ZIP_MAX_FILES:,} files, too many for one zip: download a "
            "smaller folder, or all of it with a client of the API (rclone, gsutil).",
        )
        parent = prefix[:-1].rpartition("/")[0]  # "a/b/" -> "a", "a/" -> ""
        return redirect(browser_url(bucket, f"{parent}/" if parent else ""))
    response = StreamingHttpResponse(
        zips.stream_zip(bucket, prefix), content_type="application/zip"
    )
    response["Content-Disposition"] = content_disposition_header(
        True, zips.zip_filename(bucket, prefix)
    )
    return served_untrusted(response)
