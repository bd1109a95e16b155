"""The authorization matrix: every API route and method, and every pane action, against every
kind of caller. A refused call answers the right status (in GCS's envelope on the API) and
changes nothing: no row, no byte, no blob; another user's bucket looks exactly like a missing one.
"""

import base64
import json
import re
from dataclasses import dataclass, field

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from buckets.models import ApiToken, Bucket
from buckets.services import bucket_create
from buckets.tokens import token_create, token_revoke
from objects import services, shares, uploads
from objects.api import views as api_views
from objects.models import FolderMove, Object, ObjectVersion, ShareLink

from ..conftest import PASSWORD, put
from ..test_pdf_preview import RED, pdf_bytes
from .conftest import assert_gcs_error, assert_unchanged, snapshot

MISSING_BUCKET = "objstore-00000000-0000-4000-8000-000000000000"

# ---- the API -----------------------------------------------------------------------------------


def _multipart_body() -> tuple[bytes, str]:
    body = (
        b"--sep\r\nContent-Type: application/json\r\n\r\n"
        b'{"name": "multi.txt", "contentType": "text/plain"}\r\n'
        b"--sep\r\nContent-Type: text/plain\r\n\r\nmultipart bytes\r\n--sep--\r\n"
    )
    return body, "multipart/related; boundary=sep"


def _json(value: dict) -> bytes:
    return json.dumps(value).encode()


@dataclass(frozen=True)
class Op:
    """One API call. ``{b}`` is the bucket it targets, ``{u}`` an upload session in it."""

    name: str
    method: str
    path: str
    ok: int  # the owner's answer
    write: bool
    body: bytes = b""
    content_type: str = "application/octet-stream"
    headers: dict = field(default_factory=dict)
    bucketless: bool = False  # bucket list and insert name no bucket
    empty: bool = False  # the target bucket holds nothing (so that deleting it succeeds)


_MP_BODY, _MP_TYPE = _multipart_body()
_COMPOSE = _json({"sourceObjects": [{"name": "a.txt"}, {"name": "b.txt"}]})

