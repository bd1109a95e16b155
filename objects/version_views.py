"""The pane's pages for what a bucket keeps after a change: every generation of one file (its
*Versions* page) and the soft-deleted files under a folder (*Deleted files*), with restore and
delete-for-good on each.

As in ``views``, every change is a POST on a real form, and a plain form gets a redirect. For
htmx, a change to one row answers with that row as it is now, or with nothing when it goes, so
the rest of the list stays as it is, scrolled where it is; the message comes as a toast. A
change to many rows ("Restore all", a restore that makes a new live version) answers with the
page's panel. Whatever destroys data for good asks first (in the page's dialog, or on a
confirmation page without JavaScript).
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from buckets.access import get_bucket_for_user
from buckets.models import Bucket

from . import services
from .detail_views import details_url
from .listing import InvalidPageToken
from .models import Object, ObjectVersion
from .templatetags.pane import row_id
from .views import (
    FolderRow,
    _breadcrumbs,
    _confirmed,
    _folder_prefix,
    browser_url,
    deleted_url,
    deletion_note,
    duration_words,
    keeps_deleted,
    parse_generation,
    render_confirm,
    render_with_toasts,
    toast_only,
    versions_url,
)

# A name rewritten daily for years has thousands of generations; the page shows the newest.
MAX_VERSIONS_SHOWN = 200

# The errors a restore can meet besides the version having gone meanwhile.
_RESTORE_REFUSED = (services.QuotaExceeded, services.InsufficientStorage)


def version_row_id(generation: int | None) -> str:
    """The id of a generation's row on its versions page (objects/_version_row.html)."""
    return f"generation-{generation}"


def deleted_row_id(name: str, generation: int | None) -> str:
    """The id of a deleted generation's row on the deleted files (objects/_deleted_row.html)."""
    return f"{row_id(name)}-{generation}"


def _folder_of(name: str) -> str:
    return name[: name.rfind("/", 0, len(name.rstrip("/"))) + 1]


def _find_generation(
    bucket: Bucket, name: str, generation: int | None
) -> tuple[Object | ObjectVersion | None, bool]:
    """The generation asked for (None if it is gone) and whether the name has a live object."""
    if generation is None:
        return None, False
    found = None
    has_live = False
    for version in services.object_versions(bucket=bucket, name=name):
        has_live = has_live or version.state == "live"
        if version.generation == generation:
            found = version
    return found, has_live


# ---- the versions of one file ------------------------------------------------------------------


def _versions_context(bucket: Bucket, name: str) -> dict:
    generations = services.object_versions(bucket=bucket, name=name) if name else []
    has_live = bool(generations) and generations[0].state == "live"
    folder = _folder_of(name)
    return {
        "bucket": bucket,
        "name": name,
        "basename": name.rstrip("/").rsplit("/", 1)[-1] or name,
        "folder": folder,
        "crumbs": _breadcrumbs(folder),
        "versions": generations[:MAX_VERSIONS_SHOWN],
        "total": len(generations),
        "has_live": has_live,
        "keeps_deleted": keeps_deleted(bucket),
        "soft_delete_on": bucket.soft_delete_seconds > 0,
        "retention": duration_words(bucket.soft_delete_seconds),
        "back_url": browser_url(bucket, folder),
        "details_url": details_url(bucket, name),
        "deleted_url": deleted_url(bucket, folder),
        "versions_url": versions_url(bucket, name),
    }


@require_GET
@login_required
def object_versions(request: HttpRequest, bucket_id: str) -> HttpResponse:
    bucket = get_bucket_for_user(request, bucket_id)
    context = _versions_context(bucket, request.GET.get("name", ""))
    if request.htmx and request.htmx.target == "versions":
        return render_with_toasts(request, "objects/versions.html#versions", context)
    context.update({"buckets": request.user.buckets.all(), "tab": "objects"})
    return render(request, "objects/versions.html", context)


def _panel(request: HttpRequest, template: str, context: dict, status: int) -> HttpResponse:
    """An htmx answer with a page's whole panel (``template``, a partial whose id is its name),
    in place of whatever the request targeted (one row, say)."""
    response = render_with_toasts(request, template, context, status)
    panel = template.rpartition("#")[2]
    if request.htmx.target == panel:
        return response
    return reswap(retarget(response, f"#{panel}"), "outerHTML")


