"""What the listing does with a selection: the rows ticked in one folder (files by name,
folders by prefix) or, with ``everything``, all the folder holds, shown or not.

One plain form (``#bulk-form``) holds the selection: the rows' checkboxes belong to it through
their ``form`` attribute, so it works without JavaScript. Its buttons post ``action``:

- ``delete``: asks first (the page's dialog for htmx, a page of its own otherwise), then deletes
  as any delete does (kept as versions or soft-deleted where the bucket keeps them), with Undo.
- ``move``: asks for the destination folder (typed, with the folders around suggested), then
  moves each file as a single move does (``services.object_move``: never over an existing name
  unless *Replace* is ticked) and each folder as a folder move does (``objects/folder_moves``:
  a big one goes on on its own page).
- ``zip``: one zip of the selection, built while it is sent (``objects/zips.py``).
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget

from buckets.access import get_bucket_for_user
from buckets.models import Bucket

from . import folder_moves, services, zips
from .detail_views import _MOVE_REFUSED, _folders_near
from .models import FolderMove
from .move_views import move_url
from .names import InvalidObjectName
from .views import (
    MAX_SELECTED,
    _done,
    _folder_prefix,
    _offer_undo,
    _undo_tag,
    browser_url,
    deletion_note,
    field_pairs,
    render_confirm,
    served_untrusted,
    toast_only,
    view_of,
)


class Selection:
    """The rows a request names, all in the folder ``prefix``."""

    def __init__(self, request: HttpRequest) -> None:
        self.prefix = _folder_prefix(request.POST.get("prefix", ""))
        self.everything = request.POST.get("everything") == "yes"
        self.names = _unique(request.POST.getlist("names"))
        self.folders = _unique(_folder_prefix(f) for f in request.POST.getlist("folders") if f)
        self.error = ""
        if self.everything:
            self.names, self.folders = [], [self.prefix]
        elif not (self.names or self.folders):
            self.error = "Select files or folders first."
        elif len(self.names) + len(self.folders) > MAX_SELECTED:
            self.error = f"Select at most {MAX_SELECTED:,} files and folders at a time."
        elif not all(n.startswith(self.prefix) for n in [*self.names, *self.folders]):
            self.error = "Only files and folders of this folder can be selected together."

    def fields(self) -> dict[str, str | list[str]]:
        """The selection as the form fields that name it again."""
        if self.everything:
            return {"prefix": self.prefix, "everything": "yes"}
        return {"prefix": self.prefix, "names": self.names, "folders": self.folders}

    def describe(self, bucket: Bucket) -> str:
        """ "2 files and 1 folder", "“a.txt”", "everything in “photos/”"."""
        if self.everything:
            return f"everything in “{self.prefix or bucket.name}”"
        if len(self.names) + len(self.folders) == 1:
            return f"“{(self.names or self.folders)[0]}”"
        parts = [
            _count(len(self.names), "file"),
            _count(len(self.folders), "folder"),
        ]
        return " and ".join(part for part in parts if part)


def _unique(values) -> list[str]:
    return list(dict.fromkeys(values))


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'s' if number != 1 else ''}" if number else ""


@require_POST
@login_required
def bulk_action(request: HttpRequest, bucket_id: str) -> HttpResponse:
    bucket = get_bucket_for_user(request, bucket_id)
    selection = Selection(request)
    action = request.POST.get("action", "")
    back = browser_url(bucket, selection.prefix, **view_of(request).args())
    if action not in ("delete", "move", "zip"):
        messages.error(request, "Choose Delete, Move or Download.")
        return toast_only(request, bucket, back, status=400)
    if selection.error:
        messages.error(request, selection.error)
        return toast_only(request, bucket, back, status=400)
    if action == "zip":
        return _zip(request, bucket, selection, back)
    if action == "move":
        return _move(request, bucket, selection, back)
    return _delete(request, bucket, selection)


def _delete(request: HttpRequest, bucket: Bucket, selection: Selection) -> HttpResponse:
    if request.POST.get("confirmed") != "yes":
        count = sum(
            services.objects_count_under(bucket=bucket, prefix=folder)
            for folder in selection.folders
        ) + len(selection.names)
        return render_confirm(
            request,
            bucket,
            question=f"Delete {selection.describe(bucket)}?",
            consequence=(
                f"This deletes {count:,} object{'s' if count != 1 else ''}. {deletion_note(bucket)}"
            ),
            action=reverse("bulk_action", args=[bucket.bucket_id]),
            fields={**selection.fields(), "action": "delete", **view_of(request).args()},
            button="Delete",
            cancel_url=browser_url(bucket, selection.prefix, **view_of(request).args()),
            target="#listing",
        )
    since = timezone.now()
    deleted = 0
    for name in selection.names:
        try:
            services.object_delete(bucket=bucket, name=name)
            deleted += 1
        except services.ObjectNotFound:
            pass  # deleted elsewhere meanwhile: gone all the same
    for folder in selection.folders:
        if folder:
            deleted += services.folder_delete(bucket=bucket, prefix=folder)
        else:  # everything at the top of the bucket
            deleted += services.bucket_empty(bucket=bucket)
    if deleted:
        _offer_undo(request, bucket, since, names=selection.names, folders=selection.folders)
    objects = f": {_count(deleted, 'object') or 'nothing was left'}" if selection.folders else ""
    messages.success(
        request,
        f"Deleted {selection.describe(bucket)}{objects}.",
        extra_tags=_undo_tag(bucket) if deleted else "",
    )
    return _done(request, bucket, selection.prefix)


def _move(request: HttpRequest, bucket: Bucket, selection: Selection, back: str) -> HttpResponse:
    if selection.everything:
        messages.error(
            request,
            "To move all this folder holds, rename or move the folder itself (its row's "
            "“Rename or move”).",
        )
        return toast_only(request, bucket, back, status=400)
    if "destination" not in request.POST:
        return _ask_destination(request, bucket, selection)
    destination = _folder_prefix(request.POST.get("destination", "").strip().lstrip("/"))
    replace = request.POST.get("replace") == "yes"
    moved, taken, refused = 0, [], []
    for name in selection.names:
        new_name = destination + name.rpartition("/")[2]
        if new_name == name:
            continue  # already there
        try:
            services.object_move(bucket=bucket, name=name, new_name=new_name, replace=replace)
            moved += 1
        except services.DestinationExists:
            taken.append(new_name)
        except services.ObjectNotFound:
            refused.append(f"“{name}” no longer exists.")
        except InvalidObjectName as exc:
            refused.append(" ".join(exc.messages))
            break  # the destination itself is wrong: the same for every file
        except tuple(_MOVE_REFUSED) as exc:
            refused.append(str(exc))
            break  # quota, size or disk: the next files would be refused the same way
    folders, going_on = _move_folders(
        bucket, selection.folders, destination, replace, taken, refused
    )
    where = f"“{destination}”" if destination else f"the top of {bucket.name}"
    status = 200
    if moved or folders:
        what = " and ".join(p for p in (_count(moved, "file"), _count(folders, "folder")) if p)
        messages.success(request, f"Moved {what} to {where}.")
    if taken:
        shown = ", ".join(f"“{name}”" for name in taken[:5]) + (" …" if len(taken) > 5 else "")
        messages.error(
            request,
            f"Not moved, the name is taken: {shown}. Move them again with "
            "“Replace files of the same name” ticked to replace them.",
        )
        status = 409
    for reason in refused:
        messages.error(request, reason)
        status = 400 if status == 200 else status
    if going_on is not None:
        # A big folder: its move goes on on its page (the listing shows it meanwhile).
        messages.info(request, f"Moving “{going_on.source}”: it goes on here.")
        if request.htmx:
            return HttpResponseClientRedirect(move_url(going_on))
        return redirect(move_url(going_on))
    if not (moved or folders or taken or refused):
        messages.info(request, f"The selection is in {where} already.")
    return _done(request, bucket, selection.prefix, status=status)


def _move_folders(
    bucket: Bucket,
    folders: list[str],
    destination: str,
    replace: bool,
    taken: list[str],
    refused: list[str],
) -> tuple[int, FolderMove | None]:
    """Move each folder into ``destination`` (objects/folder_moves.py), the first batch of
    each at once: how many are done, and the first that goes on (too big for one batch)."""
    done, going_on = 0, None
    for folder in folders:
        new_prefix = destination + folder[:-1].rpartition("/")[2] + "/"
        if new_prefix == folder:
            continue  # already there
        try:
            move = folder_moves.folder_move_start(
                bucket=bucket, source=folder, destination=new_prefix, replace=replace
            )
        except (folder_moves.MoveRefused, InvalidObjectName) as exc:
            refused.append(
                " ".join(exc.messages) if isinstance(exc, InvalidObjectName) else str(exc)
            )
            continue
        move = folder_moves.folder_move_step(move)
        taken.extend(move.skipped_names)
        if move.error:
            refused.append(move.error)
        if move.state == FolderMove.DONE:
            done += 1
        elif going_on is None:
            going_on = move
    return done, going_on


def _ask_destination(request: HttpRequest, bucket: Bucket, selection: Selection) -> HttpResponse:
    """The question of a move: where to. For htmx in the page's dialog, else a page."""
    context = {
        "bucket": bucket,
        "question": f"Move {selection.describe(bucket)}",
        "fields": field_pairs({**selection.fields(), "action": "move", **view_of(request).args()}),
        "action": reverse("bulk_action", args=[bucket.bucket_id]),
        "prefix": selection.prefix,
        "folders": _folders_near(bucket, selection.prefix),
        "cancel_url": browser_url(bucket, selection.prefix, **view_of(request).args()),
    }
    if request.htmx:
        response = render(request, "objects/bulk_move.html#dialog", context)
        return reswap(retarget(response, "#confirm-dialog"), "innerHTML")
    context.update({"buckets": request.user.buckets.all(), "tab": "objects"})
    return render(request, "objects/bulk_move.html", context)


def _zip(request: HttpRequest, bucket: Bucket, selection: Selection, back: str) -> HttpResponse:
    names = [*selection.names, *selection.folders] if not selection.everything else []
    if zips.too_many_files(bucket, selection.prefix, names):
        messages.error(
            request,
            f"The selection holds more than {settings.OBJSTORE_ZIP_MAX_FILES:,} files, too "
            "many for one zip: select less, or use a client of the API (rclone, gsutil).",
        )
        return toast_only(request, bucket, back, status=400)
    response = StreamingHttpResponse(
        zips.stream_zip(bucket, selection.prefix, names), content_type="application/zip"
    )
    response["Content-Disposition"] = content_disposition_header(
        True, zips.zip_filename(bucket, selection.prefix, names)
    )
    return served_untrusted(response)