OPS = [
    Op("bucket list", "GET", "/storage/v1/b?project=x", 200, False, bucketless=True),
    Op(
        "bucket insert",
        "POST",
        "/storage/v1/b?project=x",
        200,
        True,
        _json({"name": "fresh-bucket-name-1"}),
        "application/json",
        bucketless=True,
    ),
    Op("bucket get", "GET", "/storage/v1/b/{b}", 200, False),
    Op("bucket get (short path)", "GET", "/b/{b}", 200, False),
    Op(
        "bucket patch",
        "PATCH",
        "/storage/v1/b/{b}",
        200,
        True,
        _json({"labels": {"k": "v"}}),
        "application/json",
    ),
    Op(
        "bucket update",
        "PUT",
        "/storage/v1/b/{b}",
        200,
        True,
        _json({"labels": {"k": "v"}}),
        "application/json",
    ),
    Op("bucket delete", "DELETE", "/storage/v1/b/{b}", 204, True, empty=True),
    Op("object list", "GET", "/storage/v1/b/{b}/o?prefix=dir/&delimiter=/", 200, False),
    Op("object get", "GET", "/storage/v1/b/{b}/o/a.txt", 200, False),
    Op("object media", "GET", "/storage/v1/b/{b}/o/a.txt?alt=media", 200, False),
    Op("object media (short path)", "GET", "/b/{b}/o/dir%2Fc.txt?alt=media", 200, False),
    Op("download path", "GET", "/download/storage/v1/b/{b}/o/dir%2Fc.txt", 200, False),
    Op(
        "object patch",
        "PATCH",
        "/storage/v1/b/{b}/o/a.txt",
        200,
        True,
        _json({"metadata": {"k": "v"}}),
        "application/json",
    ),
    Op(
        "object update",
        "PUT",
        "/storage/v1/b/{b}/o/a.txt",
        200,
        True,
        _json({"contentType": "text/plain"}),
        "application/json",
    ),
    Op("object delete", "DELETE", "/storage/v1/b/{b}/o/a.txt", 204, True),
    Op(
        "upload media",
        "POST",
        "/upload/storage/v1/b/{b}/o?uploadType=media&name=a.txt",
        200,
        True,
        b"overwritten",
        "text/plain",
    ),
    Op(
        "upload multipart",
        "POST",
        "/upload/storage/v1/b/{b}/o?uploadType=multipart",
        200,
        True,
        _MP_BODY,
        _MP_TYPE,
    ),
    Op(
        "resumable start",
        "POST",
        "/upload/storage/v1/b/{b}/o?uploadType=resumable",
        200,
        True,
        _json({"name": "resumed.txt"}),
        "application/json",
    ),
    Op(
        "resumable continue (PUT)",
        "PUT",
        "/upload/storage/v1/b/{b}/o?uploadType=resumable&upload_id={u}",
        200,
        True,
        b"resumed bytes",
    ),
    Op(
        "resumable continue (POST)",
        "POST",
        "/upload/storage/v1/b/{b}/o?uploadType=resumable&upload_id={u}",
        200,
        True,
        b"resumed bytes",
    ),
    Op(
        "resumable status query",
        "PUT",
        "/upload/storage/v1/b/{b}/o?uploadType=resumable&upload_id={u}",
        308,
        True,
        headers={"HTTP_CONTENT_RANGE": "bytes */*"},
    ),
    Op(
        "resumable cancel",
        "DELETE",
        "/upload/storage/v1/b/{b}/o?uploadType=resumable&upload_id={u}",
        499,
        True,
    ),
    Op("copyTo", "POST", "/storage/v1/b/{b}/o/a.txt/copyTo/b/{b}/o/copy.txt", 200, True),
    Op("rewriteTo", "POST", "/storage/v1/b/{b}/o/a.txt/rewriteTo/b/{b}/o/copy.txt", 200, True),
    Op(
        "compose",
        "POST",
        "/storage/v1/b/{b}/o/joined.txt/compose",
        200,
        True,
        _COMPOSE,
        "application/json",
    ),
    Op("restore", "POST", "/storage/v1/b/{b}/o/gone.txt/restore?generation={g}", 200, True),
    Op("list soft-deleted", "GET", "/storage/v1/b/{b}/o?softDeleted=true", 200, False),
    Op("list versions", "GET", "/storage/v1/b/{b}/o?versions=true", 200, False),
]

# Credentials that identify nobody: 401 on every route, before anything else is looked at.
UNAUTHENTICATED = {
    "anonymous",
    "malformed header",
    "bearer without token",
    "unknown token",
    "basic auth",
    "wrong scheme",
    "revoked token",
    "deactivated owner",
}
CREDENTIALS = [
    "owner",
    "read-only token",
    "bucket-limited token, its bucket",
    "bucket-limited token, another bucket",
    "other user",
    *sorted(UNAUTHENTICATED),
]


@dataclass
class World:
    alice: User
    charlie: User
    photos: Bucket
    other: Bucket
    charlie_bucket: Bucket
    secrets: dict[str, str]
    sessions: dict[str, str]  # bucket ID -> an open upload session's ID


# A real 1x1 PNG (its thumbnail can be made).
DOT_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c4944415478da63f8cfc000000301010018dd8db00000000049454e44ae426082"
)


def _fill(bucket: Bucket) -> None:
    put(bucket, "a.txt", b"alpha", "text/plain")
    put(bucket, "b.txt", b"bravo", "text/plain")
    put(bucket, "dir/c.txt", b"charlie", "text/plain")
    put(bucket, "dot.png", DOT_PNG, "image/png")  # for the pane's image preview and thumbnail
    put(bucket, "dot.pdf", pdf_bytes(RED), "application/pdf")  # for its page's image
    put(bucket, "gone.txt", b"soft-deleted", "text/plain")
    services.object_delete(bucket=bucket, name="gone.txt")  # kept by the 7-day soft delete
    # A folder move stopped halfway, for its page and its buttons.
    FolderMove.objects.create(
        bucket=bucket, source="dir/", destination="moved/", state=FolderMove.STOPPED, total=1
    )
    shares.share_create(bucket=bucket, name="a.txt", expiry="7d")  # for its Revoke


