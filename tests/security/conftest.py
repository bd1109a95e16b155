"""Helpers shared by the security suite: a snapshot of everything a refused request must leave
alone, and API/pane clients with each kind of credential."""

import json

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, sync_playwright

from buckets.models import ApiToken, Bucket
from objects.models import FolderMove, Object, ObjectVersion, ShareLink, UploadSession

from ..browser import conftest as browser_fixtures
from ..conftest import read, stored_blobs

# Columns that a refused (or read-only) request may touch without changing anything: the token's
# "last used" minute and the user's last login.
_VOLATILE = {"last_used", "last_login"}


def _rows(model) -> list[str]:
    rows = []
    for row in model.objects.order_by("pk").values():
        kept = {key: value for key, value in row.items() if key not in _VOLATILE}
        rows.append(json.dumps(kept, sort_keys=True, default=str))
    return rows


def snapshot() -> dict:
    """Every row of every model a request could change, each object's bytes, and the blobs."""
    return {
        "users": _rows(User),
        "buckets": _rows(Bucket),
        "tokens": _rows(ApiToken),
        "objects": _rows(Object),
        "versions": _rows(ObjectVersion),
        "sessions": _rows(UploadSession),
        "folder moves": _rows(FolderMove),
        "share links": _rows(ShareLink),
        "bytes": {
            f"{obj.bucket.bucket_id}/{obj.name}": read(obj)
            for obj in Object.objects.select_related("bucket").order_by("pk")
        },
        "blobs": stored_blobs(),
    }


def assert_unchanged(before: dict) -> None:
    after = snapshot()
    for key in before:
        assert after[key] == before[key], f"{key} changed"


def assert_gcs_error(response, code: int) -> dict:
    """``response`` is GCS's JSON error envelope with ``code``; returns the error."""
    assert response.status_code == code, (response.status_code, response.content[:400])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(response.content)
    error = body["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["errors"], list) and error["errors"]
    return error


# The browser tests' fixtures (the live server, a context and page per test, a signed-in page),
# for test_xss and test_attacker_content.
alice_page, context, page, server = (
    browser_fixtures.alice_page,
    browser_fixtures.context,
    browser_fixtures.page,
    browser_fixtures.server,
)


def _running_browser(request) -> Browser | None:
    """The Chromium tests/browser's session fixture already drives, if it ran in this session:
    Playwright's sync API cannot start a second instance in the same thread."""
    manager = request._fixturemanager
    definitions = []
    for attribute in ("_arg2fixturedefs", "_arg2node2fixturedefs", "_arg2nodeid2fixturedefs"):
        found = getattr(manager, attribute, {}).get("browser", ())
        for item in found.values() if isinstance(found, dict) else [found]:
            definitions.extend(item if isinstance(item, list | tuple) else [item])
    for fixturedef in definitions:
        cached = getattr(fixturedef, "cached_result", None)
        if cached and isinstance(cached[0], Browser) and cached[0].is_connected():
            return cached[0]
    return None


@pytest.fixture(scope="module")
def browser(request) -> Browser:
    """A headless Chromium: the browser tests' one when it runs, else one for this module
    (closed at its end, so that a later tests/browser session can start its own)."""
    running = _running_browser(request)
    if running is not None:
        yield running
        return
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=browser_fixtures.CHROMIUM,
            headless=True,
            args=browser_fixtures.CHROMIUM_ARGS,
        )
        yield launched
        launched.close()
