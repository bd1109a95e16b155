"""CSRF on every state-changing pane request: a signed-in user's browser posting without the
right token (a form on another site) gets 403 and changes nothing; with it, the post works, as a
form field (plain forms) or as the X-CSRFToken header (htmx)."""

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from buckets.models import ApiToken
from buckets.tokens import token_create

from ..conftest import PASSWORD, put
from .conftest import assert_unchanged, snapshot

FORMS = {
    "upload": ("/buckets/{b}/upload", lambda: {"prefix": "", "files": _file()}),
    "upload (pane script)": ("/buckets/{b}/upload", lambda: {"prefix": "", "files": _file()}),
    "folder create": ("/buckets/{b}/folders/new", lambda: {"name": "new", "prefix": ""}),
    "object delete": (
        "/buckets/{b}/objects/delete",
        lambda: {"name": "a.txt", "prefix": "", "confirmed": "yes"},
    ),
    "folder delete": (
        "/buckets/{b}/folders/delete",
        lambda: {"folder": "dir/", "prefix": "", "confirmed": "yes"},
    ),
    "bucket create": ("/buckets/new", lambda: {"name": "planted"}),
    "bucket delete": ("/buckets/{b}/delete", lambda: {"confirm_name": "photos"}),
    "token create": ("/tokens/new", lambda: {"name": "planted", "read_only": "on"}),
    "token revoke": ("/tokens/{t}/revoke", lambda: {}),
    "logout": ("/accounts/logout/", lambda: {}),
}
# Requests the pane's script (htmx or fetch) sends carry the token in a header.
HEADER_ONLY = {"upload (pane script)": {"HTTP_ACCEPT": "application/json"}}


def _file() -> SimpleUploadedFile:
    return SimpleUploadedFile("planted.txt", b"planted", "text/plain")


@pytest.fixture
def signed_in(alice, bucket):
    put(bucket, "a.txt", b"alpha")
    put(bucket, "dir/c.txt", b"charlie")
    token = token_create(owner=alice, name="keep")[0]
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.get("/buckets/").status_code == 200  # sets the CSRF cookie
    return client, token


def _url(name: str, bucket, token) -> str:
    return FORMS[name][0].format(b=bucket.bucket_id, t=token.public_id)


def _still_signed_in(client: Client) -> bool:
    return client.get("/tokens/").status_code == 200


# A token of the right shape that is not this browser's (another session's, or made up).
WRONG_TOKEN = "x" * 32


@pytest.mark.parametrize("attack", ["no token", "wrong token", "wrong header", "no cookie"])
@pytest.mark.parametrize("form", sorted(FORMS))
def test_a_post_without_the_right_csrf_token_is_refused(signed_in, bucket, form, attack):
    client, token = signed_in
    data = FORMS[form][1]()
    headers = dict(HEADER_ONLY.get(form, {}))
    if attack == "wrong token":
        data["csrfmiddlewaretoken"] = WRONG_TOKEN
    elif attack == "wrong header":
        headers["HTTP_X_CSRFTOKEN"] = WRONG_TOKEN
        headers["HTTP_HX_REQUEST"] = "true"
    elif attack == "no cookie":
        data["csrfmiddlewaretoken"] = client.cookies[settings.CSRF_COOKIE_NAME].value
        del client.cookies[settings.CSRF_COOKIE_NAME]
    before = snapshot()

    response = client.post(_url(form, bucket, token), data, **headers)

    assert response.status_code == 403, (form, attack, response.status_code)
    assert_unchanged(before)
    assert _still_signed_in(client)


@pytest.mark.parametrize("via", ["form field", "header"])
@pytest.mark.parametrize("form", sorted(FORMS))
def test_the_same_post_with_the_right_token_works(signed_in, bucket, form, via):
    client, token = signed_in
    secret = client.cookies[settings.CSRF_COOKIE_NAME].value
    data = FORMS[form][1]()
    headers = dict(HEADER_ONLY.get(form, {}))
    if via == "form field":
        data["csrfmiddlewaretoken"] = secret
    else:
        headers.update(HTTP_X_CSRFTOKEN=secret, HTTP_HX_REQUEST="true")
    before = snapshot()

    response = client.post(_url(form, bucket, token), data, **headers)

    assert response.status_code in (200, 302), (form, via, response.status_code)
    if form == "logout":
        assert not _still_signed_in(client)
    else:
        assert snapshot() != before, f"{form} changed nothing"
    if form == "token revoke":
        assert not ApiToken.objects.filter(pk=token.pk).exists()


@pytest.mark.parametrize("attack", ["no token", "wrong token"])
@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_sign_in_forms_are_csrf_protected_too(alice, path, attack):
    """A login CSRF would sign the victim into the attacker's account."""
    client = Client(enforce_csrf_checks=True)
    assert client.get(path).status_code == 200
    data = {"username": "alice", "password": PASSWORD}
    if attack == "wrong token":
        data["csrfmiddlewaretoken"] = WRONG_TOKEN
    response = client.post(path, data)
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_admin_changes_are_csrf_protected(alice, bucket):
    alice.is_staff = alice.is_superuser = True
    alice.save()
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.get("/admin/").status_code == 200
    before = snapshot()
    response = client.post(
        f"/admin/buckets/bucket/{bucket.pk}/delete/", {"post": "yes"}, HTTP_REFERER="/admin/"
    )
    assert response.status_code == 403
    assert_unchanged(before)


def test_the_api_needs_no_csrf_token_but_ignores_cookies(alice, bucket):
    """The API is CSRF-exempt because it authenticates by header only: a signed-in browser's
    session cookie gives a cross-site form no access to it."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    before = snapshot()
    response = client.post(
        f"/upload/storage/v1/b/{bucket.bucket_id}/o?uploadType=media&name=planted.txt",
        b"planted",
        content_type="text/plain",
    )
    assert response.status_code == 401
    assert_unchanged(before)