def _session(bucket: Bucket) -> str:
    session = uploads.session_start(
        bucket=bucket,
        name="resumed.txt",
        attributes=services.ObjectAttributes(content_type="text/plain"),
        preconditions=services.Preconditions(),
        expected_size=None,
    )
    return session.upload_id


def make_world(alice, charlie, bucket, other_bucket, *, empty: bool = False) -> World:
    charlie_bucket = bucket_create(owner=charlie, name="charlie's")
    sessions = {}
    for each in (bucket, other_bucket, charlie_bucket):
        if not empty:
            _fill(each)
            sessions[each.bucket_id] = _session(each)
    revoked, revoked_secret = token_create(owner=alice, name="revoked")
    token_revoke(token=revoked)
    secrets = {
        "owner": token_create(owner=alice, name="full")[1],
        "read-only": token_create(owner=alice, name="ro", read_only=True)[1],
        "limited": token_create(owner=alice, name="one bucket", bucket=bucket)[1],
        "charlie": token_create(owner=charlie, name="charlie")[1],
        "revoked": revoked_secret,
    }
    return World(alice, charlie, bucket, other_bucket, charlie_bucket, secrets, sessions)


def _authorization(world: World, credential: str) -> str | None:
    s = world.secrets
    return {
        "owner": f"Bearer {s['owner']}",
        "read-only token": f"Bearer {s['read-only']}",
        "bucket-limited token, its bucket": f"Bearer {s['limited']}",
        "bucket-limited token, another bucket": f"Bearer {s['limited']}",
        "other user": f"Bearer {s['charlie']}",
        "anonymous": None,
        "malformed header": f"Bearer{s['owner']}",
        "bearer without token": "Bearer ",
        "unknown token": "Bearer objstore_" + "A" * 43,
        "basic auth": "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode(),
        "wrong scheme": f"Token {s['owner']}",
        "revoked token": f"Bearer {s['revoked']}",
        "deactivated owner": f"Bearer {s['owner']}",
    }[credential]


def _target(world: World, credential: str) -> Bucket:
    if credential == "bucket-limited token, another bucket":
        return world.other
    return world.photos


def _expected(op: Op, credential: str) -> int:
    if credential in UNAUTHENTICATED:
        return 401
    restricted = credential in ("read-only token",) or credential.startswith("bucket-limited")
    if op.bucketless:
        if op.method == "GET":
            return 200
        return 403 if restricted else op.ok  # only an unrestricted token creates buckets
    if credential == "other user":
        return 404
    if credential == "bucket-limited token, another bucket":
        return 403
    if credential == "read-only token" and op.write:
        return 403
    return op.ok


