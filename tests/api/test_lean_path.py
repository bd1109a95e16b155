"""The API's lean request path (objstore_site.handlers.LeanApiHandler), called as gunicorn
calls the application: what Django's handler did for API calls, it still does."""

import json
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import unquote
from wsgiref.util import setup_testing_defaults
from zoneinfo import ZoneInfo

import pytest
from django.core.signals import request_finished, request_started
from django.db import connection

from buckets.tokens import token_create
from objects.api import views
from objects.api.resources import rfc3339
from objstore_site.handlers import ApiHandler, Application, LeanApiHandler

from ..conftest import put

pytestmark = pytest.mark.django_db(transaction=True)


class Answer:
    def __init__(self, application, path: str, *, method: str = "GET", headers=None) -> None:
        # As gunicorn passes a request: the path decoded, and as sent in RAW_URI.
        environ = {
            "PATH_INFO": unquote(path),
            "RAW_URI": path,
            "REQUEST_METHOD": method,
            "HTTP_HOST": "localhost",
        }
        environ.update(headers or {})
        setup_testing_defaults(environ)
        started: list = []
        body = application(environ, lambda status, headers: started.extend([status, headers]))
        try:
            self.body = b"".join(body)
        finally:
            body.close()  # as the server does once the response is out
        self.status = int(started[0].split()[0])
        self.headers = dict(started[1])

    def json(self) -> dict:
        return json.loads(self.body)


@pytest.fixture
def token(alice):
    return token_create(owner=alice, name="lean")[1]


def _auth(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_api_calls_take_the_lean_path_and_answer_as_before(bucket, token):
    application = Application()
    assert isinstance(application.api, LeanApiHandler)
    put(bucket, "a b.txt", b"hello")
    path = f"/storage/v1/b/{bucket.bucket_id}/o/a%20b.txt"

    answer = Answer(application, path, headers=_auth(token))
    assert answer.status == 200
    assert answer.json()["name"] == "a b.txt" and answer.json()["size"] == "5"
    assert answer.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert answer.headers["Content-Length"] == str(len(answer.body))
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"

    media = Answer(application, path, headers={**_auth(token), "QUERY_STRING": "alt=media"})
    assert media.status == 200 and media.body == b"hello"

    missing = Answer(application, path + "x", headers=_auth(token))
    assert missing.status == 404 and missing.json()["error"]["code"] == 404


def test_the_request_log_and_djangos_request_signals_still_happen(bucket, token, caplog):
    seen: list[str] = []

    def started(**kwargs):
        seen.append("started")

    def finished(**kwargs):
        seen.append("finished")

    request_started.connect(started)
    request_finished.connect(finished)
    try:
        with caplog.at_level("INFO", logger="objstore.requests"):
            answer = Answer(
                Application(), f"/storage/v1/b/{bucket.bucket_id}/o", headers=_auth(token)
            )
    finally:
        request_started.disconnect(started)
        request_finished.disconnect(finished)
    assert answer.status == 200
    assert seen == ["started", "finished"]
    lines = [r.getMessage() for r in caplog.records if r.name == "objstore.requests"]
    assert len(lines) == 1 and lines[0].startswith(f"GET /storage/v1/b/{bucket.bucket_id}/o 200 ")


def test_a_crash_answers_gcs_json_is_logged_and_leaves_the_database_usable(
    bucket, token, monkeypatch, caplog
):
    def crash(call, bucket):
        raise RuntimeError("boom")

    routes = [(pattern, dict(methods)) for pattern, methods in views._ROUTES]
    for _, methods in routes:
        for method, handler in methods.items():
            if handler is views.objects_list:
                methods[method] = crash
    monkeypatch.setattr(views, "_ROUTES", routes)

    with caplog.at_level("ERROR", logger="django.request"):
        answer = Answer(Application(), f"/storage/v1/b/{bucket.bucket_id}/o", headers=_auth(token))
    assert answer.status == 500
    assert answer.json()["error"]["code"] == 500
    assert any(r.exc_info and "boom" in str(r.exc_info[1]) for r in caplog.records)
    with connection.cursor() as cursor:  # the request's connection was handled as Django does
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_a_host_outside_allowed_hosts_gets_the_json_400(bucket, token):
    answer = Answer(
        Application(),
        f"/storage/v1/b/{bucket.bucket_id}/o",
        headers={**_auth(token), "HTTP_HOST": "evil.example"},
    )
    assert answer.status == 400
    assert answer.json()["error"]["code"] == 400


class StampMiddleware:
    """A deployment's own middleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response["X-Stamp"] = "deployment"
        return response


def test_a_deployments_own_middleware_applies_to_api_calls_too(bucket, token, settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.StampMiddleware"]
    application = Application()
    assert isinstance(application.api, ApiHandler)  # Django's chain, with the addition
    answer = Answer(application, f"/storage/v1/b/{bucket.bucket_id}/o", headers=_auth(token))
    assert answer.status == 200 and answer.json()["kind"] == "storage#objects"
    assert answer.headers["X-Stamp"] == "deployment"
    assert answer.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 12, 1, 7, 30, 12, 123456, tzinfo=UTC),
        datetime(2026, 12, 1, 7, 30, 12, tzinfo=UTC),  # no microseconds: still ".000"
        datetime(2026, 12, 1, 8, 30, 12, 123999, tzinfo=timezone(timedelta(hours=1))),
        datetime(2026, 12, 1, 7, 30, 12, 123000, tzinfo=ZoneInfo("UTC")),
    ],
)
def test_times_are_rfc3339_in_utc_with_milliseconds(moment):
    assert rfc3339(moment) == (
        "2026-12-01T07:30:12.000Z" if not moment.microsecond else "2026-12-01T07:30:12.123Z"
    )
