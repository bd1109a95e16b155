"""The Objects tab of the pane: browse, upload, create folders, delete (and undo) and download.

Every state change is a POST on a real form (CSRF-protected); htmx requests get the listing
partial back, plain form posts a redirect, so the pane also works without JavaScript. The
versions and deleted-files pages live in ``version_views``.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO
from urllib.parse import parse_qs, urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse, UnreadablePostError
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html_join
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import replace_url, reswap, retarget

from buckets.access import get_bucket_for_user
from buckets.models import Bucket

from . import browse, services
from .listing import MAX_RESULTS, InvalidPageToken
from .middleware import TOO_LARGE_FLAG
from .models import ObjectData
from .templatetags.pane import row_id

# A reload (or a shared link) after "Load more" shows as many rows again, up to this many.
MAX_SHOWN = MAX_RESULTS
# How many rows one selection may name (objects/bulk_views.py); "Select all in this folder"
# names the folder instead, whatever it holds.
MAX_SELECTED = 1000

# The listing's columns: (sort, heading, whether a first click sorts descending, CSS classes).
COLUMNS = [
    ("name", "Name", False, "col-name"),
    ("size", "Size", True, "num col-size"),
    ("type", "Type", False, "hide-narrow col-type"),
    ("date", "Last modified", True, "hide-narrow col-date"),
]


@dataclass(frozen=True)
class View:
    """How a listing is shown, kept in its URL so that a reload or a shared link shows the
    same: the sort, its direction and how many rows (``shown``) "Load more" reached."""

    sort: str = "name"
    descending: bool = False
    shown: int = 0

    @classmethod
    def parse(cls, value) -> "View":
        """From a query or a form (``value(key)`` gives its text); anything odd is a default."""
        sort = value("sort")
        sort = sort if sort in browse.SORTS else "name"
        return cls(sort, value("order") == "desc", _shown(value("shown")))

    def args(self, *, shown: int | None = None) -> dict[str, str]:
        """The URL's query for this view (nothing for the default one)."""
        args = {}
        if self.sort != "name" or self.descending:
            args.update(sort=self.sort, order="desc" if self.descending else "asc")
        rows = self.shown if shown is None else shown
        if rows > settings.OBJSTORE_PAGE_SIZE:
            args["shown"] = str(min(rows, MAX_SHOWN))
        return args


def view_of(request: HttpRequest) -> View:
    """The view the user is looking at: the URL of a GET; for a change posted by htmx, the
    page's URL (HX-Current-URL); for a plain form, the hidden fields the listing's forms hold."""
    if request.method == "GET":
        return View.parse(request.GET.get)
    if request.htmx:
        query = parse_qs(urlsplit(request.headers.get("HX-Current-URL", "")).query)
        return View.parse(lambda key: query.get(key, [""])[0])
    return View.parse(request.POST.get)


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
    request: HttpRequest,
    bucket: Bucket,
    since: datetime,
    *,
    names: Sequence[str] = (),
    folders: Sequence[str] = (),
) -> None:
    """Keep, for the next listing's toast, what a delete just deleted: its *Undo* button posts
    it back. A delete of more than UNDO_MAX entries offers none (Deleted files restores them)."""
    if keeps_deleted(bucket) and len(names) + len(folders) <= UNDO_MAX:
        request.session[_UNDO_KEY] = {
            "bucket": bucket.bucket_id,
            "names": list(names),
            "folders": list(folders),
            "since": since.isoformat(),
        }


UNDO_MAX = 100


def _undo_tag(bucket: Bucket) -> str:
    """Marks the message that the listing shows the Undo button in."""
    return "undo" if keeps_deleted(bucket) else ""


def _take_undo(request: HttpRequest, bucket: Bucket) -> dict | None:
    undo = request.session.pop(_UNDO_KEY, None)
    return undo if undo and undo.get("bucket") == bucket.bucket_id else None


def _shown(value: str | None) -> int:
    """How many rows a listing shows at first: ``shown`` from its URL, bounded."""
    page = settings.OBJSTORE_PAGE_SIZE
    if not value or not value.isascii() or not value.isdigit():
        return page
    return max(page, min(int(value[:9]), max(MAX_SHOWN, page)))


def _columns(bucket: Bucket, prefix: str, view: View) -> list[dict]:
    """The listing's headings: each a link that sorts by it (the current one, the other way)."""
    columns = []
    for sort, label, first_descending, classes in COLUMNS:
        current = view.sort == sort
        descending = not view.descending if current else first_descending
        url = browser_url(bucket, prefix, **View(sort, descending).args())
        columns.append(
            {
                "sort": sort,
                "label": label,
                "classes": classes,
                "url": url,
                "aria_sort": ("descending" if view.descending else "ascending") if current else "",
                "next": "descending" if descending else "ascending",
            }
        )
    return columns