def call(op: Op, world: World, authorization: str | None, bucket_id: str):
    client = Client(HTTP_AUTHORIZATION=authorization) if authorization else Client()
    deleted = ObjectVersion.objects.filter(bucket__bucket_id=bucket_id, name="gone.txt").first()
    path = op.path.format(
        b=bucket_id,
        u=world.sessions.get(bucket_id, "no-such-session"),
        g=deleted.generation if deleted else 1,
    )
    return client.generic(
        op.method, path, op.body, content_type=op.content_type, **op.headers
    ), path


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
def test_api_route_x_credential(op, credential, alice, charlie, bucket, other_bucket):
    world = make_world(alice, charlie, bucket, other_bucket, empty=op.empty)
    if credential == "deactivated owner":
        alice.is_active = False
        alice.save()
    target = _target(world, credential)
    expected = _expected(op, credential)
    before = snapshot()

    response, path = call(op, world, _authorization(world, credential), target.bucket_id)

    assert response.status_code == expected, (path, response.content[:400])
    refused = expected in (401, 403, 404)
    if refused:
        assert_gcs_error(response, expected)
    if refused or not op.write:
        assert_unchanged(before)
    if expected == 401:
        # Says nothing about whether the bucket or object exists.
        other = call(op, world, _authorization(world, credential), MISSING_BUCKET)[0]
        assert other.status_code == 401 and other.content == response.content
    if expected == 404:
        # Another user's bucket answers exactly like one that does not exist.
        missing = call(op, world, _authorization(world, credential), MISSING_BUCKET)[0]
        assert missing.status_code == 404
        assert missing.content == response.content
        assert world.photos.bucket_id not in response.content.decode()
    if op.name == "bucket list" and expected == 200:
        listed = {item["id"] for item in response.json().get("items", [])}
        mine = {
            "owner": {world.photos.bucket_id, world.other.bucket_id},
            "read-only token": {world.photos.bucket_id, world.other.bucket_id},
            "other user": {world.charlie_bucket.bucket_id},
        }.get(credential, {world.photos.bucket_id})  # a limited token sees its bucket only
        assert listed == mine


def _route_index(method: str, path: str) -> int | None:
    raw = path.split("?", 1)[0]
    for index, (pattern, methods) in enumerate(api_views._ROUTES):
        if pattern.match(raw):
            return index if method in methods else None
    return None


def test_the_matrix_covers_every_api_route_and_method():
    covered = {(_route_index(op.method, op.path), op.method) for op in OPS}
    every = {
        (index, method)
        for index, (_, methods) in enumerate(api_views._ROUTES)
        for method in methods
    }
    assert every - covered == set(), "routes the authorization matrix does not exercise"


# ---- cross-bucket moves and guessed IDs ---------------------------------------------------------


@pytest.fixture
def world(alice, charlie, bucket, other_bucket) -> World:
    return make_world(alice, charlie, bucket, other_bucket)


@pytest.mark.parametrize("verb", ["copyTo", "rewriteTo"])
@pytest.mark.parametrize(
    "secret, source, destination, status",
    [
        # Out of another user's bucket, into one's own: the source is missing.
        ("owner", "charlie_bucket", "photos", 404),
        # Out of one's own bucket into another user's: the destination is missing.
        ("owner", "photos", "charlie_bucket", 404),
        ("charlie", "photos", "charlie_bucket", 404),
        # A limited token reads its bucket but cannot write another of the owner's.
        ("limited", "photos", "other", 403),
        ("limited", "other", "photos", 403),
        # A read-only token reads the source and is refused the write.
        ("read-only", "photos", "other", 403),
    ],
)
def test_copies_across_buckets_obey_both_buckets(world, verb, secret, source, destination, status):
    src, dst = getattr(world, source), getattr(world, destination)
    before = snapshot()
    client = Client(HTTP_AUTHORIZATION=f"Bearer {world.secrets[secret]}")
    response = client.post(
        f"/storage/v1/b/{src.bucket_id}/o/a.txt/{verb}/b/{dst.bucket_id}/o/stolen.txt",
        b"{}",
        content_type="application/json",
    )
    assert_gcs_error(response, status)
    assert_unchanged(before)


def test_compose_cannot_read_sources_from_another_users_bucket(world):
    """compose names its sources by name only, inside the destination bucket: a name of
    another user's object is just a missing name there."""
    before = snapshot()
    client = Client(HTTP_AUTHORIZATION=f"Bearer {world.secrets['charlie']}")
    response = client.post(
        f"/storage/v1/b/{world.charlie_bucket.bucket_id}/o/x/compose",
        _json({"sourceObjects": [{"name": f"../{world.photos.bucket_id}/a.txt"}]}),
        content_type="application/json",
    )
    assert_gcs_error(response, 404)
    assert_unchanged(before)


