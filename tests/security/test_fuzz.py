"""A Hypothesis fuzz of the API: object names, JSON bodies, query parameters and headers.

Whatever arrives, the answer is never a 5xx, every error is GCS's JSON envelope, and a name that
was accepted reads back as the same bytes, under the same name, where the listing and the
resource's own links say it is. Requests carry the raw path as gunicorn passes it (REQUEST_URI),
so routing sees exactly what a client sent.
"""

import json
from urllib.parse import quote, urlencode, urlsplit

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from buckets.tokens import token_create
from objects.models import Object

from ..conftest import put

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,  # no example database: every run explores afresh, nothing written to disk
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # one bucket per test, shared by its examples
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)

# Any text that UTF-8 can encode (no lone surrogates), with the characters names trip on.
CHARS = st.characters(blacklist_categories=("Cs",))
TRICKY = st.sampled_from(
    [
        "..",
        ".",
        "/",
        "//",
        "%",
        "%2F",
        "%25",
        "%zz",
        "?",
        "#",
        "+",
        " ",
        "\x00",
        "\r\n",
        "\t",
        "\x7f",
        "\u202e",
        "\ufeff",
        "\U0010ffff",
        "o/",
        "copyTo",
        "/copyTo/b/x/o/y",
        "/compose",
        ".well-known/acme-challenge/",
        "*",
        "**",
        "[",
        "{a,b}",
        "\\",
    ]
)
NAMES = st.one_of(
    st.text(CHARS, min_size=0, max_size=30),
    st.lists(st.one_of(TRICKY, st.text(CHARS, max_size=6)), min_size=1, max_size=8).map("".join),
    st.lists(st.text(CHARS, max_size=8), min_size=1, max_size=6).map("/".join),
    # Around the 1024-byte limit, in one- to four-byte characters.
    st.tuples(st.sampled_from(["n", "é", "€", "😀"]), st.integers(250, 1100)).map(
        lambda pair: pair[0] * (pair[1] // len(pair[0].encode()))
    ),
)

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(CHARS, max_size=20),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(CHARS, max_size=8), children)
    ),
    max_leaves=12,
)
FIELD = st.one_of(JSON_VALUES, TRICKY, NAMES)
RESOURCE = st.fixed_dictionaries(
    {},
    optional={
        "name": FIELD,
        "contentType": st.one_of(FIELD, st.sampled_from(["text/plain", "image/png", ""])),
        "contentEncoding": st.one_of(FIELD, st.just("gzip")),
        "cacheControl": FIELD,
        "metadata": st.one_of(FIELD, st.dictionaries(st.text(CHARS, max_size=8), FIELD)),
        "labels": st.one_of(FIELD, st.dictionaries(st.text(CHARS, max_size=8), FIELD)),
        "md5Hash": FIELD,
        "crc32c": FIELD,
        "sourceObjects": st.one_of(
            FIELD,
            st.lists(
                st.one_of(
                    FIELD,
                    st.fixed_dictionaries(
                        {"name": st.one_of(st.just("a.txt"), FIELD)},
                        optional={"generation": FIELD, "objectPreconditions": FIELD},
                    ),
                ),
                max_size=4,
            ),
        ),
        "destination": st.one_of(
            FIELD, st.fixed_dictionaries({}, optional={"contentType": FIELD, "metadata": FIELD})
        ),
        "storageClass": FIELD,
        "acl": FIELD,
    },
)
BODIES = st.one_of(
    RESOURCE.map(lambda value: json.dumps(value).encode()),
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=40),
    st.sampled_from([b"", b"{", b"[" * 5000, b'{"name": "\\ud800"}', b"\xff\xfe{}"]),
)


@pytest.fixture
def world(alice, bucket):
    put(bucket, "a.txt", b"alpha", "text/plain")
    put(bucket, "b.txt", b"bravo", "text/plain")
    secret = token_create(owner=alice, name="fuzz")[1]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}", raise_request_exception=False)
    pane = Client(raise_request_exception=False)
    pane.force_login(alice)
    return api, pane, bucket


def send(client: Client, method: str, target: str, body: bytes = b"", **kwargs):
    """``target`` is the raw path and query, exactly as a client sends them."""
    kwargs.setdefault("content_type", "application/json")
    response = client.generic(method, target, body, REQUEST_URI=target, **kwargs)
    context = f"{method} {target!r} body={body[:200]!r} headers={kwargs}"
    event(f"{method} {response.status_code}")  # shown by --hypothesis-show-statistics
    assert response.status_code < 500, (
        f"{context} -> {response.status_code} {response.content[:500]!r}"
    )
    if response.status_code >= 400:
        assert response["Content-Type"].startswith("application/json"), context
        error = json.loads(response.content)["error"]
        assert error["code"] == response.status_code, context
        assert isinstance(error["message"], str) and error["message"], context
        assert isinstance(error["errors"], list) and error["errors"], context
    return response


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _multipart(resource: bytes, data: bytes) -> tuple[bytes, str]:
    body = (
        b"--sep\r\nContent-Type: application/json\r\n\r\n"
        + resource
        + b"\r\n--sep\r\nContent-Type: application/octet-stream\r\n\r\n"
        + data
        + b"\r\n--sep--\r\n"
    )
    return body, "multipart/related; boundary=sep"


