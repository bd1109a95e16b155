"""The WSGI application: the pane and the admin through every middleware, API calls through the
few that concern them.

An API call authenticates with its bearer token and never touches a session, a CSRF cookie, a
signed-in user, flash messages, htmx or the static files, yet the full chain costs ~10 % of a
small API call's CPU (measured with py-spy under ``python -m benchmarks``). API paths therefore
get ``settings.MIDDLEWARE`` minus the middleware listed in ``SKIPPED_FOR_API``; everything else,
including any middleware a deployment adds, still applies to them: the request log, HTTPS
redirects and HSTS, ``nosniff``, X-Frame-Options.
"""

import re

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

from objects.api.errors import ApiError

from . import bodies

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
        response = super().get_response(request)
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

    def _get_response(self, request):
        # CommonMiddleware validates the Host header of every request; so does this, so that a
        # host outside ALLOWED_HOSTS gets a 400 whatever the call (DisallowedHost becomes one).
        request.get_host()
        return super()._get_response(request)


_REASONS = {400: "invalid", 404: "notFound", 413: "uploadTooLarge", 503: "backendError"}
_BUSY = "The server is receiving too many uploads at once; retry shortly."


class Application:
    """Sends each request to the handler for its path, its body guarded (objstore_site.bodies)."""

    def __init__(self) -> None:
        self.site = WSGIHandler()
        self.api = ApiHandler()

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