def _versions_panel(
    request: HttpRequest, bucket: Bucket, name: str, status: int = 200
) -> HttpResponse:
    """After a change to the versions page: the fresh panel for htmx, a redirect otherwise."""
    if not request.htmx:
        return redirect(versions_url(bucket, name))
    context = _versions_context(bucket, name)
    return _panel(request, "objects/versions.html#versions", context, status)


def _version_row_done(
    request: HttpRequest, bucket: Bucket, name: str, generation: int | None, status: int = 200
) -> HttpResponse:
    """After a change to one generation: back where it was asked from. On its versions page,
    for htmx, its row as it is now (nothing once it is gone; the whole panel once nothing of the
    name is left, to say so); on the deleted files, see ``_deleted_row_done``."""
    if request.POST.get("back") == "deleted":
        prefix = _folder_prefix(request.POST.get("prefix", ""))
        return _deleted_row_done(request, bucket, prefix, status=status)
    if not request.htmx:
        return redirect(versions_url(bucket, name))
    context = _versions_context(bucket, name)
    if not context["versions"]:
        return _versions_panel(request, bucket, name, status=status)
    version = next((v for v in context["versions"] if v.generation == generation), None)
    # A row that goes leaves one fewer on the page than it showed (at most MAX_VERSIONS_SHOWN).
    went = 1 if version is None else 0
    shown = min(context["total"] + went, MAX_VERSIONS_SHOWN) - went
    context.update({"version": version, "shown": shown})
    return render_with_toasts(request, "objects/_version_answer.html", context, status)


def _gone(
    request: HttpRequest, bucket: Bucket, name: str, generation: int | None, *, row: bool
) -> HttpResponse:
    """The generation asked for is not kept (any more): its row goes all the same (``row``),
    or the versions page's panel comes fresh."""
    messages.error(request, f"That version of “{name}” no longer exists.")
    if row:
        return _version_row_done(request, bucket, name, generation, status=404)
    return _versions_panel(request, bucket, name, status=404)


@require_POST
@login_required
def version_restore(request: HttpRequest, bucket_id: str) -> HttpResponse:
    """Make a kept generation the live one again: an old version is copied onto the name (a new
    generation, as GCS restores a version); a soft-deleted one is restored. Either replaces the
    live object, which the bucket then keeps as it keeps any replaced object."""
    bucket = get_bucket_for_user(request, bucket_id)
    name = request.POST.get("name", "")
    generation = parse_generation(request.POST.get("generation", ""))
    found, has_live = _find_generation(bucket, name, generation)
    if found is None or found.state == "live":
        return _gone(request, bucket, name, generation, row=False)
    if has_live and not keeps_deleted(bucket) and not _confirmed(request):
        return render_confirm(
            request,
            bucket,
            question=f"Restore generation {generation} of “{name}”?",
            consequence="It replaces the current version, which this bucket does not keep: "
            "the current version is gone for good. This cannot be undone.",
            action=reverse("version_restore", args=[bucket.bucket_id]),
            fields={"name": name, "generation": str(generation)},
            button="Restore",
            cancel_url=versions_url(bucket, name),
            target="#versions",
        )
    try:
        if found.state == ObjectVersion.NONCURRENT:
            services.object_copy(
                source_bucket=bucket,
                source_name=name,
                source_generation=generation,
                bucket=bucket,
                name=name,
            )
        else:
            services.object_restore(bucket=bucket, name=name, generation=generation)
    except services.ObjectNotFound:
        return _gone(request, bucket, name, generation, row=False)
    except _RESTORE_REFUSED as exc:
        messages.error(request, str(exc))
        return toast_only(request, bucket, versions_url(bucket, name), status=403)
    messages.success(request, f"Restored “{name}” from generation {generation}.")
    return _versions_panel(request, bucket, name)


