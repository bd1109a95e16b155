"""The pane's upload endpoints for its script (objects/upload_views.py): the name check, the
single-file upload with its "only if absent" precondition, and chunked resumable sessions."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from buckets import quotas
from objects import services
from objects.models import Object, UploadSession

from .conftest import TEST_STORAGE, put, read
from .streams import SERVICE_PEAK_LIMIT, GeneratedStream, MiB, traced_peak


@pytest.fixture(autouse=True)
def fresh_quotas():
    quotas.forget_cached_quotas()
    yield
    quotas.forget_cached_quotas()


def url(name: str, bucket, *args: str) -> str:
    return reverse(name, args=[bucket.bucket_id, *args])


def check(client: Client, bucket, names):
    return client.post(
        url("pane_upload_check", bucket),
        json.dumps({"names": names}),
        content_type="application/json",
        HTTP_ACCEPT="application/json",
    )


def upload(client: Client, bucket, path: str, data: bytes, prefix: str = "", condition="0"):
    fields = {"prefix": prefix, "path": path, "file": SimpleUploadedFile("ignored", data)}
    if condition is not None:
        fields["if_generation_match"] = condition
    return client.post(url("pane_upload_file", bucket), fields, HTTP_ACCEPT="application/json")


def start(client: Client, bucket, path: str, size: int, prefix: str = "", condition=0):
    body = {
        "prefix": prefix,
        "path": path,
        "size": size,
        "content_type": "",
        **({"if_generation_match": condition} if condition is not None else {}),
    }
    return client.post(
        url("pane_upload_session_create", bucket),
        json.dumps(body),
        content_type="application/json",
        HTTP_ACCEPT="application/json",
    )


class StreamedBody:
    """A request body made up as the server reads it (the test client would build it whole)."""

    def __init__(self, source: GeneratedStream) -> None:
        self.read = source.read

    def readline(self, size: int = -1, /) -> bytes:
        raise AssertionError("a chunk is not read by lines")


def chunk(client: Client, bucket, upload_id: str, offset: int, data):
    length = data.size if isinstance(data, GeneratedStream) else len(data)
    extra = {"wsgi.input": StreamedBody(data)} if isinstance(data, GeneratedStream) else {}
    return client.generic(
        "POST",
        url("pane_upload_session_chunk", bucket, upload_id) + f"?offset={offset}",
        b"" if extra else data,
        content_type="application/octet-stream",
        HTTP_ACCEPT="application/json",
        **({"CONTENT_LENGTH": str(length), **extra} if extra else {}),
    )


def status(client: Client, bucket, upload_id: str):
    return client.get(url("pane_upload_session_status", bucket, upload_id))


def cancel(client: Client, bucket, upload_id: str):
    return client.post(url("pane_upload_session_abort", bucket, upload_id))


# ---- which names exist -------------------------------------------------------------------------


def test_check_answers_the_existing_names_with_a_free_name_each(alice_client, bucket):
    put(bucket, "a.txt")
    put(bucket, "a (1).txt")
    put(bucket, "docs/report.pdf")
    put(bucket, "noext")
    response = check(alice_client, bucket, ["a.txt", "b.txt", "docs/report.pdf", "noext"])
    assert response.status_code == 200
    assert response.json() == {
        "existing": {
            "a.txt": "a (2).txt",
            "docs/report.pdf": "docs/report (1).pdf",
            "noext": "noext (1)",
        }
    }


def test_check_keeps_the_free_names_of_one_batch_apart(alice_client, bucket):
    put(bucket, "x.txt")
    # "x (1).txt" is itself in the batch: keeping both must not pick it.
    response = check(alice_client, bucket, ["x.txt", "x (1).txt"])
    assert response.json() == {"existing": {"x.txt": "x (2).txt"}}


def test_check_refuses_a_malformed_body(alice_client, bucket):
    response = alice_client.post(
        url("pane_upload_check", bucket), "not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert check(alice_client, bucket, "a.txt").status_code == 400
    assert check(alice_client, bucket, ["x"] * 1001).status_code == 400


def test_check_is_owner_only_post_only_and_csrf_protected(alice, charlie_client, bucket):
    put(bucket, "secret.txt")
    assert check(charlie_client, bucket, ["secret.txt"]).status_code == 404
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert check(strict, bucket, ["secret.txt"]).status_code == 403
    assert strict.get(url("pane_upload_check", bucket)).status_code == 405


# ---- one small file -----------------------------------------------------------------------------


def test_upload_stores_the_bytes_under_the_prefix(alice_client, bucket):
    response = upload(alice_client, bucket, "sub/notes.txt", b"hello", prefix="inbox/")
    assert response.status_code == 200
    assert response.json()["name"] == "inbox/sub/notes.txt"
    assert read(services.object_get(bucket=bucket, name="inbox/sub/notes.txt")) == b"hello"


def test_upload_only_if_absent_never_replaces_an_existing_name(alice_client, bucket):
    put(bucket, "a.txt", b"old")
    response = upload(alice_client, bucket, "a.txt", b"new", condition="0")
    assert response.status_code == 412
    assert response.json()["conflict"] is True
    assert read(services.object_get(bucket=bucket, name="a.txt")) == b"old"
    # The user chose "replace": no precondition.
    assert upload(alice_client, bucket, "a.txt", b"new", condition=None).status_code == 200
    assert read(services.object_get(bucket=bucket, name="a.txt")) == b"new"


def test_upload_names_like_dot_dot_stay_names(alice_client, bucket):
    response = upload(alice_client, bucket, "../x", b"dots", prefix="inbox/")
    assert response.status_code == 200
    assert response.json()["name"] == "inbox/../x"
    assert read(services.object_get(bucket=bucket, name="inbox/../x")) == b"dots"
    assert upload(alice_client, bucket, "..", b"", prefix="").status_code == 400


def test_upload_refuses_a_bad_precondition(alice_client, bucket):
    assert upload(alice_client, bucket, "a.txt", b"x", condition="abc").status_code == 400
    assert not Object.objects.exists()


def test_upload_is_owner_only_and_csrf_protected(alice, charlie_client, bucket):
    assert upload(charlie_client, bucket, "a.txt", b"x").status_code == 404
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert upload(strict, bucket, "a.txt", b"x").status_code == 403
    assert not Object.objects.exists()


def test_signed_out_uploads_get_401_json_with_the_way_back(client, bucket):
    response = client.post(
        url("pane_upload_file", bucket),
        {"path": "a.txt", "file": SimpleUploadedFile("a.txt", b"x")},
        HTTP_ACCEPT="application/json",
        HTTP_REFERER="http://testserver/buckets/x/?prefix=a/",
    )
    assert response.status_code == 401
    assert response.json()["login_url"] == (
        "/accounts/login/?next=http%3A%2F%2Ftestserver%2Fbuckets%2Fx%2F%3Fprefix%3Da%2F"
    )
    # Not even CSRF's 403 page comes first: the session (and its cookie) may be gone.
    strict = Client(enforce_csrf_checks=True)
    for name in ("pane_upload_check", "pane_upload_session_create"):
        assert (
            strict.post(url(name, bucket), "{}", content_type="application/json").status_code == 401
        )
    assert strict.get(url("pane_upload_session_status", bucket, "x")).status_code == 401
    assert not Object.objects.exists()


def test_upload_quota_and_size_errors_are_json(alice_client, bucket, settings):
    settings.OBJSTORE_MAX_OBJECT_SIZE = 3
    response = upload(alice_client, bucket, "big.bin", b"four")
    assert response.status_code == 413
    assert "upload limit" in response.json()["error"]
    assert not Object.objects.exists()


# ---- chunked sessions ---------------------------------------------------------------------------


def test_a_chunked_upload_round_trips_and_finishes_with_its_last_chunk(alice_client, bucket):
    data = bytes(range(256)) * 4096  # 1 MiB
    response = start(alice_client, bucket, "big.bin", len(data), prefix="inbox/")
    assert response.status_code == 201
    state = response.json()
    assert state["received"] == 0 and state["name"] == "inbox/big.bin"
    upload_id = state["upload_id"]

    first = chunk(alice_client, bucket, upload_id, 0, data[: 300 * 1024])
    assert first.status_code == 200 and first.json()["received"] == 300 * 1024
    assert first.json()["done"] is False
    assert status(alice_client, bucket, upload_id).json()["received"] == 300 * 1024
    assert not Object.objects.exists()  # nothing is listed before the end

    last = chunk(alice_client, bucket, upload_id, 300 * 1024, data[300 * 1024 :])
    assert last.status_code == 200 and last.json()["done"] is True
    assert read(services.object_get(bucket=bucket, name="inbox/big.bin")) == data
    # A retried last chunk (its answer lost) is answered as done, and stores nothing twice.
    again = chunk(alice_client, bucket, upload_id, 300 * 1024, data[300 * 1024 :])
    assert again.status_code == 200 and again.json()["done"] is True
    assert Object.objects.filter(bucket=bucket).count() == 1


def test_a_chunk_at_a_wrong_offset_answers_where_to_continue(alice_client, bucket):
    upload_id = start(alice_client, bucket, "f.bin", 10).json()["upload_id"]
    assert chunk(alice_client, bucket, upload_id, 0, b"01234").status_code == 200
    ahead = chunk(alice_client, bucket, upload_id, 7, b"789")
    assert ahead.status_code == 409 and ahead.json()["received"] == 5
    past_the_end = chunk(alice_client, bucket, upload_id, 5, b"56789xx")
    assert past_the_end.status_code == 409
    bad = alice_client.post(
        url("pane_upload_session_chunk", bucket, upload_id) + "?offset=-1",
        b"x",
        content_type="application/octet-stream",
    )
    assert bad.status_code == 400
    # A resend of bytes the server has is skipped, not stored twice.
    overlap = chunk(alice_client, bucket, upload_id, 3, b"3456789")
    assert overlap.status_code == 200 and overlap.json()["done"] is True
    assert read(services.object_get(bucket=bucket, name="f.bin")) == b"0123456789"


def test_start_checks_name_size_and_precondition_first(alice_client, bucket, settings):
    put(bucket, "taken.txt")
    taken = start(alice_client, bucket, "taken.txt", 10)
    assert taken.status_code == 412 and taken.json()["conflict"] is True
    assert start(alice_client, bucket, "taken.txt", 10, condition=None).status_code == 201
    assert start(alice_client, bucket, "", 10).status_code == 400
    assert start(alice_client, bucket, "a", -1).status_code == 400
    assert start(alice_client, bucket, "a", "10").status_code == 400
    settings.OBJSTORE_MAX_OBJECT_SIZE = 5
    too_big = start(alice_client, bucket, "big.bin", 6)
    assert too_big.status_code == 413 and "upload limit" in too_big.json()["error"]


def test_a_name_taken_before_the_finish_is_not_replaced(alice_client, bucket):
    upload_id = start(alice_client, bucket, "race.txt", 3).json()["upload_id"]
    put(bucket, "race.txt", b"first")
    response = chunk(alice_client, bucket, upload_id, 0, b"new")
    assert response.status_code == 412 and response.json()["conflict"] is True
    assert read(services.object_get(bucket=bucket, name="race.txt")) == b"first"
    assert not UploadSession.objects.exists()


def test_cancel_ends_the_session_and_removes_its_bytes(alice_client, bucket):
    upload_id = start(alice_client, bucket, "f.bin", 10).json()["upload_id"]
    chunk(alice_client, bucket, upload_id, 0, b"01234")
    response = cancel(alice_client, bucket, upload_id)
    assert response.status_code == 200 and response.json() == {"cancelled": True}
    assert not UploadSession.objects.exists()
    gone = chunk(alice_client, bucket, upload_id, 5, b"56789")
    assert gone.status_code == 404 and gone.json()["restart"] is True
    assert status(alice_client, bucket, upload_id).status_code == 404
    assert cancel(alice_client, bucket, upload_id).status_code == 200  # already gone: fine
    assert not Object.objects.exists()


def test_unknown_and_expired_sessions_ask_to_start_over(alice_client, bucket):
    assert status(alice_client, bucket, "nope").json()["restart"] is True
    upload_id = start(alice_client, bucket, "f.bin", 10).json()["upload_id"]
    UploadSession.objects.update(expires="2000-01-01T00:00:00Z")
    expired = status(alice_client, bucket, upload_id)
    assert expired.status_code == 410 and expired.json()["restart"] is True
    assert chunk(alice_client, bucket, upload_id, 0, b"0123456789").status_code == 410
    assert cancel(alice_client, bucket, upload_id).status_code == 200
    assert not UploadSession.objects.exists()


def test_sessions_belong_to_their_bucket_and_owner(
    alice_client, charlie_client, bucket, other_bucket
):
    upload_id = start(alice_client, bucket, "f.bin", 10).json()["upload_id"]
    # Another user: the bucket is a 404, whatever the session.
    assert status(charlie_client, bucket, upload_id).status_code == 404
    assert chunk(charlie_client, bucket, upload_id, 0, b"0123456789").status_code == 404
    assert cancel(charlie_client, bucket, upload_id).status_code == 404
    # The owner's other bucket does not know this session.
    assert status(alice_client, other_bucket, upload_id).status_code == 404
    assert chunk(alice_client, other_bucket, upload_id, 0, b"0123456789").status_code == 404
    assert UploadSession.objects.get().received == 0


def test_chunks_are_csrf_protected(alice, alice_client, bucket):
    upload_id = start(alice_client, bucket, "f.bin", 10).json()["upload_id"]
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert chunk(strict, bucket, upload_id, 0, b"0123456789").status_code == 403
    assert cancel(strict, bucket, upload_id).status_code == 403
    assert strict.get(url("pane_upload_session_status", bucket, upload_id)).status_code == 200
    assert UploadSession.objects.get().received == 0


def test_the_quota_applies_to_chunked_uploads(alice_client, bucket, settings):
    settings.OBJSTORE_USER_QUOTA_BYTES = 5
    quotas.forget_cached_quotas()
    response = start(alice_client, bucket, "f.bin", 10)
    assert response.status_code == 403 and "quota" in response.json()["error"]


def test_a_chunk_the_server_cannot_keep_answers_json(alice_client, bucket, monkeypatch):
    from objects import uploads

    upload_id = start(alice_client, bucket, "f.bin", 10).json()["upload_id"]

    def refuse(exc):
        def append(**kwargs):
            raise exc

        return append

    monkeypatch.setattr(uploads, "session_append", refuse(services.InsufficientStorage()))
    full = chunk(alice_client, bucket, upload_id, 0, b"0123456789")
    assert full.status_code == 507 and full.json() == {"error": services.DISK_FULL}
    monkeypatch.setattr(uploads, "session_append", refuse(services.ObjectTooLarge(5)))
    too_big = chunk(alice_client, bucket, upload_id, 0, b"0123456789")
    assert too_big.status_code == 413 and "upload limit" in too_big.json()["error"]
    monkeypatch.setattr(uploads, "session_append", refuse(quotas.QuotaExceeded("Over quota.")))
    over = chunk(alice_client, bucket, upload_id, 0, b"0123456789")
    assert over.status_code == 403 and over.json() == {"error": "Over quota."}
    assert UploadSession.objects.get().received == 0


def test_a_quota_reached_before_the_finish_asks_to_start_over(alice_client, bucket, monkeypatch):
    from objects import uploads

    upload_id = start(alice_client, bucket, "f.bin", 3).json()["upload_id"]

    def over_quota(**kwargs):
        raise quotas.QuotaExceeded("Over quota.")

    monkeypatch.setattr(uploads, "session_finish", over_quota)
    response = chunk(alice_client, bucket, upload_id, 0, b"abc")
    assert response.status_code == 403
    assert response.json() == {"error": "Over quota.", "name": "f.bin", "restart": True}
    assert not Object.objects.exists()


@pytest.mark.skipif(TEST_STORAGE != "file", reason="memory bound measured on local disk")
def test_a_large_chunk_streams_into_the_session(alice_client, bucket):
    size, limit = 48 * MiB, SERVICE_PEAK_LIMIT[TEST_STORAGE]
    source = GeneratedStream(size)
    upload_id = start(alice_client, bucket, "big.bin", size).json()["upload_id"]
    with traced_peak() as peak:
        response = chunk(alice_client, bucket, upload_id, 0, source)
    assert response.status_code == 200 and response.json()["done"] is True
    assert peak.bytes < limit, f"the chunk peaked at {peak.mib:.1f} MiB"
    obj = services.object_get(bucket=bucket, name="big.bin")
    assert (obj.size, obj.md5_hash, obj.crc32c) == (size, source.md5_b64, source.crc32c_b64)


# ---- every upload endpoint x who calls it -------------------------------------------------------

UPLOAD_ENDPOINTS = {
    "pane_upload_check": ("POST", False),
    "pane_upload_file": ("POST", False),
    "pane_upload_session_create": ("POST", False),
    "pane_upload_session_status": ("GET", True),
    "pane_upload_session_chunk": ("POST", True),
    "pane_upload_session_abort": ("POST", True),
}


def test_the_matrix_names_every_upload_endpoint():
    from objects import urls

    names = {p.name for p in urls.urlpatterns if (p.name or "").startswith("pane_upload_")}
    assert names == set(UPLOAD_ENDPOINTS)


@pytest.mark.parametrize("who", ["other user", "anonymous"])
@pytest.mark.parametrize("name", sorted(UPLOAD_ENDPOINTS))
def test_upload_endpoint_x_caller(name, who, alice_client, charlie_client, bucket):
    """Another user gets the 404 of a bucket that does not exist; nobody signed in gets 401
    JSON with the way back to sign-in. Neither stores, reads or changes anything."""
    put(bucket, "a.txt", b"alpha")
    upload_id = start(alice_client, bucket, "f.bin", 10).json()["upload_id"]
    method, per_session = UPLOAD_ENDPOINTS[name]
    target = url(name, bucket, *([upload_id] if per_session else []))
    client = charlie_client if who == "other user" else Client()
    if method == "GET":
        response = client.get(target, HTTP_ACCEPT="application/json")
    else:
        response = client.post(
            target,
            b"0123456789",
            content_type="application/octet-stream",
            HTTP_ACCEPT="application/json",
        )
    assert response.status_code == (404 if who == "other user" else 401), response.content[:200]
    assert b"a.txt" not in response.content and upload_id.encode() not in response.content
    assert list(Object.objects.values_list("name", flat=True)) == ["a.txt"]
    session = UploadSession.objects.get()
    assert (session.upload_id, session.received) == (upload_id, 0)
