"""The listing function against a naive reference: sort every name, filter, collapse."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from objects.glob import compile_glob
from objects.listing import InvalidPageToken, ListPage, objects_list
from objects.models import Object

from .conftest import put

ALPHABET = ["a", "b", "/", "-", ".", "é", "日", "😀", "0", "\U0010ffff"]
names_strategy = st.lists(
    st.text(alphabet=ALPHABET, min_size=1, max_size=6), min_size=0, max_size=40, unique=True
)
short_text = st.text(alphabet=ALPHABET, max_size=3)


def reference(names, *, prefix="", delimiter="", start_offset="", end_offset="", match_glob=""):
    """What GCS returns, computed the slow and obvious way: (kind, name) in name order."""
    matches = compile_glob(match_glob) if match_glob else (lambda _: True)
    entries = []
    seen_prefixes = set()
    for name in sorted(names):
        if not name.startswith(prefix):
            continue
        if start_offset and name < start_offset:
            continue
        if end_offset and name >= end_offset:
            continue
        if not matches(name):
            continue
        rest = name[len(prefix) :]
        if delimiter and delimiter in rest:
            folder = prefix + rest[: rest.index(delimiter) + len(delimiter)]
            if folder not in seen_prefixes:
                seen_prefixes.add(folder)
                entries.append(("p", folder))
        else:
            entries.append(("o", name))
    return entries


def list_all(bucket, *, page_size, **options):
    """Follow nextPageToken to the end; also check that no page is over-full or empty."""
    entries, token, pages = [], "", 0
    while True:
        page = objects_list(bucket=bucket, max_results=page_size, page_token=token, **options)
        pages += 1
        assert len(page.objects) + len(page.prefixes) <= page_size
        merged = [("o", o.name) for o in page.objects] + [("p", p) for p in page.prefixes]
        merged.sort(key=lambda entry: entry[1])
        entries.extend(merged)
        if not page.next_page_token:
            return entries
        assert merged, "a page with a next token must not be empty"
        token = page.next_page_token
        assert pages < 1000


def load(bucket, names):
    Object.objects.filter(bucket=bucket).delete()
    Object.objects.bulk_create(
        Object(
            bucket=bucket,
            name=name,
            size=0,
            crc32c="AAAAAA==",
            generation=1,
            blob_key=f"k{i}-{bucket.pk}",
            created="2026-01-01T00:00Z",
            updated="2026-01-01T00:00Z",
        )
        for i, name in enumerate(names)
    )


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    names=names_strategy,
    prefix=short_text,
    delimiter=st.sampled_from(["", "/", "/", "-", "a/"]),
    start_offset=short_text,
    end_offset=short_text,
    page_size=st.integers(min_value=1, max_value=7),
)
def test_listing_matches_the_reference(
    bucket, names, prefix, delimiter, start_offset, end_offset, page_size
):
    load(bucket, names)
    options = dict(
        prefix=prefix, delimiter=delimiter, start_offset=start_offset, end_offset=end_offset
    )
    assert list_all(bucket, page_size=page_size, **options) == reference(names, **options)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    names=names_strategy,
    glob=st.sampled_from(
        ["*", "**", "a*", "**/a", "a/**", "*.b", "?", "[ab]*", "[!a]*", "{a,b}/*", "**é*"]
    ),
    delimiter=st.sampled_from(["", "/"]),
    page_size=st.integers(min_value=1, max_value=5),
)
def test_listing_with_a_glob_matches_the_reference(bucket, names, glob, delimiter, page_size):
    load(bucket, names)
    result = list_all(bucket, page_size=page_size, match_glob=glob, delimiter=delimiter)
    assert result == reference(names, match_glob=glob, delimiter=delimiter)


def test_folders_collapse_and_files_list_under_a_prefix(bucket):
    for name in [
        "photos/2024/a.png",
        "photos/2024/b.png",
        "photos/2024-old/c.png",
        "photos/x.txt",
        "readme",
    ]:
        put(bucket, name)
    top = objects_list(bucket=bucket, delimiter="/")
    assert top.prefixes == ["photos/"]
    assert [o.name for o in top.objects] == ["readme"]
    inner = objects_list(bucket=bucket, prefix="photos/", delimiter="/")
    assert inner.prefixes == ["photos/2024-old/", "photos/2024/"]
    assert [o.name for o in inner.objects] == ["photos/x.txt"]


def test_ordering_is_bytewise_utf8(bucket):
    names = ["Z", "a", "é", "z", "日本", "😀", "\uffff"]
    for name in names:
        put(bucket, name)
    listed = [o.name for o in objects_list(bucket=bucket).objects]
    assert listed == sorted(names, key=lambda n: n.encode("utf-8"))


def test_a_full_last_page_gets_no_token(bucket):
    for name in ["a", "b", "c"]:
        put(bucket, name)
    page = objects_list(bucket=bucket, max_results=3)
    assert [o.name for o in page.objects] == ["a", "b", "c"]
    assert page.next_page_token is None


def test_max_results_is_capped_at_1000(bucket):
    load(bucket, [f"n{i:04}" for i in range(1005)])
    page = objects_list(bucket=bucket, max_results=5000)
    assert len(page.objects) == 1000
    assert page.next_page_token


def rows_read(bucket, monkeypatch, **options) -> tuple[int, ListPage]:
    """The rows a delimiter listing fetches from the database: every name its scans read."""
    from objects import listing

    read = 0
    scan = listing._NameScanner.scan

    def counting(self, lower, limit):
        nonlocal read
        names = scan(self, lower, limit)
        read += len(names)
        return names

    monkeypatch.setattr(listing._NameScanner, "scan", counting)
    page = objects_list(bucket=bucket, delimiter="/", **options)
    monkeypatch.setattr(listing._NameScanner, "scan", scan)
    return read, page


def test_a_big_folder_costs_one_seek_per_subfolder(bucket, monkeypatch):
    """The rows read stay the same as the folder grows tenfold: the scan seeks past it."""
    read = {}
    for size in (3_000, 30_000):
        load(
            bucket,
            [f"big/{i:05}" for i in range(size)]
            + ["a.txt", "z.txt"]
            + [f"d{i}/f" for i in range(5)],
        )
        read[size], page = rows_read(bucket, monkeypatch)
        assert page.prefixes == ["big/", "d0/", "d1/", "d2/", "d3/", "d4/"]
        assert [o.name for o in page.objects] == ["a.txt", "z.txt"]
    # One first batch (listing._FIRST_BATCH) and a few rows per seek, whatever the size.
    assert read[3_000] == read[30_000] <= 200, read


@pytest.mark.parametrize("token", ["!!!", "bm9jb2xvbg==", "eDp5"])
def test_a_bad_page_token_is_refused(bucket, token):
    with pytest.raises(InvalidPageToken):
        objects_list(bucket=bucket, page_token=token)
