"""Moving and renaming folders in the pane (``objects/folder_moves.py`` does the moving).

- ``folder_move``: GET a form (the folder's new path, typed with the folders around
  suggested); POST starts the move: from that form (``new_path``) or from a folder row dropped
  on another folder or a breadcrumb (``into``, by htmx). The first batch runs at once: a small
  folder is moved by then, and the answer is the listing with a toast (htmx) or a redirect to
  the new folder's parent. A bigger one goes on on its page.
- ``move_page``: a move's progress. While it moves, its form asks for the next batch (htmx
  posts it on load, again and again; without JavaScript it is a *Continue* button). *Stop*,
  *Resume*, *Undo* and *Leave it* are plain forms too.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from buckets.access import get_bucket_for_user
from buckets.models import Bucket

from . import folder_moves
from .detail_views import _folders_near
from .models import FolderMove
from .names import InvalidObjectName
from .views import _breadcrumbs, _done, _folder_prefix, browser_url, toast_only


def move_url(move: FolderMove) -> str:
    return reverse("folder_move_page", args=[move.bucket.bucket_id, move.pk])


def _parent(prefix: str) -> str:
    """ "a/b/" -> "a/", "a/" -> "" (the top)."""
    parent = prefix[:-1].rpartition("/")[0]
    return f"{parent}/" if parent else ""


@require_http_methods(["GET", "POST"])
@login_required
def folder_move(request: HttpRequest, bucket_id: str) -> HttpResponse:
    bucket = get_bucket_for_user(request, bucket_id)
    folder = _folder_prefix(request.POST.get("folder") or request.GET.get("folder", ""))
    if not folder:
        raise Http404("No folder named.")
    if request.method == "GET":
        return _form(request, bucket, folder, folder)
    if "into" in request.POST:  # dropped on a folder row or a breadcrumb
        destination = _folder_prefix(request.POST.get("into", "")) + folder[:-1].rpartition("/")[2]
        destination += "/"
    else:
        destination = _folder_prefix(request.POST.get("new_path", "").strip().lstrip("/"))
    replace = request.POST.get("replace") == "yes"
    try:
        move = folder_moves.folder_move_start(
            bucket=bucket, source=folder, destination=destination, replace=replace
        )
    except (folder_moves.MoveRefused, InvalidObjectName) as exc:
        error = " ".join(exc.messages) if isinstance(exc, InvalidObjectName) else str(exc)
        if "into" in request.POST:
            messages.error(request, error)
            back = browser_url(bucket, _folder_prefix(request.POST.get("prefix", "")))
            return toast_only(request, bucket, back, status=400)
        return _form(request, bucket, folder, destination, error=error, status=400)
    move = folder_moves.folder_move_step(move)
    if move.state == FolderMove.DONE and not move.skipped:
        messages.success(request, _finished(move))
        if "into" in request.POST:
            return _done(request, bucket, _folder_prefix(request.POST.get("prefix", "")))
        return redirect(browser_url(bucket, _parent(move.destination)))
    if request.htmx:
        return HttpResponseClientRedirect(move_url(move))
    return redirect(move_url(move))


def _finished(move: FolderMove) -> str:
    return (
        f"Moved “{move.source}” to “{move.destination}”: "
        f"{move.moved:,} object{'s' if move.moved != 1 else ''}."
    )


def _form(
    request: HttpRequest,
    bucket: Bucket,
    folder: str,
    new_path: str,
    *,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    context = {
        "bucket": bucket,
        "buckets": request.user.buckets.all(),
        "tab": "objects",
        "folder": folder,
        "crumbs": _breadcrumbs(folder),
        "new_path": new_path,
        "error": error,
        "folders": [f for f in _folders_near(bucket, folder) if not f.startswith(folder)],
        "back_url": browser_url(bucket, _parent(folder)),
    }
    return render(request, "objects/folder_move.html", context, status=status)


def _move_of(request: HttpRequest, bucket_id: str, move_id: int) -> FolderMove:
    bucket = get_bucket_for_user(request, bucket_id)
    try:
        return FolderMove.objects.select_related("bucket").get(pk=move_id, bucket=bucket)
    except FolderMove.DoesNotExist:
        raise Http404("No such move.") from None


@login_required
def move_page(request: HttpRequest, bucket_id: str, move_id: int) -> HttpResponse:
    move = _move_of(request, bucket_id, move_id)
    return _render_move(request, move)


def _render_move(request: HttpRequest, move: FolderMove, status: int = 200) -> HttpResponse:
    context = {
        "bucket": move.bucket,
        "move": move,
        "crumbs": _breadcrumbs(move.destination if move.state == FolderMove.DONE else move.source),
        "can_undo": folder_moves.can_undo(move),
        "undo": getattr(move, "undone_by", None),
        "source_url": browser_url(move.bucket, move.source),
        "destination_url": browser_url(move.bucket, move.destination),
        "parent_url": browser_url(move.bucket, _parent(move.destination)),
    }
    if request.htmx:
        return render(request, "objects/folder_move_page.html#progress", context, status=status)
    context.update({"buckets": request.user.buckets.all(), "tab": "objects"})
    return render(request, "objects/folder_move_page.html", context, status=status)


@require_POST
@login_required
def move_step(request: HttpRequest, bucket_id: str, move_id: int) -> HttpResponse:
    move = folder_moves.folder_move_step(_move_of(request, bucket_id, move_id))
    if request.htmx:
        return _render_move(request, move)
    return redirect(move_url(move))


@require_POST
@login_required
def move_control(request: HttpRequest, bucket_id: str, move_id: int, action: str) -> HttpResponse:
    move = _move_of(request, bucket_id, move_id)
    if action == "stop":
        folder_moves.folder_move_stop(move)
    elif action == "resume":
        folder_moves.folder_move_resume(move)
    elif action == "leave":
        folder_moves.folder_move_leave(move)
        messages.info(request, f"Left the move of “{move.source}” as it is.")
        return redirect(browser_url(move.bucket, _parent(move.destination)))
    elif action == "undo":
        try:
            move = folder_moves.folder_move_undo(move)
        except folder_moves.MoveRefused as exc:
            messages.error(request, str(exc))
            return redirect(move_url(move))
    else:
        raise Http404("No such action.")
    if request.htmx:
        return HttpResponseClientRedirect(move_url(move))
    return redirect(move_url(move))
