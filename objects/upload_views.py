"""The pane's upload endpoints for its script: ask which names exist, send one small file with
a "only if absent" precondition, and send a large file in chunks through a resumable session.

Every endpoint answers JSON, is signed-in only (an XHR without a session gets 401 JSON, never
the login page; ``UploadGuardMiddleware`` answers that one before any body is read) and takes
the bucket through ``get_bucket_for_user``: another user's bucket, or a session of another
bucket, is a 404. Chunks are streamed from the request into the session, never read whole.
"""

import json
import re
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, UnreadablePostError
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from buckets.access import get_bucket_for_user
from buckets.models import Bucket
from objstore_site.bodies import stop_reading

from . import services, uploads
from .middleware import TOO_LARGE_FLAG
from .models import Object
from .views import _folder_prefix, _too_large_message, _upload_name, _uploaded_content_type

# The most names one conflict check may ask about (a folder upload asks in batches of this).
MAX_CHECK_NAMES = 1000
_MAX_JSON = 1024 * 1024
SIGN_IN_AGAIN = "Your session has ended. Sign in again to upload."


def login_url(request: HttpRequest) -> str:
    """Where to sign in: back to the page the script runs on (its Referer), else the bucket."""
    return f"{reverse('login')}?{urlencode({'next': request.headers.get('Referer', '/')})}"