@require_POST
@login_required
def version_delete(request: HttpRequest, bucket_id: str) -> HttpResponse:
    """Delete one kept generation: an old version becomes soft-deleted if the bucket keeps
    deleted files (else it is gone); a soft-deleted one is deleted for good."""
    bucket = get_bucket_for_user(request, bucket_id)
    name = request.POST.get("name", "")
    generation = parse_generation(request.POST.get("generation", ""))
    found, _ = _find_generation(bucket, name, generation)
    if found is None or found.state == "live":
        return _gone(request, bucket, name, generation, row=True)
    forever = found.state == ObjectVersion.SOFT_DELETED or bucket.soft_delete_seconds == 0
    if forever and not _confirmed(request):
        back = request.POST.get("back", "")
        prefix = _folder_prefix(request.POST.get("prefix", ""))
        return render_confirm(
            request,
            bucket,
            question=f"Delete generation {generation} of “{name}” forever?",
            consequence="Its bytes are gone for good. This cannot be undone.",
            action=reverse("version_delete", args=[bucket.bucket_id]),
            fields={"name": name, "generation": str(generation), "back": back, "prefix": prefix},
            button="Delete forever",
            cancel_url=deleted_url(bucket, prefix)
            if back == "deleted"
            else versions_url(bucket, name),
            # The dialog's answer replaces the row the delete was asked from.
            target=f"#{deleted_row_id(name, generation)}"
            if back == "deleted"
            else f"#{version_row_id(generation)}",
        )
    try:
        if found.state == ObjectVersion.SOFT_DELETED:
            services.version_purge(bucket=bucket, name=name, generation=generation)
        else:
            services.object_delete(bucket=bucket, name=name, generation=generation)
    except services.ObjectNotFound:
        return _gone(request, bucket, name, generation, row=True)
    if forever:
        messages.success(request, f"Deleted generation {generation} of “{name}” for good.")
    else:
        messages.success(
            request,
            f"Deleted generation {generation} of “{name}”. "
            f"It can be restored for {duration_words(bucket.soft_delete_seconds)}.",
        )
    return _version_row_done(request, bucket, name, generation)


# ---- the deleted files under a folder --------------------------------------------------------


def _deleted_context(bucket: Bucket, prefix: str, token: str = "") -> dict:
    """One page of the soft-deleted files directly in ``prefix`` and of the folders below it
    that hold some, as the objects listing shows live ones."""
    listing = {
        "bucket": bucket,
        "prefix": prefix,
        "delimiter": "/",
        "max_results": settings.OBJSTORE_PAGE_SIZE,
        "soft_deleted": True,
    }
    try:
        page = services.versions_list(**listing, page_token=token)
    except InvalidPageToken:
        page = services.versions_list(**listing)
        token = ""
    return {
        "bucket": bucket,
        "prefix": prefix,
        "crumbs": _breadcrumbs(prefix),
        "folders": [FolderRow(p) for p in page.prefixes],
        # The folder's own deleted placeholder is the folder itself: "Restore all" brings it back.
        "files": [item for item in page.objects if item.name != prefix],
        "is_continuation": bool(token),
        "next_url": (
            deleted_url(bucket, prefix, page_token=page.next_page_token)
            if page.next_page_token
            else ""
        ),
        "listing_url": deleted_url(bucket, prefix),
        "browser_url": browser_url(bucket, prefix),
        "soft_delete_on": bucket.soft_delete_seconds > 0,
        "retention": duration_words(bucket.soft_delete_seconds),
        "versioning": bucket.versioning_enabled,
        "deletion_note": deletion_note(bucket),
    }


@require_GET
@login_required
def deleted_list(request: HttpRequest, bucket_id: str) -> HttpResponse:
    bucket = get_bucket_for_user(request, bucket_id)
    prefix = _folder_prefix(request.GET.get("prefix", ""))
    token = request.GET.get("page_token", "")
    context = _deleted_context(bucket, prefix, token)
    if request.htmx and token:
        return render(request, "objects/deleted.html#deleted-rows", context)
    if request.htmx and request.htmx.target == "deleted":
        return render_with_toasts(request, "objects/deleted.html#deleted", context)
    context.update({"buckets": request.user.buckets.all(), "tab": "objects"})
    return render(request, "objects/deleted.html", context)