@pytest.mark.parametrize("method", ["PUT", "POST", "DELETE"])
def test_an_upload_session_id_works_only_in_its_own_bucket(world, method):
    """An upload ID that leaked (it is in the Location URL) is no key to another bucket."""
    alice_session = world.sessions[world.photos.bucket_id]
    before = snapshot()
    for secret, bucket in (("charlie", world.charlie_bucket), ("owner", world.other)):
        client = Client(HTTP_AUTHORIZATION=f"Bearer {world.secrets[secret]}")
        response = client.generic(
            method,
            f"/upload/storage/v1/b/{bucket.bucket_id}/o?uploadType=resumable"
            f"&upload_id={alice_session}",
            b"planted",
            content_type="application/octet-stream",
        )
        assert_gcs_error(response, 404)
    assert_unchanged(before)


def test_a_token_stops_working_the_moment_it_is_revoked(world):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {world.secrets['owner']}")
    path = f"/storage/v1/b/{world.photos.bucket_id}/o"
    assert client.get(path).status_code == 200
    token_revoke(token=ApiToken.objects.get(owner=world.alice, name="full"))
    assert_gcs_error(client.get(path), 401)


def test_a_limited_token_loses_access_when_its_bucket_goes(world, alice):
    """Deleting the bucket a token is limited to must not widen the token to every bucket."""
    client = Client(HTTP_AUTHORIZATION=f"Bearer {world.secrets['limited']}")
    services.bucket_delete(bucket=world.photos)
    token = ApiToken.objects.filter(owner=alice, name="one bucket").first()
    if token is None:
        return  # revoked along with its bucket: fine
    before = snapshot()
    response = client.get(f"/storage/v1/b/{world.other.bucket_id}/o")
    assert response.status_code in (401, 403), response.content[:300]
    response = client.post(
        "/storage/v1/b", _json({"name": "fresh-bucket-name-2"}), content_type="application/json"
    )
    assert response.status_code in (401, 403), response.content[:300]
    assert_unchanged(before)


# ---- the pane ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """One pane request. ``{b}`` is alice's bucket, ``{t}`` alice's token's public ID."""

    name: str
    method: str
    url: str
    data: dict | None = None
    changes: bool = True  # a POST the owner's call changes something with
    bucket_scoped: bool = True  # another user gets 404
    htmx: bool = False


def _upload_data() -> dict:
    return {"prefix": "", "files": SimpleUploadedFile("u.txt", b"uploaded", "text/plain")}


