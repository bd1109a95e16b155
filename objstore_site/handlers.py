"""The WSGI application: the pane and the admin through every middleware, API calls through a
lean path of their own.

An API call authenticates with its bearer token and never touches a session, a CSRF cookie, a
signed-in user, flash messages, htmx, the static files or the URL resolver. Django's handler
cost a metadata GET ~0.33 ms of CPU around a view that takes ~0.3-0.4 ms itself (in process;
this path: ~0.2 ms), mostly in machinery these calls do not use: resolving the URL, a wrapper
per middleware, each middleware's hooks. ``LeanApiHandler`` runs
the same steps that matter, in the same order, with Django's own parts: the request log
(``RequestLogMiddleware``), the Host check, ``SecurityMiddleware`` (HTTPS redirect, HSTS,
``nosniff``, referrer and opener policies) and ``XFrameOptionsMiddleware``, the
``request_started``/``request_finished`` signals (database connections are recycled as
Django recycles them), Django's answer to an exception (logged, ``got_request_exception``
sent) and its log of 4xx/5xx responses; and the API view itself.

``ATOMIC_REQUESTS`` does not apply to API calls (objstore never sets it: an upload must not hold
a transaction open while its body arrives; the services open the transactions they need).

A deployment that adds middleware of its own gets ``ApiHandler`` instead: Django's handler with
``settings.MIDDLEWARE`` minus the middleware listed in ``SKIPPED_FOR_API``, so that whatever it
added applies to API calls too.
"""

import re

from django.conf import settings
from django.core import signals
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest, get_script_name
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import set_script_prefix
from django.utils.log import log_response

from objects.api.errors import ApiError

from . import bodies
from .middleware import RequestLogMiddleware

# The API's path prefixes (GCS_API.md §3), as objstore_site.urls routes them.
API_PATH = re.compile(r"/(?:storage/v1/|upload/storage/v1/|download/storage/v1/)?b(?:/|$)")

SKIPPED_FOR_API = frozenset(
    {
        "whitenoise.middleware.WhiteNoiseMiddleware",  # static files live elsewhere
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",  # APPEND_SLASH; Host is checked below
        "django.middleware.csrf.CsrfViewMiddleware",  # the API view is csrf_exempt
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "django_htmx.middleware.HtmxMiddleware",
        "objects.middleware.UploadGuardMiddleware",  # pane uploads; API calls have tokens
    }
)


class ApiHandler(WSGIHandler):
    """Django's WSGI handler, with the API's middleware chain."""

    def load_middleware(self, is_async: bool = False) -> None:
        # Django builds the chain from settings.MIDDLEWARE (with everything it does on the way:
        # MiddlewareNotUsed, sync/async adaptation, the process_* hooks); let it build this one
        # from the API's list. This runs once, when the worker loads the application, before
        # any request.
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = [path for path in full if path not in SKIPPED_FOR_API]
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full

    def get_response(self, request):
        return _as_api_response(super().get_response(request))

    def _get_response(self, request):
        # CommonMiddleware validates the Host header of every request; so does this, so that a
        # host outside ALLOWED_HOSTS gets a 400 whatever the call (DisallowedHost becomes one).
        request.get_host()
        return super()._get_response(request)


def _as_api_response(response):
    if response.status_code >= 400 and not response.get("Content-Type", "").startswith(
        "application/json"
    ):
        # Whatever failed before the API view could answer (a Host outside ALLOWED_HOSTS,
        # a middleware, a crash): clients parse GCS's JSON envelope, never an HTML page.
        reason = _REASONS.get(response.status_code, "error")
        response = ApiError(response.status_code, response.reason_phrase, reason).response()
    # As CommonMiddleware does: with a length, gunicorn sends the body as it is instead of
    # chunk-encoding it, which clients decode in Python, slowly.
    if not response.streaming and not response.has_header("Content-Length"):
        response.headers["Content-Length"] = str(len(response.content))
    return response


