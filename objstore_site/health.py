"""GET /healthz: can this instance serve? For load balancers and uptime monitors."""

import logging
from collections.abc import Callable

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


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 ``{"status": "ok", "database": "ok", "storage": "ok"}``, or 503 naming what failed.

    The storage check writes, reads back and deletes a small probe object.
    """
    parts = {
        "database": _outcome("database", _database_check),
        "storage": _outcome("storage", services.storage_check),
    }
    healthy = all(outcome == "ok" for outcome in parts.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", **parts}, status=200 if healthy else 503
    )