def signed_in_json(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """login_required for a script: 401 JSON that says where to sign in, not a redirect that
    the XMLHttpRequest would follow to the login page and report as a 200."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            stop_reading(request.META.get("gunicorn.socket"))
            return sign_in_again(request)
        return view(request, *args, **kwargs)

    return wrapped


def sign_in_again(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"error": SIGN_IN_AGAIN, "login_url": login_url(request)}, status=401)


def _error(message: str, status: int, **extra) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


def _json_body(request: HttpRequest) -> dict | None:
    if int(request.META.get("CONTENT_LENGTH") or 0) > _MAX_JSON:
        return None
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, RecursionError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


_NUMBERED = re.compile(r"^(?P<stem>.*?)(?: \((?P<n>\d+)\))?$")


def free_name(bucket: Bucket, name: str, taken: set[str] = frozenset()) -> str:
    """``name`` with the first " (n)" before its extension that no object (and no name in
    ``taken``) has: "photos/a.jpg" -> "photos/a (1).jpg"."""
    folder, _, base = name.rpartition("/")
    stem, dot, ext = base.rpartition(".") if "." in base.lstrip(".") else (base, "", "")
    stem = _NUMBERED.match(stem)["stem"]
    # A few numbers at a time: usually "(1)" is free, and a check of 1,000 names must not cost
    # 1,000 queries of 999 candidates each.
    for first, last in ((1, 10), (10, 100), (100, 1000)):
        candidates = [
            f"{folder}{'/' if folder else ''}{stem} ({n}){dot}{ext}" for n in range(first, last)
        ]
        existing = set(
            Object.objects.filter(bucket=bucket, name__in=candidates).values_list("name", flat=True)
        )
        for candidate in candidates:
            if candidate not in existing and candidate not in taken:
                return candidate
    raise services.PreconditionFailed


@require_POST
@signed_in_json
def upload_check(request: HttpRequest, bucket_id: str) -> HttpResponse:
    """Which of ``names`` exist already, each with a free name to keep both.

    Body: ``{"names": ["folder/a.txt", ...]}`` (full object names). Answer:
    ``{"existing": {"folder/a.txt": "folder/a (1).txt"}}``.
    """
    bucket = get_bucket_for_user(request, bucket_id)
    body = _json_body(request)
    names = body.get("names") if body else None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        return _error('Send {"names": [...]} as JSON.', 400)
    if len(names) > MAX_CHECK_NAMES:
        return _error(f"Ask about {MAX_CHECK_NAMES} names at most.", 400)
    existing = set(
        Object.objects.filter(bucket=bucket, name__in=names).values_list("name", flat=True)
    )
    taken = set(names)
    answer = {}
    for name in names:
        if name in existing and name not in answer:
            answer[name] = free_name(bucket, name, taken)
            taken.add(answer[name])
    return JsonResponse({"existing": answer})


def _precondition(value: str | None) -> services.Preconditions:
    """The script sends ``if_generation_match=0`` ("only if absent") unless the user chose to
    replace; any other value is a generation the object must still have."""
    if value is None or value == "":
        return services.Preconditions()
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise ValueError("if_generation_match must be a generation number.")
    return services.Preconditions(if_generation_match=int(value))


_CONFLICT = "A file of this name exists already."

# What the services refuse an upload with; every upload endpoint answers these alike.
_REFUSALS = (
    services.InvalidObjectName,
    services.PreconditionFailed,
    services.ObjectTooLarge,
    services.InsufficientStorage,
    services.QuotaExceeded,
)
# With the ValueError of a bad ``if_generation_match`` or attribute, for the endpoints that take
# them (InvalidObjectName is a ValidationError, not a ValueError).
_START_REFUSALS = (ValueError, *_REFUSALS)


def _refusal(exc: Exception, **extra) -> JsonResponse:
    """The JSON answer to one of ``_START_REFUSALS``; ``extra`` adds keys to it (the object's
    name, ``restart``). A 412 carries ``conflict``, for the script to ask before replacing."""
    if isinstance(exc, services.InvalidObjectName):
        return _error(" ".join(exc.messages), 400, **extra)
    if isinstance(exc, services.PreconditionFailed):
        return _error(_CONFLICT, 412, conflict=True, **extra)
    if isinstance(exc, services.ObjectTooLarge):
        return _error(_too_large_message(exc.limit), 413, **extra)
    if isinstance(exc, services.InsufficientStorage):
        return _error(str(exc), 507, **extra)
    if isinstance(exc, services.QuotaExceeded):
        return _error(str(exc), 403, **extra)
    if isinstance(exc, ValueError):
        return _error(str(exc), 400, **extra)
    raise exc


@require_POST
@signed_in_json
def upload_file(request: HttpRequest, bucket_id: str) -> HttpResponse:
    """One small file (multipart: ``prefix``, ``path``, ``file``, ``if_generation_match``).
    A name taken meanwhile answers 412 with ``conflict``: nothing is replaced unasked."""
    bucket = get_bucket_for_user(request, bucket_id)
    try:
        prefix = _folder_prefix(request.POST.get("prefix", ""))
        relative = request.POST.get("path", "")
        condition = request.POST.get("if_generation_match")
        upload = request.FILES.get("file")
    except UnreadablePostError:
        return _error("The upload broke off before all of it arrived; nothing was stored.", 400)
    except OSError as exc:
        if not services.is_disk_full(exc):
            raise
        return _error(services.DISK_FULL, 507)
    if getattr(request, TOO_LARGE_FLAG, False):
        return _error(_too_large_message(settings.OBJSTORE_MAX_OBJECT_SIZE), 413)
    if upload is None:
        return _error("Choose a file to upload.", 400)
    name = _upload_name(prefix, relative, upload.name or "")
    try:
        preconditions = _precondition(condition)
        obj = services.object_upload(
            bucket=bucket,
            name=name,
            stream=upload,
            attributes=services.ObjectAttributes(
                content_type=_uploaded_content_type(upload.content_type, name)
            ),
            preconditions=preconditions,
        )
    except _START_REFUSALS as exc:
        return _refusal(exc, name=name)
    except services.UploadInterrupted:
        return _error("The upload broke off; nothing was stored.", 400, name=name)
    finally:
        upload.close()
    return JsonResponse({"name": obj.name, "size": obj.size, "generation": obj.generation})


# ---- chunked uploads ----------------------------------------------------------------------------


def _session_state(session) -> dict:
    return {
        "upload_id": session.upload_id,
        "name": session.name,
        "size": session.expected_size,
        "received": session.received,
        "done": session.completed_generation is not None,
    }


@require_POST
@signed_in_json
def session_create(request: HttpRequest, bucket_id: str) -> HttpResponse:
    """Start a chunked upload. Body: ``{"prefix", "path", "size", "content_type",
    "if_generation_match"}``; the size is required (the upload ends when it has all of it)."""
    bucket = get_bucket_for_user(request, bucket_id)
    body = _json_body(request)
    if body is None:
        return _error("Send the upload's details as a JSON object.", 400)
    size = body.get("size")
    path = body.get("path")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return _error("size must be the file's size in bytes.", 400)
    if not isinstance(path, str) or not path:
        return _error("path must be the file's name.", 400)
    prefix = _folder_prefix(str(body.get("prefix") or ""))
    name = _upload_name(prefix, path, path)
    condition = body.get("if_generation_match")
    try:
        preconditions = _precondition(None if condition is None else str(condition))
        session = uploads.session_start(
            bucket=bucket,
            name=name,
            attributes=services.ObjectAttributes(
                content_type=_uploaded_content_type(str(body.get("content_type") or ""), name)
            ),
            preconditions=preconditions,
            expected_size=size,
        )
    except _START_REFUSALS as exc:
        return _refusal(exc, name=name)
    return JsonResponse(_session_state(session), status=201)


def _session_for_user(request: HttpRequest, bucket_id: str, upload_id: str):
    """The session, in the user's own bucket only; (None, answer) when there is none."""
    bucket = get_bucket_for_user(request, bucket_id)
    try:
        return uploads.session_get(bucket=bucket, upload_id=upload_id), None
    except uploads.SessionNotFound:
        return None, _error("No such upload: start it again.", 404, restart=True)
    except uploads.SessionExpired:
        return None, _error("This upload expired: start it again.", 410, restart=True)


@require_GET
@signed_in_json
def session_status(request: HttpRequest, bucket_id: str, upload_id: str) -> HttpResponse:
    """How much of the upload the server has: where a retried or resumed upload continues."""
    session, failed = _session_for_user(request, bucket_id, upload_id)
    return failed or JsonResponse(_session_state(session))


def _finish(session) -> HttpResponse:
    try:
        obj = uploads.session_finish(session=session)
    except uploads.SizeMismatch as exc:
        return _error(str(exc), 400, restart=True)
    except uploads.SessionNotFound:
        return _error("This upload was cancelled.", 404, restart=True)
    except (services.PreconditionFailed, services.QuotaExceeded) as exc:
        return _refusal(exc, name=session.name, restart=True)
    if obj is None:
        return _error("The upload finished, but its file has since changed.", 409)
    return JsonResponse({**_session_state(session), "done": True, "generation": obj.generation})


@require_POST
@signed_in_json
def session_chunk(request: HttpRequest, bucket_id: str, upload_id: str) -> HttpResponse:
    """Append the raw body (``application/octet-stream``) at ``?offset=``; the chunk that
    completes the declared size also finishes the upload. A wrong offset answers 409 with the
    offset the server has, so the script can continue from there."""
    session, failed = _session_for_user(request, bucket_id, upload_id)
    if failed:
        return failed
    offset_text = request.GET.get("offset", "")
    length_text = request.META.get("CONTENT_LENGTH") or ""
    if not offset_text.isascii() or not offset_text.isdigit() or len(offset_text) > 18:
        return _error("offset must be a byte position.", 400)
    if not length_text.isascii() or not length_text.isdigit():
        return _error("A chunk needs a Content-Length.", 411)
    offset, length = int(offset_text), int(length_text)
    if session.completed_generation is not None:
        return _finish(session)
    if offset > session.received or offset + length > (session.expected_size or 0):
        return _error(
            f"The upload continues at byte {session.received}.",
            409,
            received=session.received,
        )
    try:
        session = uploads.session_append(
            session=session, offset=offset, stream=request, length=length
        )
    except uploads.OffsetMismatch as exc:
        return _error(str(exc), 409, received=exc.expected)
    except uploads.SessionNotFound:
        return _error("This upload was cancelled.", 404, restart=True)
    except (uploads.SizeMismatch, services.UploadInterrupted) as exc:
        return _error(f"The chunk did not arrive whole. {exc}", 400, received=session.received)
    except _REFUSALS as exc:
        return _refusal(exc)
    if session.completed_generation is not None or session.received == session.expected_size:
        return _finish(session)
    return JsonResponse(_session_state(session))


@require_POST
@signed_in_json
def session_abort(request: HttpRequest, bucket_id: str, upload_id: str) -> HttpResponse:
    """Cancel: the session and its bytes go (a finished upload's file stays)."""
    session, failed = _session_for_user(request, bucket_id, upload_id)
    if failed:
        # Already gone is what the user asked for; an expired one is removed all the same.
        if failed.status_code == 410:
            bucket = get_bucket_for_user(request, bucket_id)
            for stale in bucket.upload_sessions.filter(upload_id=upload_id):
                uploads.session_cancel(session=stale)
        return JsonResponse({"cancelled": True})
    uploads.session_cancel(session=session)
    return JsonResponse({"cancelled": True})