def _upload(api: Client, bucket_id: str, via: str, name: str, data: bytes):
    base = f"/upload/storage/v1/b/{bucket_id}/o"
    if via == "media":
        return send(
            api,
            "POST",
            f"{base}?uploadType=media&name={quote(name, safe='')}",
            data,
            content_type="application/octet-stream",
        )
    if via == "multipart":
        body, content_type = _multipart(json.dumps({"name": name}).encode(), data)
        return send(api, "POST", f"{base}?uploadType=multipart", body, content_type=content_type)
    start = send(api, "POST", f"{base}?uploadType=resumable", json.dumps({"name": name}).encode())
    if start.status_code != 200:
        return start
    location = urlsplit(start["Location"])
    return send(
        api,
        "PUT",
        f"{location.path}?{location.query}",
        data,
        content_type="application/octet-stream",
    )


@FUZZ
@given(
    name=NAMES,
    data=st.binary(max_size=64),
    via=st.sampled_from(["media", "multipart", "resumable"]),
)
def test_any_name_is_stored_and_read_back_exactly_or_refused_cleanly(world, name, data, via):
    api, pane, bucket = world
    bucket_id = bucket.bucket_id
    response = _upload(api, bucket_id, via, name, data)
    if response.status_code >= 400:
        assert response.status_code == 400, response.content
        return
    resource = response.json()
    assert resource["name"] == name
    quoted = quote(name, safe="")
    # Its bytes, by the name and by the links the resource gives.
    media = send(api, "GET", f"/storage/v1/b/{bucket_id}/o/{quoted}?alt=media")
    assert media.status_code == 200 and _body(media) == data
    download = send(api, "GET", urlsplit(resource["mediaLink"]).path)
    assert download.status_code == 200 and _body(download) == data
    meta = send(api, "GET", urlsplit(resource["selfLink"]).path)
    assert meta.json()["name"] == name
    # Listed under its own name.
    listed = send(
        api, "GET", f"/storage/v1/b/{bucket_id}/o?{urlencode({'prefix': name}, quote_via=quote)}"
    )
    assert name in [item["name"] for item in listed.json().get("items", [])]
    # The pane shows its folder and downloads it.
    folder = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
    browse = pane.get(reverse("object_browser", args=[bucket_id]), {"prefix": folder})
    assert browse.status_code == 200
    pane_download = pane.get(reverse("object_download", args=[bucket_id]), {"name": name})
    assert pane_download.status_code == 200 and _body(pane_download) == data
    # And deletes by the same encoded name.
    assert send(api, "DELETE", f"/storage/v1/b/{bucket_id}/o/{quoted}").status_code == 204
    assert not Object.objects.filter(bucket=bucket, name=name).exists()


JSON_ROUTES = [
    ("POST", "/storage/v1/b?project=p"),
    ("PATCH", "/storage/v1/b/{b}"),
    ("PUT", "/storage/v1/b/{b}"),
    ("PATCH", "/storage/v1/b/{b}/o/a.txt"),
    ("PUT", "/storage/v1/b/{b}/o/a.txt"),
    ("POST", "/upload/storage/v1/b/{b}/o?uploadType=resumable"),
    ("POST", "/upload/storage/v1/b/{b}/o?uploadType=multipart"),
    ("POST", "/storage/v1/b/{b}/o/joined/compose"),
    ("POST", "/storage/v1/b/{b}/o/a.txt/copyTo/b/{b}/o/copied"),
    ("POST", "/storage/v1/b/{b}/o/b.txt/rewriteTo/b/{b}/o/rewritten"),
]


@FUZZ
@given(route=st.sampled_from(JSON_ROUTES), body=BODIES)
def test_any_json_body_is_answered_without_a_server_error(world, route, body):
    api, pane, bucket = world
    method, path = route
    target = path.format(b=bucket.bucket_id)
    if "multipart" in target:
        wrapped, content_type = _multipart(body, b"media")
        send(api, method, target, wrapped, content_type=content_type)
    else:
        send(api, method, target, body)
    # Whatever the body set, the bucket's pages and its listing still render.
    assert pane.get(reverse("object_browser", args=[bucket.bucket_id])).status_code == 200
    assert pane.get(reverse("bucket_settings", args=[bucket.bucket_id])).status_code == 200
    send(api, "GET", f"/storage/v1/b/{bucket.bucket_id}/o")


PARAM_VALUES = st.one_of(
    st.text(CHARS, max_size=20),
    TRICKY,
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["0", "1", "-1", "1000", "true", "false", "", "a/", "**/*.txt", "{a,b}/*"]),
)