def _listing_context(
    request: HttpRequest, bucket: Bucket, prefix: str, view: View, token: str = ""
) -> dict:
    """The listing of ``prefix`` in ``view``'s order: its first ``view.shown`` entries, or for
    "Load more" (``token``) the next page, which comes after ``view.shown`` entries already on
    the page."""
    page_size = settings.OBJSTORE_PAGE_SIZE
    shown = view.shown or page_size

    def read(limit: int, page_token: str) -> browse.FolderPage:
        return browse.folder_page(
            bucket=bucket,
            prefix=prefix,
            sort=view.sort,
            descending=view.descending,
            limit=limit,
            page_token=page_token,
        )

    try:
        page = read(page_size if token else shown, token)
    except InvalidPageToken:
        page, token, shown = read(page_size, ""), "", page_size
    entries = len(page.files) + len(page.folders)
    shown_after = shown + entries if token else entries
    # The last page: every entry is on the page, nothing to count.
    # "100 of 250" on a first page ("Load more" appends rows; the page counts them itself).
    total = shown_after
    if page.next_page_token and not token:
        total = browse.entry_count(
            bucket=bucket,
            prefix=prefix,
            folders=len(page.folders) if page.folders_done else None,
            # A page that stopped in its folders stopped at one more.
            folders_at_least=len(page.folders) + 1,
        )
    next_url = more_url = ""
    if page.next_page_token:
        next_url = browser_url(
            bucket, prefix, page_token=page.next_page_token, **view.args(shown=shown_after)
        )
        # Without JavaScript "Load more" shows the rows so far and a page more, up to MAX_SHOWN;
        # past that, the next page on its own.
        more_url = (
            browser_url(bucket, prefix, **view.args(shown=shown_after + page_size))
            if not token and shown_after + page_size <= MAX_SHOWN
            else next_url
        )
    return {
        "bucket": bucket,
        "prefix": prefix,
        "view": view,
        "crumbs": _breadcrumbs(prefix),
        "columns": _columns(bucket, prefix, view),
        "sorted": page.sorted,
        "folders": [FolderRow(p) for p in page.folders],
        "files": page.files,
        "is_continuation": bool(token),
        "shown_count": shown_after,
        "total": total,
        "next_url": next_url,
        "more_url": more_url,
        "listing_url": browser_url(bucket, prefix, **View(view.sort, view.descending).args()),
        # Where "Load more" leaves the page: a reload shows as many rows again.
        "shown_url": browser_url(bucket, prefix, **view.args(shown=shown_after)),
        # The view as hidden fields, for the plain forms' redirects back to it (View).
        "view_inputs": format_html_join(
            "",
            '<input type="hidden" name="{}" value="{}">',
            view.args(shown=shown_after).items(),
        ),
        # Reversed once for the page's rows, not once per row.
        "urls": {
            name: reverse(view_name, args=[bucket.bucket_id])
            for name, view_name in (
                ("browse", "object_browser"),
                ("folder_delete", "folder_delete"),
                ("delete", "object_delete"),
                ("versions", "object_versions"),
                ("details", "object_details"),
                ("thumbnail", "object_thumbnail"),
                ("zip", "folder_zip"),
                ("download", "object_download"),
                ("bulk", "bulk_action"),
                ("folder_move", "folder_move"),
            )
        },
        "deleted_url": deleted_url(bucket, prefix),
        "max_upload_size": settings.OBJSTORE_MAX_OBJECT_SIZE,
        "deletion_note": deletion_note(bucket),
        "max_selected": MAX_SELECTED,
    }


def render_with_toasts(
    request: HttpRequest, template: str, context: dict, status: int = 200
) -> HttpResponse:
    """An htmx answer: ``template`` for the request's target, with the messages (and the Undo of
    a delete) swapped out of band into the page's toast region."""
    content = render_to_string(template, context, request)
    toasts = render_to_string("_messages.html", {**context, "oob": True}, request)
    return HttpResponse(content + toasts, status=status)


def _render_listing(request: HttpRequest, bucket: Bucket, prefix: str, status: int = 200):
    context = _listing_context(request, bucket, prefix, view_of(request))
    context["undo"] = _take_undo(request, bucket)
    return render_with_toasts(request, "objects/browser.html#listing", context, status=status)


def _done(request: HttpRequest, bucket: Bucket, prefix: str, status: int = 200) -> HttpResponse:
    """After a change: the fresh listing for htmx, a redirect (POST/redirect/GET) otherwise."""
    if request.htmx:
        return _render_listing(request, bucket, prefix, status=status)
    return redirect(browser_url(bucket, prefix, **view_of(request).args()))


