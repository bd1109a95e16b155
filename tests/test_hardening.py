"""Hardening (issue 10, items 8 and 9): log lines that cannot be forged, the pages' Content-
Security-Policy, no-store on signed-in pages, Server-Timing only when enabled, a /healthz that
does not write per call, and a gunicorn control socket per instance."""

import logging
import re
import runpy
import socket
import stat
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from gunicorn.config import Config

from buckets.services import bucket_create
from objects import services
from objstore_site import health
from objstore_site.middleware import CONTENT_SECURITY_POLICY, RequestLogMiddleware

from .conftest import PASSWORD, put

BASE_DIR = Path(__file__).resolve().parent.parent
TEMPLATES = BASE_DIR / "templates"

# What the CSP must say (and must not: 'unsafe-inline', 'unsafe-eval' anywhere).
DIRECTIVES = {
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


@pytest.fixture(autouse=True)
def fresh_health_probe():
    """Each test sees /healthz probe the storage afresh (the outcome is kept per process)."""
    health.storage_probe.forget()
    yield
    health.storage_probe.forget()


@pytest.fixture
def root(db) -> User:
    return User.objects.create_superuser("root", "root@example.org", PASSWORD)


@pytest.fixture
def root_client(root) -> Client:
    client = Client()
    client.force_login(root)
    return client


def policy(response) -> dict[str, str]:
    directives = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, _, value = part.strip().partition(" ")
        directives[name] = value
    return directives


def assert_pane_policy(response) -> None:
    assert response["Content-Type"].startswith("text/html")
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    directives = policy(response)
    for name, value in DIRECTIVES.items():
        assert directives[name] == value, (name, response["Content-Security-Policy"])
    assert "unsafe-" not in response["Content-Security-Policy"]


# ---- the Content-Security-Policy and no-store -------------------------------------------------


def test_the_login_page_has_the_csp(client, db):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert_pane_policy(response)


def test_every_pane_page_has_the_csp_and_is_not_stored(alice_client, bucket):
    put(bucket, "docs/a.txt", b"a")
    pages = [
        reverse("bucket_list"),
        reverse("object_browser", args=[bucket.bucket_id]),
        reverse("object_browser", args=[bucket.bucket_id]) + "?prefix=docs/",
        reverse("bucket_settings", args=[bucket.bucket_id]),
        reverse("token_list"),
        "/buckets/objstore-00000000-0000-4000-8000-000000000000/",  # a 404 page
    ]
    for url in pages:
        response = alice_client.get(url)
        assert response.status_code in (200, 404), url
        assert_pane_policy(response)
        assert response["Cache-Control"] == "no-store", url


def test_the_page_showing_a_new_tokens_secret_is_not_stored(alice_client, bucket):
    created = alice_client.post(reverse("token_new"), {"name": "laptop"}, follow=True)
    assert '<code id="new-token"' in created.text  # the secret, shown this once
    assert created["Cache-Control"] == "no-store"
    assert_pane_policy(created)


def test_htmx_fragments_are_not_stored_either(alice_client, bucket):
    response = alice_client.get(
        reverse("object_browser", args=[bucket.bucket_id]), headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"


def test_admin_pages_have_the_csp_and_stay_uncached(root_client, bucket):
    obj = put(bucket, "a.txt", b"a")
    for url in [
        reverse("admin:index"),
        reverse("admin:objects_object_changelist"),
        reverse("admin:objects_object_change", args=[obj.pk]),
        reverse("admin:buckets_bucket_add"),
    ]:
        response = root_client.get(url)
        assert response.status_code == 200, url
        assert_pane_policy(response)
        assert "no-store" in response["Cache-Control"], url  # the admin's own never_cache


def test_a_page_for_nobody_signed_in_is_not_marked_no_store(client, db):
    # The 404 page needs no login; only signed-in pages get no-store from the middleware.
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert_pane_policy(response)
    assert "Cache-Control" not in response


def test_downloads_and_api_answers_keep_their_own_headers(alice_client, bucket):
    put(bucket, "page.html", b"<script>alert(1)</script>", content_type="text/html")
    download = alice_client.get(
        reverse("object_download", args=[bucket.bucket_id]), {"name": "page.html"}
    )
    assert download.status_code == 200
    assert download["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert download["Cache-Control"] == "private, no-cache"
    download.close()
    api = alice_client.get("/storage/v1/b")  # no token: the API's JSON error
    assert api["Content-Type"].startswith("application/json")
    assert "Content-Security-Policy" not in api
    assert "Cache-Control" not in api


def test_rendered_pages_carry_no_inline_script_or_style(alice_client, root_client, bucket):
    put(bucket, "docs/a.txt", b"a")
    inline = re.compile(
        r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=", re.IGNORECASE
    )
    for client, url in [
        (Client(), reverse("login")),
        (alice_client, reverse("bucket_list")),
        (alice_client, reverse("object_browser", args=[bucket.bucket_id])),
        (alice_client, reverse("bucket_settings", args=[bucket.bucket_id])),
        (alice_client, reverse("token_list")),
        (root_client, reverse("admin:index")),
        (root_client, reverse("admin:objects_object_changelist")),
    ]:
        text = client.get(url).text
        assert not inline.search(text), (url, inline.search(text))


def test_templates_carry_no_inline_script_style_or_handler():
    inline = re.compile(
        r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=", re.IGNORECASE
    )
    for template in TEMPLATES.rglob("*.html"):
        found = inline.search(template.read_text())
        assert found is None, (template, found)


def test_htmx_is_told_not_to_inject_its_indicator_style():
    base = (TEMPLATES / "base.html").read_text()
    assert '"includeIndicatorStyles":false' in base
    css = (BASE_DIR / "static" / "objstore" / "app.css").read_text()
    assert ".htmx-request .htmx-indicator" in css


def test_the_500_page_has_the_csp_without_inline_style(rf):
    from django.views.defaults import server_error

    from objstore_site.middleware import SecurityHeadersMiddleware

    middleware = SecurityHeadersMiddleware(lambda request: server_error(request))
    response = middleware(rf.get("/"))
    assert response.status_code == 500
    assert_pane_policy(response)
    assert b"style=" not in response.content and b"<script" not in response.content


# ---- Server-Timing ----------------------------------------------------------------------------


def test_server_timing_is_sent_when_enabled(alice_client, bucket, settings):
    settings.OBJSTORE_SERVER_TIMING = True
    response = Client().get(reverse("login"))
    assert re.fullmatch(r"app;dur=\d+\.\d", response["Server-Timing"])


def test_server_timing_is_not_sent_when_disabled(db, settings):
    settings.OBJSTORE_SERVER_TIMING = False
    client = Client()  # the middleware reads the setting when the handler loads it
    for url in (reverse("login"), "/storage/v1/b", "/healthz"):
        assert "Server-Timing" not in client.get(url), url


# ---- /healthz ---------------------------------------------------------------------------------


@pytest.fixture
def probes(monkeypatch):
    """Counts the storage probes /healthz runs (each one still writes and deletes a blob)."""
    calls: list[float] = []
    real = services.storage_check

    def counted() -> None:
        calls.append(time.monotonic())
        real()

    monkeypatch.setattr(services, "storage_check", counted)
    return calls


def test_consecutive_health_checks_probe_the_storage_once(client, db, probes, settings):
    assert settings.OBJSTORE_HEALTH_CACHE_SECONDS == 10  # the default
    for _ in range(5):
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": "ok", "storage": "ok"}
    assert len(probes) == 1


def test_the_storage_is_probed_again_once_the_interval_is_over(client, db, probes, settings):
    settings.OBJSTORE_HEALTH_CACHE_SECONDS = 0.3
    client.get("/healthz")
    client.get("/healthz")
    assert len(probes) == 1
    time.sleep(0.35)
    client.get("/healthz")
    assert len(probes) == 2


def test_zero_seconds_probes_on_every_call(client, db, probes, settings):
    settings.OBJSTORE_HEALTH_CACHE_SECONDS = 0
    for _ in range(3):
        client.get("/healthz")
    assert len(probes) == 3


def test_a_flood_of_concurrent_checks_runs_one_probe(db, monkeypatch):
    calls: list[int] = []

    def slow() -> None:
        calls.append(1)
        time.sleep(0.2)

    monkeypatch.setattr(services, "storage_check", slow)
    outcomes: list[str] = []
    threads = [
        threading.Thread(target=lambda: outcomes.append(health.storage_probe.outcome()))
        for _ in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == ["ok"] * 16
    assert len(calls) == 1


def test_a_failed_probe_is_kept_for_the_interval_too(client, db, monkeypatch):
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise OSError("disk on fire")

    monkeypatch.setattr(services, "storage_check", broken)
    for _ in range(3):
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["storage"] == "failed: OSError"
    assert len(calls) == 1


def test_the_database_is_still_checked_on_every_call(client, db, monkeypatch):
    from django.db import connections
    from django.db.utils import OperationalError

    assert client.get("/healthz").status_code == 200

    def unreachable():
        raise OperationalError("gone")

    with monkeypatch.context() as patch:
        patch.setattr(connections["default"], "cursor", unreachable)
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "failed: OperationalError"


# ---- log injection ----------------------------------------------------------------------------

FORGED = '10.0.0.5 "GET /admin/ HTTP/1.1" 200 0'
# The forged path as a client sends it: the line break and the rest percent-encoded.
FORGED_PATH = "/x%0a10.0.0.5%20%22GET%20/admin/%20HTTP/1.1%22%20200%200"


def gunicorn_config() -> dict:
    return runpy.run_path(str(BASE_DIR / "objstore_site" / "gunicorn.conf.py"))


def access_logger(tmp_path: Path):
    conf = gunicorn_config()
    cfg = Config()
    cfg.set("accesslog", str(tmp_path / "access.log"))
    cfg.set("access_log_format", conf["access_log_format"] + ' "%(a)s" "%(f)s" "%(r)s" %(U)s')
    return conf["AccessLogger"](cfg), tmp_path / "access.log"


def log_one(logger, **environ) -> None:
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        **environ,
    }
    response = SimpleNamespace(status="404 Not Found", headers=[], sent=9)
    request = SimpleNamespace(headers=[])
    logger.access(response, request, environ, timedelta(milliseconds=3))


def test_gunicorns_access_log_shows_the_encoded_path_on_one_line(tmp_path):
    logger, log = access_logger(tmp_path)
    log_one(
        logger,
        RAW_URI=FORGED_PATH + "?name=secret",
        PATH_INFO="/x\n" + FORGED,
        HTTP_USER_AGENT='agent\r\n10.0.0.6 "GET /x" 200',
        HTTP_REFERER='\x1b[2J\\"',
    )
    lines = log.read_text().splitlines()
    assert len(lines) == 1, lines
    [line] = lines
    assert line.startswith(f'127.0.0.1 "GET {FORGED_PATH}" 404 9 ')
    assert "secret" not in line.split('"')[1]  # no query string in the request field
    assert "\\n10.0.0.5" in line  # the decoded path of %(U)s, escaped
    assert 'agent\\r\\n10.0.0.6 \\"GET /x\\" 200' in line
    assert '\\x1b[2J\\\\\\"' in line  # the escape character, the backslash and the quote
    assert "\x1b" not in line and "\r" not in line


def test_gunicorns_access_log_never_holds_a_share_links_token(tmp_path):
    logger, log = access_logger(tmp_path)
    token = "mRljM00dyTDU21PotnZZ9LTXNZd-URUgXLVtXA_yMWg"
    log_one(logger, RAW_URI=f"/s/{token}/download?name=a.txt", PATH_INFO=f"/s/{token}/download")
    line = log.read_text()
    assert '"GET /s/mRlj.../download"' in line and token not in line.split('"')[1]


def test_gunicorns_access_log_keeps_ordinary_text_as_it_is(tmp_path):
    logger, log = access_logger(tmp_path)
    log_one(logger, RAW_URI="/b/x/o/caf%C3%A9.txt", HTTP_USER_AGENT="Mozilla/5.0 (X11) é")
    [line] = log.read_text().splitlines()
    assert line.startswith('127.0.0.1 "GET /b/x/o/caf%C3%A9.txt" 404 9 ')
    assert '"Mozilla/5.0 (X11) é"' in line


def test_the_request_log_encodes_method_and_address_too(rf, caplog):
    middleware = RequestLogMiddleware(lambda request: HttpResponse())
    request = rf.get("/x")
    request.method = f"GET\n{FORGED}"
    request.META["REMOTE_ADDR"] = f"10.0.0.7\n{FORGED}"
    with caplog.at_level(logging.INFO, logger="objstore.requests"):
        middleware(request)
    [record] = [r for r in caplog.records if r.name == "objstore.requests"]
    message = record.getMessage()
    assert "\n" not in message and '"' not in message
    assert message.startswith("GET%0A10.0.0.5%20%22GET%20%2Fadmin%2F")
    assert message.endswith(" 10.0.0.7%0A10.0.0.5%20%22GET%20%2Fadmin%2F%20HTTP%2F1.1%22%20200%200")
    assert record.method == message.split(" ")[0]


def raw_request(url: str, target: str) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_a_forged_path_cannot_forge_a_log_line_under_gunicorn(tmp_path):
    from .api.conftest import start_server, stop_server

    blobs = tmp_path / "blobs"
    blobs.mkdir()
    access = tmp_path / "access.log"
    server = start_server(tmp_path, blobs, {"OBJSTORE_ACCESS_LOG": str(access)})
    try:
        for target in (FORGED_PATH, "/b/x/o" + FORGED_PATH):  # the pane's and the API's paths
            answer = raw_request(server.url, target)
            assert answer.startswith(b"HTTP/1.1 "), answer[:100]

        def forged_lines(text: str) -> list[str]:
            return [line for line in text.splitlines() if "10.0.0.5" in line]

        def request_lines() -> list[str]:  # objstore.requests' own, among Django's warnings
            return [line for line in forged_lines(server.log.read_text()) if line[:4] == "GET "]

        wait_for(
            lambda: (
                access.exists()
                and len(forged_lines(access.read_text())) == 2
                and len(request_lines()) == 2
            )
        )
    finally:
        stop_server(server)
    for text in (access.read_text(), server.log.read_text()):
        # Every line that mentions the forged address has it inside the path, never at its start.
        for line in forged_lines(text):
            assert not line.startswith("10.0.0.5"), line
            assert "/x%0a10.0.0.5" in line.lower() or "/x\\n10.0.0.5" in line, line
    assert len(forged_lines(access.read_text())) == 2
    assert f'"GET {FORGED_PATH}" 404 ' in access.read_text()
    assert request_lines()[0].startswith(f"GET {FORGED_PATH} 404 ".replace("%0a", "%0A"))


# ---- gunicorn's control socket ----------------------------------------------------------------


def test_the_control_socket_is_off_unless_a_path_is_given():
    conf = gunicorn_config()
    assert conf["control_socket_disable"] is True
    assert "control_socket" not in conf


def test_a_control_socket_path_is_used_as_given(monkeypatch):
    monkeypatch.setenv("OBJSTORE_CONTROL_SOCKET", "/run/objstore/a.ctl")
    conf = gunicorn_config()
    assert conf["control_socket"] == "/run/objstore/a.ctl"
    assert "control_socket_disable" not in conf


def is_listening_socket(path: Path) -> bool:
    try:
        if not stat.S_ISSOCK(path.stat().st_mode):
            return False
    except FileNotFoundError:
        return False
    with socket.socket(socket.AF_UNIX) as client:
        try:
            client.connect(str(path))
        except OSError:
            return False
    return True


@pytest.mark.django_db(transaction=True)
def test_two_servers_never_share_a_control_socket(tmp_path):
    from .api.conftest import start_server, stop_server

    home, runtime = tmp_path / "home", tmp_path / "runtime"
    home.mkdir()
    runtime.mkdir()
    # gunicorn's default paths would be $XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/gunicorn.ctl.
    shared = {"HOME": str(home), "XDG_RUNTIME_DIR": str(runtime), "OBJSTORE_CONTROL_SOCKET": ""}
    servers = []
    try:
        for name in ("one", "two"):
            (tmp_path / name).mkdir()
            servers.append(start_server(tmp_path / name, tmp_path / name, shared))
        for server in servers:
            assert requests.get(f"{server.url}/healthz", timeout=30).status_code == 200
        assert list(runtime.iterdir()) == [] and list(home.iterdir()) == []
    finally:
        for server in servers:
            stop_server(server)

    # Given a path each (short: a Unix socket path has at most 107 bytes), each has its own.
    sockets = Path(tempfile.mkdtemp(prefix="ctl-", dir="/tmp"))
    servers = []
    try:
        for name in ("one", "two"):
            env = {**shared, "OBJSTORE_CONTROL_SOCKET": str(sockets / f"{name}.ctl")}
            servers.append(start_server(tmp_path / name, tmp_path / name, env))
        for name in ("one", "two"):
            wait_for(lambda name=name: is_listening_socket(sockets / f"{name}.ctl"))
        for server in servers:
            assert requests.get(f"{server.url}/healthz", timeout=30).status_code == 200
        assert list(runtime.iterdir()) == [] and list(home.iterdir()) == []
    finally:
        for server in servers:
            stop_server(server)
    wait_for(lambda: list(sockets.iterdir()) == [])  # each removed its own on the way out
    sockets.rmdir()


# ---- the pane in Chromium under the CSP -------------------------------------------------------


def run_in_chromium(base_url: str, steps) -> tuple[list[str], list[str]]:
    """Run ``steps(page)`` in a Chromium of its own, in a thread of its own (the browser tests'
    session may already drive one from this thread), and return the CSP violations it saw (the
    console's reports and the documents' securitypolicyviolation events) and page errors."""
    from playwright.sync_api import sync_playwright

    from .browser.conftest import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS

    violations: list[str] = []
    errors: list[str] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                try:
                    context = browser.new_context(base_url=base_url)
                    context.set_default_timeout(TIMEOUT_MS)
                    context.expose_function(
                        "reportCspViolation", lambda report: violations.append(report)
                    )
                    context.add_init_script(
                        "document.addEventListener('securitypolicyviolation', (event) =>"
                        " window.reportCspViolation(`${event.violatedDirective}"
                        " ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`));"
                    )
                    page = context.new_page()
                    page.on(
                        "console",
                        lambda message: (
                            "Content Security Policy" in message.text
                            and violations.append(message.text)
                        ),
                    )
                    page.on("pageerror", lambda error: errors.append(str(error)))
                    steps(page)
                    context.close()
                finally:
                    browser.close()
        except BaseException as error:  # re-raised in the test's thread
            failure.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=240)
    assert not thread.is_alive(), "the browser did not finish"
    if failure:
        raise failure[0]
    return violations, errors


@pytest.mark.browser
def test_the_pane_and_the_admin_work_in_chromium_with_no_csp_violation(
    django_db_setup, live_server, transactional_db, tmp_path
):
    from playwright.sync_api import expect

    from .browser.conftest import TIMEOUT_MS

    expect.set_options(timeout=TIMEOUT_MS)
    root = User.objects.create_superuser("root", "root@example.org", PASSWORD)
    bucket = bucket_create(owner=root, name="photos")
    put(bucket, "old.txt", b"old")
    (tmp_path / "new.txt").write_bytes(b"new")
    browser_url = reverse("object_browser", args=[bucket.bucket_id])

    def steps(page) -> None:
        page.goto("/")
        page.get_by_label("Username").fill("root")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Object Storage", level=1)).to_be_visible()
        # The "js" class switch runs from its static file; htmx injected no <style>.
        expect(page.locator("html")).to_have_class("js")

        page.goto(browser_url)
        with page.expect_file_chooser() as chooser:
            page.get_by_role("button", name="Upload files").click()
        chooser.value.set_files(str(tmp_path / "new.txt"))
        expect(page.locator(".upload .upload-status")).to_have_text("Uploaded")
        expect(page.locator("#listing tr.file-row")).to_have_count(2)
        assert page.locator("style").count() == 0

        page.get_by_role("button", name="Create folder").click()
        page.get_by_label("Folder name").fill("reports")
        page.locator("#new-folder").get_by_role("button", name="Create").click()
        expect(page.locator("#listing")).to_contain_text("reports/")

        page.get_by_role("button", name="Delete old.txt", exact=True).click()
        dialog = page.locator("#confirm-dialog")  # the pane's own <dialog>, not confirm()
        expect(dialog).to_be_visible()
        dialog.locator("button[type=submit]").click()
        expect(page.locator("#listing tr.file-row")).to_have_count(1)

        page.goto(reverse("bucket_settings", args=[bucket.bucket_id]))
        expect(page.locator("#bucket-id")).to_have_text(bucket.bucket_id)

        page.goto(reverse("token_list"))
        page.get_by_label("Token name").fill("laptop")
        page.get_by_role("button", name="Create token").click()
        expect(page.locator("#new-token")).to_contain_text("objstore_")

        page.goto(reverse("admin:index"))
        expect(page.locator("#site-name")).to_be_visible()
        page.goto(reverse("admin:objects_object_changelist"))
        expect(page.locator("#result_list")).to_contain_text("new.txt")
        page.locator("#result_list a", has_text="new.txt").first.click()
        expect(page.locator("#content h1")).to_be_visible()
        page.goto(reverse("admin:auth_user_change", args=[root.pk]))
        expect(page.locator("#id_username")).to_have_value("root")
        page.goto("/buckets/objstore-00000000-0000-4000-8000-000000000000/")
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()

    violations, errors = run_in_chromium(live_server.url, steps)
    assert violations == [], violations
    assert errors == [], errors
    assert services.object_get(bucket=bucket, name="new.txt").size == 3
