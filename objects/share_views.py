"""Share links in the pane (``objects/shares.py`` holds the rules).

The owner's side: ``share_links`` lists a bucket's links (with their downloads, and Revoke) and
makes new ones, for a file (from its Details page) or a folder (from inside it); a new link is
shown once, since only its hash is kept. The public side, for anyone with a link and no
account: ``share_open`` (the file's page with a Download button, or the folder's files,
browsable within it), ``share_download`` and ``share_zip``. A link that asks for a password
asks once per browser session; wrong guesses are throttled as sign-ins are.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header, urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from buckets import throttle
from buckets.access import get_bucket_for_user

from . import services, shares, zips
from .listing import InvalidPageToken, objects_list
from .models import ShareLink
from .views import _folder_prefix, served_untrusted

_NEW_LINK_KEY = "objstore_new_share_link"


def shares_url(bucket, **query: str) -> str:
    url = reverse("share_links", args=[bucket.bucket_id])
    return f"{url}?{urlencode(query)}" if query else url


# ---- the owner's side -------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def share_links(request: HttpRequest, bucket_id: str) -> HttpResponse:
    bucket = get_bucket_for_user(request, bucket_id)
    target = request.POST.get("name") or request.GET.get("name", "")
    error, status = "", 200
    if request.method == "POST":
        limit = request.POST.get("max_downloads", "").strip()
        try:
            if limit and not (limit.isascii() and limit.isdigit() and len(limit) <= 9):
                raise shares.ShareRefused("The download limit is a whole number.")
            link, token = shares.share_create(
                bucket=bucket,
                name=target,
                expiry=request.POST.get("expiry", ""),
                password=request.POST.get("password", ""),
                max_downloads=int(limit) if limit else None,
            )
        except shares.ShareRefused as exc:
            error, status = str(exc), 400
        else:
            # Shown once, on the page this redirects to (never stored, so never again).
            request.session[_NEW_LINK_KEY] = {
                "id": link.pk,
                "url": request.build_absolute_uri(reverse("share_open", args=[token])),
            }
            messages.success(request, f"Made a link to “{link.name}”: copy it now.")
            return redirect(shares_url(bucket))
    new = request.session.pop(_NEW_LINK_KEY, None)
    links = list(bucket.share_links.order_by("-created")[:500])
    for link in links:
        link.state = shares.share_state(link)
    context = {
        "bucket": bucket,
        "buckets": request.user.buckets.all(),
        "tab": "shares",
        "target": target,
        "error": error,
        "expiry_choices": [(value, label) for value, label, _ in shares.EXPIRY_CHOICES],
        "expiry": request.POST.get("expiry", "7d"),
        "max_downloads": request.POST.get("max_downloads", ""),
        "new": new if new and any(link.pk == new["id"] for link in links) else None,
        "links": links,
    }
    return render(request, "objects/shares.html", context, status=status)


@require_POST
@login_required
def share_revoke(request: HttpRequest, bucket_id: str, link_id: int) -> HttpResponse:
    bucket = get_bucket_for_user(request, bucket_id)
    link = ShareLink.objects.filter(pk=link_id, bucket=bucket).first()
    if link is None:
        raise Http404("No such link.")
    shares.share_revoke(link)
    messages.success(request, f"Revoked the link to “{link.name}”: it opens nothing now.")
    return redirect(shares_url(bucket))


# ---- the public side ---------------------------------------------------------------------------


def _link(request: HttpRequest, token: str) -> tuple[ShareLink | None, HttpResponse | None]:
    """The link, or the page to answer instead: not found, gone, or the password form."""
    link = shares.share_find(token)
    if link is None:
        return None, _public(request, "objects/share_gone.html", {"reason": "missing"}, 404)
    state = shares.share_state(link)
    if state != "ok":
        return None, _public(request, "objects/share_gone.html", {"reason": state}, 410)
    if link.password_hash and not request.session.get(_unlocked_key(link)):
        return None, redirect(reverse("share_open", args=[token]))
    return link, None


def _unlocked_key(link: ShareLink) -> str:
    return f"objstore_share_{link.pk}"


def _public(request: HttpRequest, template: str, context: dict, status: int = 200):
    response = render(request, template, context, status=status)
    response["Cache-Control"] = "private, no-store"
    return response


@require_http_methods(["GET", "POST"])
def share_open(request: HttpRequest, token: str) -> HttpResponse:
    link = shares.share_find(token)
    if link is None:
        return _public(request, "objects/share_gone.html", {"reason": "missing"}, 404)
    state = shares.share_state(link)
    if state != "ok":
        return _public(request, "objects/share_gone.html", {"reason": state}, 410)
    if link.password_hash and not request.session.get(_unlocked_key(link)):
        return _password(request, link, token)
    if link.is_folder:
        return _folder_page(request, link, token)
    try:
        obj = services.object_get(bucket=link.bucket, name=link.name)
    except services.ObjectNotFound:
        return _public(request, "objects/share_gone.html", {"reason": "deleted"}, 410)
    context = {"link": link, "obj": obj, "token": token}
    return _public(request, "objects/share_file.html", context)


def _password(request: HttpRequest, link: ShareLink, token: str) -> HttpResponse:
    error, status = "", 200
    if request.method == "POST":
        who, address = f"share-link:{link.pk}", throttle.client_address(request)
        error = throttle.refusal(who, address) or ""
        if not error:
            try:
                with throttle.password_check_slot():
                    correct = shares.share_password_ok(link, request.POST.get("password", ""))
            except ValidationError as exc:
                correct, error = False, " ".join(exc.messages)
            if correct:
                request.session.cycle_key()
                request.session[_unlocked_key(link)] = True
                return redirect(reverse("share_open", args=[token]))
            if not error:
                throttle.record_failure(who, address)
                error = "That is not the password."
        error = error.replace("sign-in attempts for this account", "tries of this link's password")
        status = 429 if error.startswith("Too many") else 403
    context = {"link": link, "error": error, "token": token}
    return _public(request, "objects/share_password.html", context, status)


def _folder_page(request: HttpRequest, link: ShareLink, token: str) -> HttpResponse:
    path = _folder_prefix(request.GET.get("path", "").lstrip("/"))
    prefix = link.name + path
    try:
        page = objects_list(
            bucket=link.bucket,
            prefix=prefix,
            delimiter="/",
            max_results=200,
            page_token=request.GET.get("page_token", ""),
        )
    except InvalidPageToken:
        raise Http404("No such page.") from None
    crumbs, walked = [], ""
    for part in path.split("/")[:-1] if path else []:
        walked += f"{part}/"
        crumbs.append({"label": part, "path": walked})
    context = {
        "link": link,
        "token": token,
        "path": path,
        "crumbs": crumbs,
        "folders": [(p[len(prefix) :], p[len(link.name) :]) for p in page.prefixes],
        "files": [
            (obj, obj.name[len(prefix) :], obj.name[len(link.name) :])
            for obj in page.objects
            if obj.name != prefix  # the folder's own placeholder
        ],
        "next_token": page.next_page_token or "",
    }
    return _public(request, "objects/share_folder.html", context)


@require_GET
def share_download(request: HttpRequest, token: str) -> HttpResponse:
    link, refusal = _link(request, token)
    if refusal is not None:
        return refusal
    name = link.name + request.GET.get("name", "") if link.is_folder else link.name
    if not shares.share_covers(link, name) or name.endswith("/"):
        raise Http404("Not part of this link.")
    try:
        obj, handle = services.object_read(bucket=link.bucket, name=name)
    except services.ObjectNotFound:
        if link.is_folder:
            raise Http404("No such file in this folder.") from None
        return _public(request, "objects/share_gone.html", {"reason": "deleted"}, 410)
    if not shares.share_count_download(link):
        handle.close()
        return _public(request, "objects/share_gone.html", {"reason": "used up"}, 410)
    response = FileResponse(
        handle, as_attachment=True, filename=obj.basename, content_type=obj.content_type
    )
    response.block_size = services.CHUNK_SIZE
    response["Content-Length"] = str(obj.size)
    return served_untrusted(response)


@require_GET
def share_zip(request: HttpRequest, token: str) -> HttpResponse:
    link, refusal = _link(request, token)
    if refusal is not None:
        return refusal
    if not link.is_folder:
        raise Http404("Only a folder downloads as a zip.")
    prefix = link.name + _folder_prefix(request.GET.get("path", "").lstrip("/"))
    if zips.too_many_files(link.bucket, prefix):
        context = {"reason": "too big", "limit": settings.OBJSTORE_ZIP_MAX_FILES}
        return _public(request, "objects/share_gone.html", context, 413)
    if not shares.share_count_download(link):
        return _public(request, "objects/share_gone.html", {"reason": "used up"}, 410)
    response = StreamingHttpResponse(
        zips.stream_zip(link.bucket, prefix), content_type="application/zip"
    )
    response["Content-Disposition"] = content_disposition_header(
        True, zips.zip_filename(link.bucket, prefix)
    )
    return served_untrusted(response)