ACTIONS = [
    Action("bucket list", "GET", "/buckets/", changes=False, bucket_scoped=False),
    Action("bucket create", "POST", "/buckets/new", {"name": "planted"}, bucket_scoped=False),
    Action("bucket settings", "GET", "/buckets/{b}/settings", changes=False),
    Action("bucket delete", "POST", "/buckets/{b}/delete", {"confirm_name": "photos"}),
    Action("object browser", "GET", "/buckets/{b}/", changes=False),
    Action("object browser, folder", "GET", "/buckets/{b}/?prefix=dir/", changes=False),
    Action(
        "object browser, htmx listing", "GET", "/buckets/{b}/?prefix=dir/", changes=False, htmx=True
    ),
    Action("upload", "POST", "/buckets/{b}/upload", "upload"),  # type: ignore[arg-type]
    Action("folder create", "POST", "/buckets/{b}/folders/new", {"name": "new", "prefix": ""}),
    Action(
        "object delete",
        "POST",
        "/buckets/{b}/objects/delete",
        {"name": "a.txt", "prefix": "", "confirmed": "yes"},
    ),
    Action(
        "object delete (confirmation page)",
        "POST",
        "/buckets/{b}/objects/delete",
        {"name": "a.txt", "prefix": ""},
        changes=False,
    ),
    Action(
        "object delete, htmx",
        "POST",
        "/buckets/{b}/objects/delete",
        {"name": "a.txt", "prefix": "", "confirmed": "yes"},
        htmx=True,
    ),
    Action(
        "folder delete",
        "POST",
        "/buckets/{b}/folders/delete",
        {"folder": "dir/", "prefix": "", "confirmed": "yes"},
    ),
    Action(
        "folder delete (confirmation page)",
        "POST",
        "/buckets/{b}/folders/delete",
        {"folder": "dir/", "prefix": ""},
        changes=False,
    ),
    Action("download", "GET", "/buckets/{b}/download?name=a.txt", changes=False),
    Action(
        "delete undo",
        "POST",
        "/buckets/{b}/undo",
        {"name": "a.txt", "since": "2000-01-01T00:00:00+00:00"},
        changes=False,  # a.txt is live: nothing to bring back
    ),
    Action("object versions", "GET", "/buckets/{b}/versions?name=a.txt", changes=False),
    Action("object details", "GET", "/buckets/{b}/details?name=a.txt", changes=False),
    Action("object preview", "GET", "/buckets/{b}/preview?name=dot.png", changes=False),
    Action("thumbnail", "GET", "/buckets/{b}/thumbnail?name=dot.png", changes=False),
    Action("pdf page", "GET", "/buckets/{b}/pdf-page?name=dot.pdf&page=1", changes=False),
    Action("folder zip", "GET", "/buckets/{b}/zip?prefix=dir/", changes=False),
    Action("object move", "POST", "/buckets/{b}/move", {"name": "a.txt", "new_name": "moved.txt"}),
    Action("find", "GET", "/buckets/{b}/find?q=a.txt", changes=False),
    Action("find by glob", "GET", "/buckets/{b}/find?q=**.txt&match=glob", changes=False),
    Action("shared links", "GET", "/buckets/{b}/shares", changes=False),
    Action("share form", "GET", "/buckets/{b}/shares?name=a.txt", changes=False),
    Action("share create", "POST", "/buckets/{b}/shares", {"name": "a.txt", "expiry": "1d"}),
    Action("share revoke", "POST", "/buckets/{b}/shares/{l}/revoke"),
    Action("folder move form", "GET", "/buckets/{b}/folders/move?folder=dir/", changes=False),
    Action(
        "folder move", "POST", "/buckets/{b}/folders/move", {"folder": "dir/", "new_path": "d2/"}
    ),
    Action("folder move page", "GET", "/buckets/{b}/moves/{m}", changes=False),
    Action("folder move step (stopped)", "POST", "/buckets/{b}/moves/{m}/step", changes=False),
    Action("folder move resume", "POST", "/buckets/{b}/moves/{m}/resume"),
    Action(
        "folder move undo (nothing moved)", "POST", "/buckets/{b}/moves/{m}/undo", changes=False
    ),
    Action(
        "selection delete",
        "POST",
        "/buckets/{b}/selection",
        {"action": "delete", "names": ["a.txt"], "confirmed": "yes"},
    ),
    Action(
        "selection move",
        "POST",
        "/buckets/{b}/selection",
        {"action": "move", "names": ["a.txt"], "destination": "moved/"},
    ),
    Action(
        "selection zip",
        "POST",
        "/buckets/{b}/selection",
        {"action": "zip", "prefix": "dir/", "everything": "yes"},
        changes=False,
    ),
    Action(
        "object details save",
        "POST",
        "/buckets/{b}/details",
        {"name": "a.txt", "content_type": "text/x-planted", "meta_key": "k", "meta_value": "v"},
    ),
    Action(
        "version restore (gone)",
        "POST",
        "/buckets/{b}/versions/restore",
        {"name": "a.txt", "generation": "1"},
        changes=False,
    ),
    Action(
        "version delete (gone)",
        "POST",
        "/buckets/{b}/versions/delete",
        {"name": "a.txt", "generation": "1", "confirmed": "yes"},
        changes=False,
    ),
    Action("deleted files", "GET", "/buckets/{b}/deleted?prefix=dir/", changes=False),
    Action(
        "deleted restore all",
        "POST",
        "/buckets/{b}/deleted/restore",
        {"scope": "folder", "folder": ""},  # brings back the soft-deleted gone.txt
    ),
    Action(
        "settings protection",
        "POST",
        "/buckets/{b}/settings/protection",
        {"versioning": "on", "soft_delete": "on", "soft_delete_days": "30"},
    ),
    Action(
        "lifecycle rule add",
        "POST",
        "/buckets/{b}/settings/lifecycle/add",
        {"action": "delete-files", "age": "30"},
    ),
    Action(
        "lifecycle rule remove (stale)",
        "POST",
        "/buckets/{b}/settings/lifecycle/remove",
        {"index": "0", "key": "stale"},
        changes=False,
    ),
    Action("lifecycle preview", "GET", "/buckets/{b}/settings/lifecycle/preview", changes=False),
    Action("token list", "GET", "/tokens/", changes=False, bucket_scoped=False),
    Action(
        "token create",
        "POST",
        "/tokens/new",
        {"name": "planted", "bucket": "{b}"},
        bucket_scoped=False,
    ),
    Action("token revoke", "POST", "/tokens/{t}/revoke", {}),
    Action("admin", "GET", "/admin/", changes=False, bucket_scoped=False),
    Action("admin objects", "GET", "/admin/objects/object/", changes=False, bucket_scoped=False),
]


