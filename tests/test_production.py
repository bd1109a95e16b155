"""Production mode from the environment, /healthz and the request log."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from wsgiref.util import FileWrapper, setup_testing_defaults

import pytest
from django.conf import settings as django_settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.management.utils import get_random_secret_key
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connections
from django.db.utils import OperationalError
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.test import Client
from django.urls import reverse

from objects import services
from objstore_site import health
from objstore_site.middleware import RequestLogMiddleware

from .conftest import TEST_STORAGE, put, stored_blobs

BASE_DIR = Path(__file__).resolve().parent.parent

# Every variable these tests set or remove: the subprocesses must not inherit them from the
# environment the suite itself runs in.
CONTROLLED = (
    "OBJSTORE_PRODUCTION",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "DEBUG",
    "OBJSTORE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "WHITENOISE_USE_FINDERS",
    "OBJSTORE_STATIC_MANIFEST",
    "OBJSTORE_STORAGE",
    "OBJSTORE_SERVER_TIMING",
    "OBJSTORE_HEALTH_CACHE_SECONDS",
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # tests/conftest.py sets it; check --deploy rightly refuses it
)


def production_env() -> dict[str, str]:
    return {
        "OBJSTORE_PRODUCTION": "true",
        "SECRET_KEY": get_random_secret_key(),
        "ALLOWED_HOSTS": "files.example.org",
        "CSRF_TRUSTED_ORIGINS": "https://files.example.org",
    }


def run(tmp_path: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run ``python <args>`` in the project with exactly ``env`` on top of a clean base."""
    base = {name: value for name, value in os.environ.items() if name not in CONTROLLED}
    base.update(
        OBJSTORE_DATA_DIR=str(tmp_path / "data"),
        STATIC_ROOT=str(tmp_path / "static"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def settings_with(tmp_path: Path, env: dict[str, str]) -> dict[str, object]:
    """The settings module's values under ``env``, read in a fresh interpreter."""
    script = (
        "import json, objstore_site.settings as s; print(json.dumps({"
        "'DEBUG': s.DEBUG, 'SESSION_COOKIE_SECURE': getattr(s, 'SESSION_COOKIE_SECURE', False),"
        "'SECURE_SSL_REDIRECT': getattr(s, 'SECURE_SSL_REDIRECT', False),"
        "'SECURE_HSTS_SECONDS': getattr(s, 'SECURE_HSTS_SECONDS', 0),"
        "'SECURE_HSTS_INCLUDE_SUBDOMAINS': getattr(s, 'SECURE_HSTS_INCLUDE_SUBDOMAINS', False),"
        "'SECURE_REDIRECT_EXEMPT': s.SECURE_REDIRECT_EXEMPT,"
        "'staticfiles': s.STORAGES['staticfiles']['BACKEND'],"
        "'OBJSTORE_SERVER_TIMING': s.OBJSTORE_SERVER_TIMING,"
        "'OBJSTORE_HEALTH_CACHE_SECONDS': s.OBJSTORE_HEALTH_CACHE_SECONDS,"
        "'WHITENOISE_USE_FINDERS': s.WHITENOISE_USE_FINDERS}))"
    )
    result = run(tmp_path, ["-c", script], env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# ---- production settings ----------------------------------------------------------------------


def test_check_deploy_is_clean_in_production_mode(tmp_path):
    result = run(tmp_path, ["manage.py", "check", "--deploy"], production_env())
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNINGS" not in result.stdout + result.stderr


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS"])
def test_production_mode_refuses_to_start_without_a_required_variable(tmp_path, missing):
    env = production_env()
    del env[missing]
    result = run(tmp_path, ["manage.py", "check"], env)
    assert result.returncode != 0
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("django.core.exceptions.ImproperlyConfigured:")
    assert missing in error
    assert not (tmp_path / "data" / "secret_key").exists()  # nothing generated instead


def test_production_mode_treats_an_empty_variable_as_missing(tmp_path):
    result = run(tmp_path, ["manage.py", "check"], {**production_env(), "ALLOWED_HOSTS": " "})
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr.strip().splitlines()[-1]


def test_production_mode_refuses_debug(tmp_path):
    result = run(tmp_path, ["manage.py", "check"], {**production_env(), "DEBUG": "true"})
    assert result.returncode != 0
    assert "DEBUG must be false" in result.stderr.strip().splitlines()[-1]


def test_production_mode_serves_collected_files_over_https_only(tmp_path):
    values = settings_with(tmp_path, production_env())
    assert values["DEBUG"] is False
    assert values["staticfiles"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    assert values["WHITENOISE_USE_FINDERS"] is False
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] == 31536000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_REDIRECT_EXEMPT"] == [r"^healthz$"]
    assert values["OBJSTORE_SERVER_TIMING"] is False  # tells every client the server's time
    assert values["OBJSTORE_HEALTH_CACHE_SECONDS"] == 10


def test_server_timing_can_be_turned_on_in_production_and_off_without(tmp_path):
    on = settings_with(tmp_path, {**production_env(), "OBJSTORE_SERVER_TIMING": "true"})
    assert on["OBJSTORE_SERVER_TIMING"] is True
    off = settings_with(tmp_path, {"OBJSTORE_SERVER_TIMING": "false"})
    assert off["OBJSTORE_SERVER_TIMING"] is False


def test_the_redirect_and_hsts_are_configurable(tmp_path):
    env = {
        **production_env(),
        "OBJSTORE_SSL_REDIRECT": "false",
        "SECURE_HSTS_SECONDS": "3600",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "false",
    }
    values = settings_with(tmp_path, env)
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 3600
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False


def test_without_production_mode_the_local_defaults_stay(tmp_path):
    values = settings_with(tmp_path, {})
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0
    assert values["staticfiles"] == "django.contrib.staticfiles.storage.StaticFilesStorage"
    assert values["WHITENOISE_USE_FINDERS"] is True
    assert values["OBJSTORE_SERVER_TIMING"] is True


# ---- /healthz ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_health_probe():
    """/healthz keeps its storage probe's outcome for a few seconds per process: each test here
    sees a probe of its own (tests/test_hardening.py tests the keeping)."""
    health.storage_probe.forget()
    yield
    health.storage_probe.forget()


def test_healthz_reports_ok_when_database_and_storage_work(client, db):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "storage": "ok"}
    assert "no-cache" in response["Cache-Control"]
    assert "max-age=0" in response["Cache-Control"]
    assert stored_blobs() == []  # the probe object is deleted again


def test_healthz_needs_no_login(client, db):
    assert reverse("healthz") == "/healthz"
    assert client.get("/healthz").status_code == 200


def test_healthz_answers_503_naming_the_storage_when_it_fails(client, db, monkeypatch):
    def broken() -> None:
        raise OSError("permission denied: /srv/secret-blobs/_health/abc")

    monkeypatch.setattr(services, "storage_check", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["storage"] == "failed: OSError"
    assert body["database"] == "ok"
    assert "secret-blobs" not in response.text and "Traceback" not in response.text


def test_healthz_answers_503_naming_the_database_when_it_fails(client, db, monkeypatch):
    def unreachable():
        raise OperationalError('connection to server at "db.internal" failed')

    with monkeypatch.context() as patch:  # undone before the test's transaction is rolled back
        patch.setattr(connections["default"], "cursor", unreachable)
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "error",
        "database": "failed: OperationalError",
        "storage": "ok",
    }
    assert "db.internal" not in response.text


def test_healthz_is_get_only(client, db):
    assert client.post("/healthz").status_code == 405


def test_healthz_is_not_redirected_to_https(db, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert settings.SECURE_REDIRECT_EXEMPT == django_settings.SECURE_REDIRECT_EXEMPT
    client = Client()  # built after the change: SecurityMiddleware reads it when it starts
    assert client.get("/healthz").status_code == 200
    login = client.get("/accounts/login/")
    assert login.status_code == 301
    assert login["Location"] == "https://testserver/accounts/login/"


# ---- the request log --------------------------------------------------------------------------


@pytest.fixture
def connections_kept():
    """Keep the test's database connection open across a request served outside the test
    client (which does the same): Django closes it when a request starts and finishes."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def request_lines(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "objstore.requests"]


def test_a_page_request_is_logged_with_method_path_status_bytes_and_duration(client, db, caplog):
    with caplog.at_level(logging.INFO, logger="objstore.requests"):
        response = client.get("/accounts/login/?next=/buckets/")
    [line] = request_lines(caplog)
    assert (line.method, line.path, line.status) == ("GET", "/accounts/login/", 200)
    assert line.bytes == str(len(response.content))
    assert line.duration_ms >= 0
    assert line.remote_addr == "127.0.0.1"
    assert line.getMessage().startswith(f"GET /accounts/login/ 200 {len(response.content)} ")
    assert "next=" not in line.getMessage()  # the query string may carry names or tokens


def test_a_download_is_logged_once_sent_with_its_content_length(alice_client, bucket, caplog):
    put(bucket, "docs/report.pdf", b"%PDF" * 1000)
    url = reverse("object_download", args=[bucket.bucket_id])
    with caplog.at_level(logging.INFO, logger="objstore.requests"):
        response = alice_client.get(url, {"name": "docs/report.pdf"})
        assert isinstance(response, FileResponse)
        assert request_lines(caplog) == []  # nothing sent yet
        assert b"".join(response.streaming_content) == b"%PDF" * 1000
    [line] = request_lines(caplog)
    assert (line.method, line.path, line.status, line.bytes) == ("GET", url, 200, "4000")
    assert line.getMessage().startswith(f"GET {url} 200 4000 ")


@pytest.mark.skipif(TEST_STORAGE != "file", reason="only local disk can be sent with sendfile")
def test_a_download_still_reaches_the_wsgi_servers_file_wrapper(
    alice_client, bucket, caplog, connections_kept
):
    """gunicorn sends a download with sendfile only if Django hands it the real file."""
    put(bucket, "big.bin", b"\0" * 100_000)
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": reverse("object_download", args=[bucket.bucket_id]),
        "QUERY_STRING": "name=big.bin",
        "HTTP_COOKIE": f"sessionid={alice_client.cookies['sessionid'].value}",
        "REMOTE_ADDR": "10.0.0.7",
        "wsgi.file_wrapper": FileWrapper,
    }
    setup_testing_defaults(environ)
    with caplog.at_level(logging.INFO, logger="objstore.requests"):
        body = WSGIHandler()(environ, lambda status, headers: None)
        assert isinstance(body, FileWrapper)
        assert body.filelike.fileno() >= 0  # a real file, not a Python wrapper around one
        assert sum(len(chunk) for chunk in body) == 100_000
        assert request_lines(caplog) == []
        body.close()  # what the server does once the last byte is out
    [line] = request_lines(caplog)
    assert (line.status, line.bytes, line.remote_addr) == (200, "100000", "10.0.0.7")


def test_a_streamed_response_is_logged_with_the_bytes_actually_sent(rf, caplog, connections_kept):
    middleware = RequestLogMiddleware(lambda request: StreamingHttpResponse([b"ab", b"cde"]))
    with caplog.at_level(logging.INFO, logger="objstore.requests"):
        response = middleware(rf.get("/stream"))
        assert b"".join(response.streaming_content) == b"abcde"
        response.close()
        response.close()  # logged once all the same
    [line] = request_lines(caplog)
    assert (line.path, line.status, line.bytes) == ("/stream", 200, "5")


def test_a_path_is_logged_percent_encoded_on_one_line(rf, caplog):
    middleware = RequestLogMiddleware(lambda request: HttpResponse(b"x", status=404))
    with caplog.at_level(logging.INFO, logger="objstore.requests"):
        middleware(rf.get("/b/x/o/a%0Afake 200 line"))
    [line] = request_lines(caplog)
    assert "\n" not in line.getMessage()
    assert line.path == "/b/x/o/a%0Afake%20200%20line"


def test_responses_say_how_long_the_server_took(alice_client, bucket, settings):
    import re

    settings.OBJSTORE_SERVER_TIMING = True  # the default outside production mode
    response = alice_client.get(reverse("bucket_settings", args=[bucket.bucket_id]))
    assert re.fullmatch(r"app;dur=\d+\.\d", response["Server-Timing"])


def test_api_paths_get_the_https_redirect_and_hsts_too(db, settings):
    from objstore_site.handlers import Application

    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    application = Application()  # built after the change: the middleware reads it at start

    def call(path: str, scheme: str) -> tuple[str, dict[str, str]]:
        environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "HTTP_HOST": "localhost"}
        setup_testing_defaults(environ)
        environ["wsgi.url_scheme"] = scheme
        answer: list = []
        body = application(environ, lambda status, headers: answer.extend([status, headers]))
        body.close()
        return answer[0], dict(answer[1])

    for path in ("/storage/v1/b", "/download/storage/v1/b/x/o/y", "/accounts/login/"):
        status, headers = call(path, "http")
        assert status.startswith("301") and headers["Location"] == f"https://localhost{path}"
    status, headers = call("/storage/v1/b", "https")
    assert status.startswith("401")  # no token: the API answered
    assert headers["Strict-Transport-Security"] == "max-age=3600"
    assert headers["X-Content-Type-Options"] == "nosniff"
