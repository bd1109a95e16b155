"""Pane uploads: who may send a body, and how much of it reaches the disk.

Django parses a multipart body the first time anything reads ``request.POST`` or
``request.FILES``, spooling every file above 2.5 MB to ``FILE_UPLOAD_TEMP_DIR``; and the CSRF
middleware reads ``request.POST`` before any view runs. So an anonymous client with the login
page's CSRF cookie could make the server write a whole body to disk, and a signed-in upload
only met ``OBJSTORE_MAX_OBJECT_SIZE`` once all of it was there. This middleware runs before that
(its ``__call__`` precedes every middleware's ``process_view``, CSRF's included):

* an upload from someone not signed in is answered without reading its body (403 for the
  pane's script, which asks for JSON; a redirect to the login page otherwise); on any other
  page, an anonymous multipart body may carry form fields but no file is ever written;
* a body that cannot fit in the free-space reserve is refused at once (507);
* the script's own upload endpoints (``upload_views``: name check, chunks, sessions) answer
  a signed-out caller 401 JSON with the way back to sign in, before CSRF's check, whose cookie
  may have gone with the session: the script then says so instead of "HTTP 403";
* files are received through a handler that stops reading the body the moment one file passes
  ``OBJSTORE_MAX_OBJECT_SIZE`` (the view then answers 413).
"""

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve

from objstore_site.bodies import stop_reading

from . import services

TOO_LARGE_FLAG = "objstore_upload_too_large"


class SizeLimitHandler(FileUploadHandler):
    """First in the handler chain: counts each file's bytes and ends the upload past the limit."""

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > settings.OBJSTORE_MAX_OBJECT_SIZE:
            setattr(self.request, TOO_LARGE_FLAG, True)
            # The rest of the body is never read: the connection closes after the answer.
            stop_reading(self.request.META.get("gunicorn.socket"))
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


class NoFilesHandler(FileUploadHandler):
    """For anonymous requests outside the upload view: a file part ends the upload."""

    def new_file(self, *args, **kwargs) -> None:
        raise StopUpload(connection_reset=True)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


# The pane's upload endpoints (objects/upload_views.py): the script's own JSON answers.
PANE_UPLOAD_VIEWS = frozenset(
    {
        "pane_upload_check",
        "pane_upload_file",
        "pane_upload_session_create",
        "pane_upload_session_status",
        "pane_upload_session_chunk",
        "pane_upload_session_abort",
    }
)


def _url_name(request: HttpRequest) -> str | None:
    try:
        return resolve(request.path_info).url_name
    except Resolver404:
        return None


def _is_upload(request: HttpRequest) -> bool:
    return _url_name(request) in {"object_upload", *PANE_UPLOAD_VIEWS}


def _login_url(request: HttpRequest) -> str:
    from .upload_views import login_url

    return login_url(request)


class UploadGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            "/uploads/" in request.path_info  # cheap first: most requests are something else
            and _url_name(request) in PANE_UPLOAD_VIEWS
            and not request.user.is_authenticated
        ):
            # Before CSRF's check (whose cookie may be gone with the session): the script learns
            # that the session ended, and where to sign in again, instead of a 403 page.
            from .upload_views import sign_in_again

            stop_reading(request.META.get("gunicorn.socket"))
            return sign_in_again(request)
        if request.method == "POST" and request.content_type == "multipart/form-data":
            if not request.user.is_authenticated and not _is_upload(request):
                # Other pages (login, health) answer as they do; no file reaches the disk.
                request.upload_handlers = [NoFilesHandler(request)]
                return self.get_response(request)
            refused = self._refuse(request)
            if refused is not None:
                stop_reading(request.META.get("gunicorn.socket"))
                return refused
            request.upload_handlers.insert(0, SizeLimitHandler(request))
        return self.get_response(request)

    def _refuse(self, request: HttpRequest) -> HttpResponse | None:
        wants_json = "application/json" in request.headers.get("Accept", "")
        if not request.user.is_authenticated:
            if wants_json:
                return JsonResponse(
                    {"error": "Sign in to upload files.", "login_url": _login_url(request)},
                    status=403,
                )
            return redirect_to_login(request.get_full_path())
        try:
            services.check_free_space(int(request.META.get("CONTENT_LENGTH") or 0))
        except (services.InsufficientStorage, ValueError) as exc:
            if wants_json:
                return JsonResponse({"error": str(exc)}, status=507)
            return HttpResponse(str(exc), status=507, content_type="text/plain; charset=utf-8")
        return None