def _pane_world(alice, charlie, bucket):
    _fill(bucket)
    charlie_bucket = bucket_create(owner=charlie, name="photos")
    _fill(charlie_bucket)
    token = token_create(owner=alice, name="alice's")[0]
    return token, charlie_bucket


def _move_id(bucket_id: str) -> int:
    move = FolderMove.objects.filter(bucket__bucket_id=bucket_id).first()
    return move.pk if move else 1


def _link_id(bucket_id: str) -> int:
    link = ShareLink.objects.filter(bucket__bucket_id=bucket_id).first()
    return link.pk if link else 1


def _pane_call(client: Client, action: Action, bucket_id: str, token_id: str):
    url = action.url.format(b=bucket_id, t=token_id, m=_move_id(bucket_id), l=_link_id(bucket_id))
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "listing"} if action.htmx else {}
    if action.method == "GET":
        return client.get(url, **headers), url
    data = _upload_data() if action.data == "upload" else dict(action.data or {})
    data = {k: v.format(b=bucket_id) if isinstance(v, str) else v for k, v in data.items()}
    return client.post(url, data, **headers), url


def _normalise(html: bytes, *values: str) -> str:
    """A page with what differs between two requests anyway (IDs, CSRF tokens) blanked."""
    text = html.decode()
    for value in values:
        text = text.replace(value, "ID")
    return re.sub(r'(csrfmiddlewaretoken" value="|X-CSRFToken": ")[^"]+', r"\1T", text)


