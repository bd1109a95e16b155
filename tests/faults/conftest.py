"""The fault suite: clients that vanish midway, requests that race, a full disk, backups taken
while writing. Each test runs against objstore under gunicorn, as a user's client would meet it.
"""

import hashlib
import re
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from objects.maintenance import check_objects

from ..api import conftest as api_fixtures

# The API's fixtures (a gunicorn server sharing the test database and blobs, a token, clients).
from ..api.conftest import TimeoutSession
from ..conftest import PASSWORD

api, blob_dir, db, gcs, server, token = (
    api_fixtures.api,
    api_fixtures.blob_dir,
    api_fixtures.db,
    api_fixtures.gcs,
    api_fixtures.server,
    api_fixtures.token,
)

MiB = 1024 * 1024


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def raw_connection(server_url: str) -> socket.socket:
    parts = urlsplit(server_url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    return sock


def send_and_vanish(
    server_url: str,
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes,
    *,
    linger: float = 0.2,
) -> None:
    """Send a request's head and ``body`` (less than the head promises), then disconnect, as a
    client killed midway would. ``target`` is the path and query."""
    sock = raw_connection(server_url)
    head = f"{method} {target} HTTP/1.1\r\nHost: {urlsplit(server_url).netloc}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    sock.sendall(head.encode("latin-1") + body)
    time.sleep(linger)  # the server is reading the body now
    sock.close()


class LogWatch:
    """Waits for the server's request log to show a request finished."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.offset = log.stat().st_size

    def wait_for(self, pattern: str, timeout: float = 20) -> str:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_bytes()[self.offset :].decode("utf-8", "replace")
            for line in text.splitlines():
                if regex.search(line):
                    return line
            time.sleep(0.05)
        raise AssertionError(f"the server log never showed {pattern!r}")


@pytest.fixture
def log_watch(server):
    return LogWatch(server.log)


def assert_store_consistent() -> None:
    """What objstore_check --md5 reports: every object's blob present, whole and matching."""
    problems = list(check_objects(verify_hashes=True))
    assert problems == []


def pane_login(server, user, settings) -> tuple[str, str]:
    """Sign in through the server's login page, as a browser does: (session id, CSRF token)."""
    # With a hasher the server knows (the tests' fast MD5 one is not among its defaults).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    user.set_password(PASSWORD)
    user.save()
    username = user.username
    browser = TimeoutSession()
    login = f"{server.url}/accounts/login/"
    browser.get(login, timeout=30)
    csrf = browser.cookies["csrftoken"]
    response = browser.post(
        login,
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": csrf},
        headers={"Referer": login},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302, response.text[:500]
    return browser.cookies["sessionid"], browser.cookies["csrftoken"]


def own_server(server, tmp_path, **env: str):
    """A gunicorn of the test's own (its settings in ``env``), on the same database and blobs as
    the session's server; the caller stops it with ``api_fixtures.stop_server``."""
    return api_fixtures.start_server(tmp_path, server.blob_dir, {**server.env, **env})