# What the lean path does itself, or what does not concern API calls (see the module's doc).
LEAN_PATH_COVERS = SKIPPED_FOR_API | {
    "objstore_site.middleware.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Headers for HTML pages (API answers are JSON, or downloads with a CSP of their own).
    "objstore_site.middleware.SecurityHeadersMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "objstore_site.htmx_login.HtmxLoginRedirectMiddleware",  # sign-in pages are not the API's
}


class LeanApiHandler:
    """A WSGI application for API calls only; see the module's doc."""

    def __init__(self) -> None:
        from objects.api.views import api  # the URLconf's view for every API path

        self.view = api
        self.security = SecurityMiddleware(self._unused)
        self.frames = XFrameOptionsMiddleware(self._unused)
        self.logged = RequestLogMiddleware(self._respond)

    @staticmethod
    def _unused(request):  # middleware used through their hooks only
        raise AssertionError("not called")

    def __call__(self, environ, start_response):
        set_script_prefix(get_script_name(environ))
        signals.request_started.send(sender=self.__class__, environ=environ)
        request = WSGIRequest(environ)
        response = self.logged(request)
        # Django's handler does the same: response.close(), which the server calls once the
        # response is out, closes the request's files and sends request_finished.
        response._handler_class = self.__class__
        response._resource_closers.append(request.close)
        start_response(
            f"{response.status_code} {response.reason_phrase}",
            [
                *response.items(),
                *(("Set-Cookie", c.output(header="")) for c in response.cookies.values()),
            ],
        )
        if getattr(response, "file_to_stream", None) is not None and environ.get(
            "wsgi.file_wrapper"
        ):
            response.file_to_stream.close = response.close
            response = environ["wsgi.file_wrapper"](response.file_to_stream, response.block_size)
        return response

    def _respond(self, request):
        try:
            request.get_host()  # a Host outside ALLOWED_HOSTS: 400, as for every request
            response = self.security.process_request(request) or self.view(request)
        except Exception as exc:  # what Django's handler makes of it: logged, a 4xx or 500
            response = response_for_exception(request, exc)
        response = self.frames.process_response(
            request, self.security.process_response(request, response)
        )
        if response.status_code >= 400:
            log_response(
                "%s: %s", response.reason_phrase, request.path, response=response, request=request
            )
        return _as_api_response(response)


def api_handler():
    """The lean path, unless the deployment's middleware asks for Django's."""
    if set(settings.MIDDLEWARE) <= LEAN_PATH_COVERS:
        return LeanApiHandler()
    return ApiHandler()


_REASONS = {400: "invalid", 404: "notFound", 413: "uploadTooLarge", 503: "backendError"}
_BUSY = "The server is receiving too many uploads at once; retry shortly."


class Application:
    """Sends each request to the handler for its path, its body guarded (objstore_site.bodies)."""

    def __init__(self) -> None:
        self.site = WSGIHandler()
        self.api = api_handler()

    def __call__(self, environ, start_response):
        is_api = bool(API_PATH.match(environ.get("PATH_INFO", "")))
        handler = self.api if is_api else self.site
        if not bodies.has_body(environ):
            bodies.guard(environ)
            return handler(environ, start_response)
        if not bodies.body_readers.try_enter(settings.OBJSTORE_MAX_BODY_READERS):
            bodies.stop_reading(environ.get("gunicorn.socket"))
            return self._busy(is_api, start_response)
        try:
            bodies.guard(environ)
            return handler(environ, start_response)
        finally:
            # The view has read (or given up on) the body by the time it returns its response.
            bodies.body_readers.leave()

    def _busy(self, is_api: bool, start_response):
        if is_api:
            response = ApiError(503, _BUSY, "backendError").response()
            payload = response.content
            content_type = response["Content-Type"]
        else:
            payload, content_type = _BUSY.encode(), "text/plain; charset=utf-8"
        start_response(
            "503 Service Unavailable",
            [
                ("Content-Type", content_type),
                ("Content-Length", str(len(payload))),
                ("Retry-After", "1"),
            ],
        )
        return [payload]
