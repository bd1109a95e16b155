"""The pane's folder pages (objects.browse) against a reference computed the obvious way:
every name read, the folder's direct entries collected, sorted in Python."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from objects import sortkeys
from objects.browse import SORTS, folder_page
from objects.listing import InvalidPageToken
from objects.models import Object

from .conftest import put

ALPHABET = ["a", "B", "b", "/", "-", "1", "0", "2", "é", "É", "日", "😀", "\x01", "\x02"]
names_strategy = st.lists(
    st.tuples(
        st.text(alphabet=ALPHABET, min_size=1, max_size=7),
        st.integers(min_value=0, max_value=3),  # size
        st.sampled_from(["text/plain", "image/png", "application/json"]),
        st.integers(min_value=0, max_value=3),  # minutes after a start
    ),
    min_size=0,
    max_size=40,
    unique_by=lambda row: row[0],
)

START = datetime(2026, 1, 1, tzinfo=UTC)


def load(bucket, rows):
    Object.objects.filter(bucket=bucket).delete()
    Object.objects.bulk_create(
        Object(
            bucket=bucket,
            name=name,
            size=size,
            content_type=content_type,
            crc32c="AAAAAA==",
            generation=1,
            blob_key=f"k{i}-{bucket.pk}",
            created=START,
            updated=START + timedelta(minutes=minutes),
        )
        for i, (name, size, content_type, minutes) in enumerate(rows)
    )


def reference(bucket, prefix, sort, descending):
    """(folders, files) directly in ``prefix``, in the order the pane promises."""
    folders, files = set(), []
    for obj in Object.objects.filter(bucket=bucket):
        if not obj.name.startswith(prefix) or obj.name == prefix:
            continue
        rest = obj.name[len(prefix) :]
        if "/" in rest:
            folders.add(prefix + rest.split("/", 1)[0] + "/")
        else:
            files.append(obj)
    folder_order = sorted(
        folders, key=sortkeys.whole_folder_key, reverse=descending and sort == "name"
    )
    column = SORTS[sort]

    def key(obj):
        return ((getattr(obj, column),) if column else ()) + (obj.name_key, obj.pk)

    return folder_order, [o.name for o in sorted(files, key=key, reverse=descending)]


def list_all(bucket, prefix, sort, descending, page_size):
    folders, files, token, pages = [], [], "", 0
    while True:
        page = folder_page(
            bucket=bucket,
            prefix=prefix,
            sort=sort,
            descending=descending,
            limit=page_size,
            page_token=token,
        )
        assert page.sorted
        assert len(page.folders) + len(page.files) <= page_size
        assert not files or not page.folders, "folders come before every file"
        folders += page.folders
        files += [o.name for o in page.files]
        pages += 1
        if not page.next_page_token:
            return folders, files
        assert page.folders or page.files, "a page with a next token must not be empty"
        token = page.next_page_token
        assert pages < 500


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=names_strategy,
    prefix=st.sampled_from(["", "a/", "B/", "b/", "a/b/", "é/", "1/", "/"]),
    sort=st.sampled_from(sorted(SORTS)),
    descending=st.booleans(),
    page_size=st.integers(min_value=1, max_value=6),
)
def test_folder_pages_match_the_reference(bucket, rows, prefix, sort, descending, page_size):
    load(bucket, rows)
    assert list_all(bucket, prefix, sort, descending, page_size) == reference(
        bucket, prefix, sort, descending
    )


def test_names_sort_naturally_and_ignore_case_and_accents(bucket):
    names = ["file10.txt", "File2.txt", "README.md", "app.log", "Émile.txt", "emile2.txt", "日.txt"]
    for name in names:
        put(bucket, name)
    for folder in ["Zeta/", "alpha/", "beta10/", "Beta9/"]:
        put(bucket, folder + "x")
    page = folder_page(bucket=bucket, prefix="")
    assert page.folders == ["alpha/", "Beta9/", "beta10/", "Zeta/"]
    assert [o.name for o in page.files] == [
        "app.log",
        "Émile.txt",
        "emile2.txt",
        "File2.txt",
        "file10.txt",
        "README.md",
        "日.txt",
    ]
    down = folder_page(bucket=bucket, prefix="", descending=True)
    assert down.folders == ["Zeta/", "beta10/", "Beta9/", "alpha/"]
    assert [o.name for o in down.files][0] == "日.txt"


def test_folders_differing_in_case_are_two_folders(bucket):
    for name in ["Photos/a", "photos/b", "photos/c/d", "PHOTOS"]:
        put(bucket, name)
    page = folder_page(bucket=bucket, prefix="")
    assert sorted(page.folders) == ["Photos/", "photos/"]
    assert [o.name for o in page.files] == ["PHOTOS"]
    assert [o.name for o in folder_page(bucket=bucket, prefix="photos/").files] == ["photos/b"]


def test_very_long_paths_still_list_every_entry(bucket):
    """Keys cut to fit an index (objects.sortkeys) group folders; none is lost."""
    long = "É" * 320  # 640 bytes; its key ("e" * 320 and the name) is cut
    names = [f"{long}{i}/file" for i in range(3)] + [f"{long}{i}/sub/x" for i in range(3)]
    names += ["short/x"]
    for name in names:
        put(bucket, name)
    assert sortkeys.is_cut(f"{long}0/")
    folders, files = list_all(bucket, "", "name", False, 2)
    assert folders == [f"{long}{i}/" for i in range(3)] + ["short/"]  # "e…" before "s"
    down, _ = list_all(bucket, "", "name", True, 2)
    assert down == list(reversed(folders))
    # The deep folder itself is listed in byte order (its own key is too long to sort by).
    inner = folder_page(bucket=bucket, prefix=f"{long}1/")
    assert not inner.sorted
    assert inner.folders == [f"{long}1/sub/"]
    assert [o.name for o in inner.files] == [f"{long}1/file"]


@pytest.mark.parametrize(
    "token",
    [
        "not base64!",
        "e30=",  # {}
        "eyJzIjoic2l6ZSIsImQiOmZhbHNlLCJvIjpbMSwyXX0=",  # size cursor of the wrong length
        "eyJzIjoibmFtZSIsImQiOmZhbHNlLCJvIjpbIngiLCJ5Il19",  # id not an int
    ],
)
def test_a_bad_token_is_refused(bucket, token):
    put(bucket, "a")
    with pytest.raises(InvalidPageToken):
        folder_page(bucket=bucket, prefix="", page_token=token)


def test_a_token_belongs_to_its_sort(bucket):
    for i in range(3):
        put(bucket, f"f{i}")
    token = folder_page(bucket=bucket, prefix="", limit=1).next_page_token
    with pytest.raises(InvalidPageToken):
        folder_page(bucket=bucket, prefix="", sort="size", limit=1, page_token=token)


@pytest.mark.parametrize("sort", sorted(SORTS))
def test_a_page_reads_about_as_many_rows_as_it_shows(bucket, sort):
    """The page's queries stay few however many files and folders the folder holds."""
    load(
        bucket,
        [(f"big/{i:05d}.txt", i % 7, "text/plain", i % 5) for i in range(3000)]
        + [(f"big/sub{i}/x", 1, "text/plain", 0) for i in range(30)],
    )
    with CaptureQueriesContext(connection) as queries:
        first = folder_page(bucket=bucket, prefix="big/", sort=sort, limit=50)
    assert len(first.folders) == 30 and len(first.files) == 20
    # One seek per subfolder, one past the last, one for the files.
    assert len(queries) == 32
    with CaptureQueriesContext(connection) as queries:
        second = folder_page(
            bucket=bucket, prefix="big/", sort=sort, limit=50, page_token=first.next_page_token
        )
    assert len(second.files) == 50 and not second.folders
    assert len(queries) == 1


@pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite's plans (PostgreSQL's depend on table size)"
)
@pytest.mark.parametrize("sort", sorted(SORTS))
def test_every_query_of_a_page_searches_an_index(bucket, sort):
    """No query of a folder page scans the table: each seeks an object_by_* index."""
    load(
        bucket,
        [(f"big/{i}.txt", i, "text/plain", i % 5) for i in range(50)] + [("big/s/x", 1, "a", 0)],
    )
    with CaptureQueriesContext(connection) as queries:
        first = folder_page(bucket=bucket, prefix="big/", sort=sort, limit=10)
        folder_page(
            bucket=bucket, prefix="big/", sort=sort, limit=10, page_token=first.next_page_token
        )
    with connection.cursor() as cursor:
        for query in queries.captured_queries:
            cursor.execute(f"EXPLAIN QUERY PLAN {query['sql']}")
            plan = " / ".join(row[-1] for row in cursor.fetchall())
            assert "SCAN objects_object" not in plan, plan
            assert "USING INDEX object_by_" in plan or "USING COVERING INDEX object_by_" in plan, (
                plan
            )
