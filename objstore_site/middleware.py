"""One log line per request (method, path, status, bytes sent, duration, remote address), and
the security headers of the pane's and the admin's HTML pages."""

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from urllib.parse import quote

from django.conf import settings
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    StreamingHttpResponse,
)

from .logpaths import without_secrets

logger = logging.getLogger("objstore.requests")


class RequestLogMiddleware:
    """Logs each request to ``objstore.requests`` once its response has been sent.

    A streamed response (a download can take hours) is logged when the server closes it, so the
    duration covers the whole transfer. A FileResponse reports its Content-Length and keeps its
    file untouched: gunicorn sends a file with ``sendfile`` only when the response hands it that
    very file. Other streams are counted as their chunks go out.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        # Server-Timing lets a browser's devtools (and python -m benchmarks) see how long the
        # server itself took, apart from the network and the client. It also tells anyone how
        # long each request took (a timing oracle), so production mode leaves it off by default.
        self.server_timing = settings.OBJSTORE_SERVER_TIMING

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = self.get_response(request)
        if not response.streaming:
            if self.server_timing:
                elapsed = (time.perf_counter() - started) * 1000
                response["Server-Timing"] = f"app;dur={elapsed:.1f}"
            self._log(request, response, started, _content_length(response))
            return response

        sent: int | None = None

        def counting(chunks: Iterable[bytes]) -> Iterator[bytes]:
            nonlocal sent
            for chunk in chunks:
                sent = (sent or 0) + len(chunk)
                yield chunk

        if (
            isinstance(response, StreamingHttpResponse)
            and not isinstance(response, FileResponse)
            and not response.is_async
        ):
            sent = 0
            response.streaming_content = counting(response.streaming_content)

        close = response.close
        logged = False

        def close_and_log() -> None:
            nonlocal logged
            try:
                close()
            finally:
                if not logged:  # close() may be called more than once
                    logged = True
                    size = str(sent) if sent is not None else _content_length(response)
                    self._log(request, response, started, size)

        # The WSGI server calls close() once the last byte is out or the client has gone; for a
        # FileResponse it does so through the file wrapper, which Django points at this close().
        response.close = close_and_log  # type: ignore[method-assign]
        return response

    def _log(
        self, request: HttpRequest, response: HttpResponseBase, started: float, size: str
    ) -> None:
        duration_ms = (time.perf_counter() - started) * 1000
        # Percent-encoded, as on the wire: an object name can neither break the line nor forge one.
        path = quote(without_secrets(request.path), safe="/:@!$&'()*+,;=")
        # gunicorn only lets tokens through as methods and takes the address from the socket;
        # another server might not, so these are encoded the same way (a no-op for sane values).
        method = quote(request.method or "-", safe="")
        remote_addr = quote(request.META.get("REMOTE_ADDR") or "-", safe=":[]")
        logger.info(
            "%s %s %s %s %.1fms %s",
            method,
            path,
            response.status_code,
            size,
            duration_ms,
            remote_addr,
            extra={
                "method": method,
                "path": path,
                "status": response.status_code,
                "bytes": size,
                "duration_ms": duration_ms,
                "remote_addr": remote_addr,
            },
        )


def _content_length(response: HttpResponseBase) -> str:
    if length := response.headers.get("Content-Length"):
        return length
    return str(len(response.content)) if isinstance(response, HttpResponse) else "-"


# The pane's and the admin's pages run their own static scripts and stylesheets only: no inline
# script, no inline style, no plugin, no framing, forms post back to this site.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


class SecurityHeadersMiddleware:
    """A Content-Security-Policy on every HTML page, and ``Cache-Control: no-store`` on those
    shown to a signed-in user (the tokens page shows a secret once; no page should outlive the
    session in a shared browser's cache or a proxy).

    A response that sets its own policy or caching keeps it: downloads (a sandboxing CSP and
    their own Cache-Control), the admin's ``never_cache`` pages. API responses are JSON, or
    downloads, and carry no signed-in user, so this leaves them alone.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        # Django's own debug pages (DEBUG=true only) style and script themselves inline.
        self.debug = settings.DEBUG

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if not response.get("Content-Type", "").startswith("text/html"):
            return response
        if "Content-Security-Policy" not in response and not (
            self.debug and response.status_code in (404, 500)
        ):
            response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and "Cache-Control" not in response:
            response["Cache-Control"] = "no-store"
        return response
