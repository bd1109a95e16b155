"""Fixtures for the browser tests: one headless Chromium per session, a fresh context per test.

Playwright's own browser download cannot work here, so this drives Debian's /usr/bin/chromium
directly through ``playwright.sync_api`` (pytest-playwright is not used).
"""

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000

expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="session")
def browser() -> Browser:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def server(django_db_setup, live_server, transactional_db):
    """The live server, in a thread of this process, on the (file-based) test database.

    ``django_db_setup`` comes first on purpose: the session-scoped ``live_server`` must start
    after the test database exists, or its request threads would not find it.
    """
    return live_server


@pytest.fixture
def context(browser: Browser, server) -> BrowserContext:
    context = browser.new_context(base_url=server.url, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A page that fails the test if the app's JavaScript throws."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    assert errors == [], f"JavaScript errors on the page: {errors}"


def sign_in(context: BrowserContext, server, user) -> None:
    """Sign ``user`` in without the form: copy a forced-login session cookie into the browser."""
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": server.url}]
    )


@pytest.fixture
def alice_page(page: Page, context: BrowserContext, server, alice) -> Page:
    sign_in(context, server, alice)
    return page
