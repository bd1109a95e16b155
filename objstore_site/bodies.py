"""Request bodies that arrive whole or not at all, and clients that cannot hold the server.

gunicorn hands the application a body reader that, when the client goes away mid-body, simply
returns fewer bytes than ``Content-Length`` promised (its length reader stops at the end of the
socket without an error). An upload loop that reads until the stream is empty would then store
a truncated object in place of a good one. ``GuardedBody`` counts what arrives and raises
``IncompleteBody`` (an ``OSError``, which Django turns into ``UnreadablePostError`` and the
service layer into ``UploadInterrupted``) the moment the body ends early, breaks off or stalls,
so nothing half-received is ever stored. A chunked body must end with its terminating chunk:
gunicorn raises ``NoMoreData`` otherwise, which arrives here as the same error.

Stalled clients: every read of the body waits at most ``OBJSTORE_BODY_TIMEOUT`` seconds for the
next bytes (the socket's timeout, as nginx's ``client_body_timeout``), so a live upload, however
slow, keeps going while a silent one lets go of its thread. And at most
``OBJSTORE_MAX_BODY_READERS`` requests per worker may be receiving a body at once; the others get
503 at once, so that a crowd of slow or stalled uploads always leaves threads free for
everything else (downloads, listings, the health check).
"""

import socket
import threading
from typing import Any

from django.conf import settings

try:  # gunicorn reports a malformed or truncated chunked body with its own exceptions
    from gunicorn.http.errors import ParseException as _GunicornParseError
except ImportError:  # pragma: no cover - another WSGI server
    _GunicornParseError = ValueError  # type: ignore[assignment,misc]


class IncompleteBody(OSError):
    """The request body did not arrive whole: the client disconnected, stalled or lied."""


class GuardedBody:
    """``wsgi.input`` that raises IncompleteBody instead of returning a short body."""

    def __init__(self, raw: Any, declared: int | None, sock: Any = None) -> None:
        self._raw = raw
        self._sock = sock
        self._remaining = declared  # None: chunked, its end is the terminating chunk
        self.received = 0
        self._failed: IncompleteBody | None = None

    def _account(self, data: bytes, asked: int) -> bytes:
        self.received += len(data)
        if self._remaining is not None:
            if not data and asked > 0 and self._remaining > 0:
                raise self._fail(
                    IncompleteBody(
                        f"The request body ended after {self.received} of the "
                        f"{self.received + self._remaining} bytes its Content-Length declared."
                    )
                )
            self._remaining -= len(data)
        return data

    def _fail(self, error: IncompleteBody) -> IncompleteBody:
        # Once broken, always broken: a later read (a drain, say) must not wait on the socket
        # for another timeout, and neither may gunicorn's own drain after the response.
        self._failed = error
        stop_reading(self._sock)
        return error

    def _call(self, method: Any, size: int | None) -> bytes:
        if self._failed is not None:
            raise self._failed
        try:
            return method(size)
        except (OSError, _GunicornParseError) as exc:
            raise self._fail(IncompleteBody(_describe(exc))) from exc

    def _size(self, size: int | None) -> int:
        if self._remaining is None:
            return size if size is not None and size >= 0 else 1 << 62
        if size is None or size < 0:
            return self._remaining
        return min(size, self._remaining)

    def read(self, size: int | None = -1) -> bytes:
        asked = self._size(size)
        if asked == 0:
            return b""
        data = self._call(self._raw.read, asked if asked < 1 << 62 else None)
        return self._account(data, asked)

    def readline(self, size: int | None = -1) -> bytes:
        asked = self._size(size)
        if asked == 0:
            return b""
        data = self._call(self._raw.readline, asked if asked < 1 << 62 else None)
        return self._account(data, asked)

    def __iter__(self):
        while line := self.readline():
            yield line


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "The client sent nothing for too long; the request body was abandoned."
    return f"The request body broke off ({type(exc).__name__}: {exc})."


def declared_length(environ: dict) -> int | None:
    """The body's Content-Length; None for a chunked body (or none at all)."""
    try:
        return max(int(environ.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def has_body(environ: dict) -> bool:
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return True
    return bool(declared_length(environ))


class BodyReaders:
    """How many requests of this worker are receiving a body; bounded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.active = 0

    def try_enter(self, limit: int) -> bool:
        with self._lock:
            if self.active >= limit:
                return False
            self.active += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.active -= 1


body_readers = BodyReaders()


def guard(environ: dict) -> None:
    """Wrap the body of this request (call before the application reads it)."""
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    declared = None if chunked else declared_length(environ)
    sock = environ.get("gunicorn.socket")
    if sock is not None and settings.OBJSTORE_BODY_TIMEOUT:
        try:
            # Per read (and per write of the response), as nginx's client_body_timeout; gunicorn
            # makes the socket blocking again for the connection's next request.
            sock.settimeout(settings.OBJSTORE_BODY_TIMEOUT)
        except OSError:
            pass
    environ["wsgi.input"] = GuardedBody(environ["wsgi.input"], declared, sock)


def stop_reading(sock: Any) -> None:
    """Read no more of this connection: the response still goes out, then it closes.

    After a request whose body is not read (refused, or broken off), gunicorn drains what is
    left for up to 5 s before it reuses the connection; from a stalled client that would hold a
    thread for those 5 s. With the read side shut, the drain ends at once.
    """
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass
