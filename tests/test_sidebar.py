"""Every page of the pane lists the user's buckets in its sidebar (and its phone menu), the
bucket being looked at marked as the current one. The Find tab once showed "No buckets yet"."""

import re
from html import unescape

import pytest
from django.urls import reverse

from objects import shares
from objects.models import FolderMove

from .conftest import put


@pytest.fixture
def pages(bucket, other_bucket):
    put(bucket, "docs/a.txt", b"alpha", "text/plain")
    move = FolderMove.objects.create(
        bucket=bucket, source="docs/", destination="moved/", state=FolderMove.STOPPED, total=1
    )
    shares.share_create(bucket=bucket, name="docs/a.txt", expiry="7d")
    b = bucket.bucket_id
    return {
        "bucket list": reverse("bucket_list"),
        "tokens": reverse("token_list"),
        "browser": reverse("object_browser", args=[b]),
        "folder": reverse("object_browser", args=[b]) + "?prefix=docs/",
        "details": reverse("object_details", args=[b]) + "?name=docs/a.txt",
        "versions": reverse("object_versions", args=[b]) + "?name=docs/a.txt",
        "deleted": reverse("deleted_list", args=[b]),
        "settings": reverse("bucket_settings", args=[b]),
        "find": reverse("object_find", args=[b]),
        "find results": reverse("object_find", args=[b]) + "?q=a.txt",
        "shared links": reverse("share_links", args=[b]),
        "folder move": reverse("folder_move", args=[b]) + "?folder=docs/",
        "folder move progress": reverse("folder_move_page", args=[b, move.pk]),
    }


def test_every_pane_page_lists_the_users_buckets(alice_client, bucket, other_bucket, pages):
    for label, url in pages.items():
        response = alice_client.get(url)
        assert response.status_code == 200, label
        page = response.content.decode()
        sidebar = re.search(r'<nav class="sidebar" aria-label="Buckets">(.*?)</nav>', page, re.S)
        assert sidebar, label
        names = [unescape(n) for n in re.findall(r"<li><a [^>]*>([^<]+)</a></li>", sidebar[1])]
        assert sorted(names) == sorted([bucket.name, other_bucket.name]), label
        if label not in ("bucket list", "tokens"):
            assert f'aria-current="page">{bucket.name}</a>' in sidebar[1], label