@require_POST
@login_required
def deleted_restore(request: HttpRequest, bucket_id: str) -> HttpResponse:
    """Restore from the deleted-files page: one soft-deleted file (only while its name has no
    live object: replacing one is a choice made on its versions page), or everything deleted
    under a folder (under the whole bucket for an empty ``folder``)."""
    bucket = get_bucket_for_user(request, bucket_id)
    prefix = _folder_prefix(request.POST.get("prefix", ""))
    if request.POST.get("scope") == "folder":
        folder = _folder_prefix(request.POST.get("folder", ""))
        restored = services.deleted_restore(bucket=bucket, prefix=folder)
        where = f"“{folder}”" if folder else "this bucket"
        if restored:
            messages.success(
                request, f"Restored {restored} file{'s' if restored != 1 else ''} in {where}."
            )
        else:
            messages.info(request, f"There was nothing to restore in {where}.")
        if folder == prefix:
            # "Restore all": every row may have gone, so the whole panel.
            return _back_to_deleted(request, bucket, prefix)
        if _holds_deleted(bucket, folder):
            # A subfolder's row stays while something in it could not come back (its name taken).
            return toast_only(request, bucket, deleted_url(bucket, prefix), status=200)
        return _deleted_row_done(request, bucket, prefix)
    name = request.POST.get("name", "")
    generation = parse_generation(request.POST.get("generation", ""))
    try:
        if generation is None:
            raise services.ObjectNotFound(bucket, name)
        services.object_restore(
            bucket=bucket,
            name=name,
            generation=generation,
            preconditions=services.Preconditions(if_generation_match=0),
        )
    except services.ObjectNotFound:
        # Purged meanwhile: its row goes all the same.
        messages.error(request, f"That deleted version of “{name}” no longer exists.")
        return _deleted_row_done(request, bucket, prefix, status=404)
    except services.PreconditionFailed:
        messages.error(
            request,
            f"“{name}” exists again. To replace it with the deleted version, restore that "
            "version from the file's versions.",
        )
        return toast_only(request, bucket, deleted_url(bucket, prefix), status=409)
    except _RESTORE_REFUSED as exc:
        messages.error(request, str(exc))
        return toast_only(request, bucket, deleted_url(bucket, prefix), status=403)
    messages.success(request, f"Restored “{name}”.")
    return _deleted_row_done(request, bucket, prefix)


def _holds_deleted(bucket: Bucket, folder: str) -> bool:
    """Whether anything under ``folder`` is still soft-deleted (its row on its parent's page)."""
    page = services.versions_list(bucket=bucket, prefix=folder, max_results=1, soft_deleted=True)
    return bool(page.objects)


def _lists_deleted(bucket: Bucket, prefix: str) -> bool:
    """Whether the deleted files of ``prefix`` still have a row to show: a file or a subfolder,
    not the folder's own placeholder. Three entries are read and a next page counts as a row:
    only three deleted generations of the placeholder itself would be taken for a row (the
    table would then stay, empty, until the page is reloaded)."""
    page = services.versions_list(
        bucket=bucket, prefix=prefix, delimiter="/", max_results=3, soft_deleted=True
    )
    return bool(
        page.prefixes or page.next_page_token or any(item.name != prefix for item in page.objects)
    )


def _back_to_deleted(
    request: HttpRequest, bucket: Bucket, prefix: str, status: int = 200
) -> HttpResponse:
    """After a change to many rows of the deleted files: the fresh panel for htmx, a redirect
    otherwise."""
    if not request.htmx:
        return redirect(deleted_url(bucket, prefix))
    context = _deleted_context(bucket, prefix)
    return _panel(request, "objects/deleted.html#deleted", context, status)


def _deleted_row_done(
    request: HttpRequest, bucket: Bucket, prefix: str, status: int = 200
) -> HttpResponse:
    """After a change that takes one row off the deleted files: for htmx, nothing in place of
    the row (the rest of the list stays as it is, scrolled where it is) and the message as a
    toast, or the whole panel once the folder has nothing deleted left, to say so; a redirect
    otherwise."""
    if not request.htmx:
        return redirect(deleted_url(bucket, prefix))
    if not _lists_deleted(bucket, prefix):
        return _back_to_deleted(request, bucket, prefix, status=status)
    return render_with_toasts(request, "objects/_nothing.html", {"bucket": bucket}, status)
