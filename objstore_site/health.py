"""GET /healthz: can this instance serve? For load balancers and uptime monitors."""

import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from objects import services

logger = logging.getLogger(__name__)


def _database_check() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _outcome(part: str, check: Callable[[], None]) -> str:
    try:
        check()
    except Exception as error:
        # The page is public and error texts can carry hosts, paths or user names: the answer
        # names only the kind of error, the log keeps the rest.
        logger.warning("health check: the %s failed", part, exc_info=True)
        return f"failed: {type(error).__name__}"
    return "ok"


class _StorageProbe:
    """The storage check's outcome, reused for ``OBJSTORE_HEALTH_CACHE_SECONDS`` per process.

    The page is public: without this, every anonymous call would write, read and delete a blob.
    Calls that arrive while a probe runs wait for its outcome instead of starting their own, so
    a worker probes at most once per interval however many checks arrive. A failure is kept as
    long as a success: the check reports a broken storage at most that much later than it
    breaks, and recovery at most that much later than it recovers.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outcome = ""
        self._until = 0.0

    def outcome(self) -> str:
        seconds = settings.OBJSTORE_HEALTH_CACHE_SECONDS
        if seconds <= 0:
            return _outcome("storage", services.storage_check)
        with self._lock:
            if time.monotonic() < self._until:
                return self._outcome
            self._outcome = _outcome("storage", services.storage_check)
            self._until = time.monotonic() + seconds
            return self._outcome

    def forget(self) -> None:
        """Probe again on the next call (for tests)."""
        with self._lock:
            self._until = 0.0


storage_probe = _StorageProbe()


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 ``{"status": "ok", "database": "ok", "storage": "ok"}``, or 503 naming what failed.

    The storage check writes, reads back and deletes a small probe object, at most once per
    ``OBJSTORE_HEALTH_CACHE_SECONDS`` per worker; the database check runs on every call.
    """
    parts = {
        "database": _outcome("database", _database_check),
        "storage": storage_probe.outcome(),
    }
    healthy = all(outcome == "ok" for outcome in parts.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", **parts}, status=200 if healthy else 503
    )