def _row_done(request: HttpRequest, bucket: Bucket, prefix: str, status: int = 200) -> HttpResponse:
    """After deleting what one row shows: for htmx, nothing in place of the row (the rest of the
    listing stays as it is, scrolled where it is), the message as a toast and the new count;
    a redirect otherwise."""
    if not request.htmx:
        return redirect(browser_url(bucket, prefix, **view_of(request).args()))
    total = browse.entry_count(bucket=bucket, prefix=prefix)
    if total == 0:
        # The last row went: the whole listing, to say the folder is empty.
        response = _render_listing(request, bucket, prefix, status=status)
        return reswap(retarget(response, "#listing"), "outerHTML")
    context = {
        "bucket": bucket,
        "prefix": prefix,
        "total": total,
        "undo": _take_undo(request, bucket),
    }
    return render_with_toasts(request, "objects/_row_deleted.html", context, status=status)


def toast_only(request: HttpRequest, bucket: Bucket, back_url: str, status: int) -> HttpResponse:
    """A refusal: for htmx only the message, as a toast (the page stays as it is); a plain form
    goes back to ``back_url``."""
    if not request.htmx:
        return redirect(back_url)
    response = render_with_toasts(request, "objects/_nothing.html", {"bucket": bucket}, status)
    return reswap(response, "none")


@require_GET
@login_required
def object_browser(request: HttpRequest, bucket_id: str) -> HttpResponse:
    bucket = get_bucket_for_user(request, bucket_id)
    prefix = _folder_prefix(request.GET.get("prefix", ""))
    token = request.GET.get("page_token", "")
    context = _listing_context(request, bucket, prefix, view_of(request), token)
    if request.htmx and token:
        # "Load more": only the next rows, appended in place of the button; the address bar
        # then says how many rows the page shows, so that a reload shows them again.
        response = render(request, "objects/browser.html#more-rows", context)
        return replace_url(response, context["shown_url"])
    context["undo"] = _take_undo(request, bucket)
    if request.htmx and request.htmx.target == "listing":
        return render_with_toasts(request, "objects/browser.html#listing", context)
    context.update(
        {
            "buckets": request.user.buckets.all(),
            "tab": "objects",
            "moves": _unfinished_moves(bucket),
        }
    )
    return render(request, "objects/browser.html", context)


def _unfinished_moves(bucket: Bucket) -> list:
    from .folder_moves import unfinished  # folder_moves imports services, as this module does

    return unfinished(bucket)


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
        return redirect(browser_url(bucket, prefix, **view_of(request).args()))

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
    return redirect(browser_url(bucket, prefix, **view_of(request).args()))


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


def folder_name_error(name: str) -> str:
    """Why ``name`` (typed in "Create folder") makes no good folder name, or "" if it does.

    Stricter than object names (the API keeps GCS's rules, where "a//b" and "../x" are valid):
    a folder made here shows in the pane, so no name that would look like a way up, the folder
    itself or an empty folder name.
    """
    if not name:
        return "Give the folder a name."
    if name.startswith("/"):
        return "A folder name cannot start with “/”."
    segments = name.split("/")
    if any(segment in {".", ".."} for segment in segments):
        return "A folder cannot be named “.” or “..”: paths use them for “here” and “one up”."
    if "" in segments:
        return "A folder name cannot contain an empty part (“//”)."
    return ""


def _folder_form(
    request: HttpRequest, bucket: Bucket, prefix: str, name: str, error: str, status: int
) -> HttpResponse:
    """The create-folder form again, with what was typed and why it was refused: in place in
    its dialog for htmx, as a message after a redirect otherwise."""
    if not request.htmx:
        messages.error(request, error)
        return redirect(browser_url(bucket, prefix, **view_of(request).args()))
    context = {"bucket": bucket, "prefix": prefix, "folder_name": name, "folder_error": error}
    response = render(request, "objects/browser.html#folder-form", context, status=status)
    return reswap(retarget(response, "#folder-form"), "outerHTML")


@require_POST
@login_required
def folder_create(request: HttpRequest, bucket_id: str) -> HttpResponse:
    bucket = get_bucket_for_user(request, bucket_id)
    prefix = _folder_prefix(request.POST.get("prefix", ""))
    typed = request.POST.get("name", "").strip()
    # One trailing slash is how folders are written ("reports/"); anything else counts.
    folder = typed[:-1] if typed.endswith("/") and not typed.endswith("//") else typed
    if error := folder_name_error(folder):
        return _folder_form(request, bucket, prefix, typed, error, 400)
    full = f"{prefix}{folder}/"
    if services.objects_count_under(bucket=bucket, prefix=full, limit=1):
        error = f"A folder named “{folder}” already exists here."
        return _folder_form(request, bucket, prefix, typed, error, 409)
    try:
        services.folder_create(bucket=bucket, prefix=full)
    except services.QuotaExceeded as exc:
        return _folder_form(request, bucket, prefix, typed, str(exc), 403)
    except services.InvalidObjectName as exc:
        return _folder_form(request, bucket, prefix, typed, " ".join(exc.messages), 400)
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
        # Gone already (deleted elsewhere): its row goes all the same.
        messages.error(request, f"“{name}” no longer exists.")
        return _row_done(request, bucket, prefix, status=404)
    _offer_undo(request, bucket, since, names=[name])
    messages.success(request, f"Deleted “{name}”.", extra_tags=_undo_tag(bucket))
    return _row_done(request, bucket, prefix)


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
        back = browser_url(bucket, prefix, **view_of(request).args())
        return toast_only(request, bucket, back, status=400)
    if count:
        _offer_undo(request, bucket, since, folders=[folder])
    messages.success(
        request,
        f"Deleted folder “{folder}” and {count} object{'s' if count != 1 else ''}.",
        extra_tags=_undo_tag(bucket) if count else "",
    )
    return _row_done(request, bucket, prefix)


@require_POST
@login_required
def delete_undo(request: HttpRequest, bucket_id: str) -> HttpResponse:
    """Undo a delete of files and folders (``name`` and ``folder``, each any number of times):
    bring back what it deleted, from ``since`` on (the delete's time), and nothing written again
    meanwhile."""
    bucket = get_bucket_for_user(request, bucket_id)
    prefix = _folder_prefix(request.POST.get("prefix", ""))
    names = request.POST.getlist("name")
    folders = request.POST.getlist("folder")
    since = parse_datetime(request.POST.get("since", ""))
    if (
        since is None
        or timezone.is_naive(since)
        or not (names or folders)
        or len(names) + len(folders) > UNDO_MAX
    ):
        messages.error(request, "There is nothing to undo.")
        return _done(request, bucket, prefix, status=400)
    restored = 0
    for name in names:
        restored += services.deleted_restore(bucket=bucket, name=name, since=since)
    for folder in folders:
        restored += services.deleted_restore(bucket=bucket, prefix=folder, since=since)
    target = (names or folders)[0] if len(names) + len(folders) == 1 else ""
    if not restored:
        what = f"“{target}” was" if target else "they were"
        messages.error(request, f"Nothing was restored: {what} written again or is gone for good.")
    elif names == [target]:
        messages.success(request, f"Restored “{target}”.")
    else:
        where = f" in “{target}”" if target else ""
        plural = "s" if restored != 1 else ""
        messages.success(request, f"Restored {restored} object{plural}{where}.")
    return _done(request, bucket, prefix)


def render_confirm(
    request: HttpRequest,
    bucket: Bucket,
    *,
    question: str,
    consequence: str,
    action: str,
    fields: dict[str, str | Sequence[str]],
    button: str,
    cancel_url: str,
    target: str,
) -> HttpResponse:
    """Ask before destroying: for htmx, in the page's dialog (its form then posts to ``action``
    with ``confirmed=yes`` and swaps ``target``); without JavaScript, on a page of its own,
    whose form posts the same."""
    context = {
        "bucket": bucket,
        "question": question,
        "consequence": consequence,
        "action": action,
        "fields": field_pairs(fields),
        "button": button,
        "cancel_url": cancel_url,
        "target": target,
    }
    if request.htmx:
        response = render(request, "objects/confirm.html#dialog", context)
        return reswap(retarget(response, "#confirm-dialog"), "innerHTML")
    context.update({"buckets": request.user.buckets.all(), "tab": "objects"})
    return render(request, "objects/confirm.html", context)


def field_pairs(fields: dict[str, str | Sequence[str]]) -> list[tuple[str, str]]:
    """Hidden fields as (name, value) pairs: a field given a list is posted once per value."""
    return [
        (field, item)
        for field, value in fields.items()
        for item in ([value] if isinstance(value, str) else value)
    ]


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
        fields={**fields, "prefix": prefix, **view_of(request).args()},
        button="Delete",
        cancel_url=browser_url(bucket, prefix, **view_of(request).args()),
        target=f"#{row_id(target)}",
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
    served_untrusted(response)
    response["ETag"] = f'"{obj.md5_hash or obj.crc32c}"'
    return response


def served_untrusted(response: HttpResponse) -> HttpResponse:
    """The headers of every answer that carries a user's bytes (a download, a preview, a zip):
    uploaded HTML or SVG must never run on our origin, even when its URL is opened inline."""
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-cache"
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