@pytest.mark.parametrize("who", ["owner", "other user", "anonymous"])
@pytest.mark.parametrize("action", ACTIONS, ids=[a.name for a in ACTIONS])
def test_pane_action_x_user(action, who, alice, charlie, bucket):
    alice.is_staff = alice.is_superuser = True  # so that the owner may open the admin
    alice.save()
    token, charlie_bucket = _pane_world(alice, charlie, bucket)
    client = Client()
    if who == "owner":
        client.force_login(alice)
    elif who == "other user":
        client.force_login(charlie)
    before = snapshot()

    response, url = _pane_call(client, action, bucket.bucket_id, str(token.public_id))

    if who == "anonymous":
        login = "/admin/login/" if url.startswith("/admin/") else "/accounts/login/"
        if action.htmx and not url.startswith("/admin/"):
            # htmx is told to load the sign-in page as the page (not into the listing).
            assert response.status_code == 200 and response.content == b"", url
            assert response["HX-Redirect"].startswith(f"{login}?next="), response["HX-Redirect"]
        else:
            assert response.status_code == 302, (url, response.status_code)
            assert response["Location"].startswith(f"{login}?next="), response["Location"]
        assert_unchanged(before)
        return
    if who == "other user" and url.startswith("/admin/"):
        # Not staff: the admin asks for a staff sign-in.
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/?next=")
        assert_unchanged(before)
        return
    if who == "other user" and (action.bucket_scoped or action.name == "token revoke"):
        assert response.status_code == 404, (url, response.status_code)
        assert_unchanged(before)
        # Exactly the page a bucket (or token) that does not exist gets.
        missing, _ = _pane_call(
            client, action, MISSING_BUCKET, "00000000-0000-4000-8000-000000000000"
        )
        assert missing.status_code == 404
        assert _normalise(missing.content, MISSING_BUCKET) == _normalise(
            response.content, bucket.bucket_id, str(token.public_id)
        )
        assert "photos" not in response.content.decode()
        return
    if who == "other user" and action.name == "token create":
        # A token limited to another user's bucket is refused (the bucket is not a choice).
        assert response.status_code == 400
        assert_unchanged(before)
        return
    if who == "other user":
        assert response.status_code in (200, 302), (url, response.status_code)
        body = response.content.decode()
        assert bucket.bucket_id not in body
        assert "alice" not in body and "alice's" not in body
        if action.name == "bucket create":
            assert Bucket.objects.filter(owner=charlie, name="planted").exists()
        return
    # The owner.
    assert response.status_code in (200, 302), (url, response.status_code, response.content[:300])
    if not action.changes:
        assert_unchanged(before)
        if action.name == "download":
            assert b"".join(response.streaming_content) == b"alpha"
    else:
        assert snapshot() != before, "the owner's action changed nothing"
    # Charlie's bucket of the same name is untouched by anything alice does.
    assert sorted(Object.objects.filter(bucket=charlie_bucket).values_list("name", flat=True)) == [
        "a.txt",
        "b.txt",
        "dir/c.txt",
        "dot.pdf",
        "dot.png",
    ]


def test_pane_actions_cover_every_named_url():
    from buckets import urls as bucket_urls
    from objects import urls as object_urls

    names = {p.name for p in bucket_urls.urlpatterns + object_urls.urlpatterns}
    names |= {"token_list", "token_new", "token_delete"}
    # The upload script's JSON endpoints have a matrix of their own (401 JSON, not a redirect,
    # for nobody signed in): tests/test_pane_uploads.py::test_upload_endpoint_x_caller.
    names = {name for name in names if not name.startswith("pane_upload_")}
    used = set()
    for action in ACTIONS:
        url = action.url.format(b="B", t="00000000-0000-4000-8000-000000000000", m=1, l=1)
        url = url.split("?")[0]
        for name in names:
            args = (
                []
                if name in ("bucket_list", "bucket_create", "token_list", "token_new")
                else ["00000000-0000-4000-8000-000000000000"]
                if name == "token_delete"
                else ["B"]
            )
            if name.startswith("folder_move_") or name == "share_revoke":
                args = ["B", 1, "resume"] if name == "folder_move_control" else ["B", 1]
            if reverse(name, args=args) == url:
                used.add(name)
    assert names - used == set()


def test_logout_needs_a_post_and_ends_only_the_own_session(alice, charlie):
    alice_client, charlie_client = Client(), Client()
    alice_client.force_login(alice)
    charlie_client.force_login(charlie)
    assert alice_client.get("/accounts/logout/").status_code == 405
    assert alice_client.get("/tokens/").status_code == 200
    assert alice_client.post("/accounts/logout/").status_code == 302
    assert alice_client.get("/tokens/").status_code == 302
    assert charlie_client.get("/tokens/").status_code == 200