@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(
            [
                "prefix",
                "delimiter",
                "matchGlob",
                "pageToken",
                "maxResults",
                "startOffset",
                "endOffset",
                "includeTrailingDelimiter",
                "versions",
                "projection",
            ]
        ),
        PARAM_VALUES,
    )
)
def test_any_listing_query_is_answered_without_a_server_error(world, params):
    api, _, bucket = world
    query = urlencode(params, quote_via=quote)
    response = send(api, "GET", f"/storage/v1/b/{bucket.bucket_id}/o?{query}")
    if response.status_code == 200:
        body = response.json()
        prefix = params.get("prefix", "")
        for item in body.get("items", []):
            assert item["name"].startswith(prefix)
        for folder in body.get("prefixes", []):
            assert folder.startswith(prefix)


@FUZZ
@given(
    route=st.sampled_from(
        [
            ("GET", "/storage/v1/b/{b}/o/a.txt"),
            ("GET", "/storage/v1/b/{b}/o/a.txt?alt=media"),
            ("GET", "/download/storage/v1/b/{b}/o/a.txt"),
            ("DELETE", "/storage/v1/b/{b}/o/no-such"),
            ("PATCH", "/storage/v1/b/{b}/o/a.txt"),
            ("POST", "/upload/storage/v1/b/{b}/o?uploadType=media&name=m"),
            ("POST", "/upload/storage/v1/b/{b}/o?uploadType=resumable&name=r"),
            ("POST", "/storage/v1/b/{b}/o/a.txt/copyTo/b/{b}/o/c"),
        ]
    ),
    params=st.dictionaries(
        st.sampled_from(
            [
                "generation",
                "ifGenerationMatch",
                "ifGenerationNotMatch",
                "ifMetagenerationMatch",
                "ifMetagenerationNotMatch",
                "ifSourceGenerationMatch",
                "sourceGeneration",
                "alt",
                "uploadType",
                "name",
                "contentEncoding",
            ]
        ),
        PARAM_VALUES,
    ),
    headers=st.dictionaries(
        st.sampled_from(
            [
                "HTTP_RANGE",
                "HTTP_ACCEPT_ENCODING",
                "HTTP_X_GOOG_HASH",
                "HTTP_X_UPLOAD_CONTENT_LENGTH",
                "HTTP_IF_NONE_MATCH",
            ]
        ),
        st.one_of(
            st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
            st.sampled_from(["bytes=0-", "bytes=-1", "bytes=5-1", "bytes=99999999999999999999-"]),
        ),
    ),
)
def test_any_parameters_and_headers_are_answered_without_a_server_error(
    world, route, params, headers
):
    api, _, bucket = world
    method, path = route
    target = path.format(b=bucket.bucket_id)
    if params:
        target += ("&" if "?" in target else "?") + urlencode(params, quote_via=quote)
    body = b"{}" if method in ("PATCH", "POST") else b""
    send(api, method, target, body, **headers)


@FUZZ
@given(
    content_range=st.one_of(
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
        st.builds(
            "bytes {}-{}/{}".format,
            st.integers(-5, 2**66),
            st.integers(-5, 2**66),
            st.one_of(st.integers(-5, 2**66), st.just("*")),
        ),
        st.builds("bytes */{}".format, st.one_of(st.integers(-5, 2**66), st.just("*"))),
    ),
    data=st.binary(max_size=32),
)
def test_any_resumable_chunk_header_is_answered_without_a_server_error(world, content_range, data):
    api, _, bucket = world
    start = send(
        api,
        "POST",
        f"/upload/storage/v1/b/{bucket.bucket_id}/o?uploadType=resumable",
        b'{"name": "chunked"}',
    )
    location = urlsplit(start["Location"])
    send(
        api,
        "PUT",
        f"{location.path}?{location.query}",
        data,
        content_type="application/octet-stream",
        HTTP_CONTENT_RANGE=content_range,
    )


PANE_TEXT = st.one_of(NAMES, TRICKY, PARAM_VALUES)


@FUZZ
@given(
    action=st.sampled_from(
        [
            ("GET", "object_browser", ("prefix", "page_token")),
            ("GET", "object_download", ("name",)),
            ("POST", "folder_create", ("name", "prefix")),
            ("POST", "object_delete", ("name", "prefix", "confirmed")),
            ("POST", "folder_delete", ("folder", "prefix", "confirmed")),
        ]
    ),
    values=st.lists(PANE_TEXT, min_size=3, max_size=3),
    htmx=st.booleans(),
)
def test_any_pane_form_input_is_answered_without_a_server_error(world, action, values, htmx):
    _, pane, bucket = world
    method, url_name, fields = action
    data = dict(zip(fields, values, strict=False))
    if "confirmed" in data:
        data["confirmed"] = "yes" if len(values[2]) % 2 else values[2]
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "listing"} if htmx else {}
    url = reverse(url_name, args=[bucket.bucket_id])
    if method == "GET":
        response = pane.get(url, data, **headers)
    else:
        response = pane.post(url, data, **headers)
    event(f"{method} {url_name} {response.status_code}")
    assert response.status_code < 500, (method, url, data, htmx, response.content[:500])
