"""Find (issue 15): a bucket's names by substring, case-insensitive, or by GCS matchGlob, paged,
each result linking to its folder (objects/find.py, objects/find_views.py).

Every search here is checked against the plain answer, ``[n for n in names if matches(n)]``,
read through all its pages: the database only narrows candidates, and a narrowing that drops a
real match (a LIKE that is not a superset) shows up as a missing name.
"""

import re
from html import unescape

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from objects import find, services
from objects.find import Query, objects_find

from .conftest import put

NAMES = [
    "README.md",
    "Äpfel/Birnen.txt",
    "äpfel/kirschen.txt",
    "photos/2024/cat.JPG",
    "photos/2024/cat.jpg",
    "photos/2025/dog.png",
    "photos/cat.jpg",
    "photos/",
    "logs/app-2026-11-30.log",
    "logs/100%_done.log",
    "logs/100x done.log",
    "back\\slash/file.txt",
    "a/b",
    "a/x/y/b",
    "<script>alert(1)</script>.html",
    "naïve café.txt",
    "Straße.txt",
    "İstanbul-1.txt",  # lower() makes "i" + U+0307 of its "İ"
]


@pytest.fixture
def named(bucket):
    services.objects_bulk_create(bucket=bucket, items=((name, b"d") for name in NAMES))
    return bucket


def everything(bucket, query: Query, page: int = 3) -> list[str]:
    """All the names a search finds, page after page."""
    names, after = [], ""
    for _ in range(1000):
        found = objects_find(bucket=bucket, query=query, after=after, page=page)
        names += [item.name for item in found.objects]
        if found.after is None:
            return names
        after = found.after
    raise AssertionError("the search never ended")


def expected(query: Query) -> list[str]:
    return sorted(name for name in NAMES if query.matches(name))


CONTAINS = [
    "/2024/",  # no letters: instr(), not LIKE
    "\\",
    "cat",
    "CAT.jpg",
    "äpfel",
    "ÄPFEL",
    "PFEL/",
    "100%",
    "0%_",
    "x done",
    "\\sla",
    "ï",
    "e",
    "é.t",
    "SSE",
    "İSTANBUL",
    "\u0307",  # in "İ".lower(), not in the name: fold() leaves "İ" as it is
]


@pytest.mark.parametrize("text", CONTAINS)
def test_contains_ignores_case_and_finds_every_match(named, text):
    query = Query.parse(text, "contains")
    found = everything(named, query)
    assert found == expected(query)
    assert found == sorted(n for n in NAMES if find.fold(text) in find.fold(n))


def test_case_is_folded_character_by_character():
    """Letters fold to lower case one for one, ASCII to ASCII and the others to non-ASCII, so
    that the databases' LIKE (ASCII folded, "_" for any other character) finds every match; the
    two characters whose lower() would break that stay as they are."""
    assert find.fold("ÄPFEL/Straße.TXT") == "äpfel/straße.txt"
    assert find.fold("İstanbul \u212aelvin") == "İstanbul \u212aelvin"
    assert "İstanbul".lower() == "i\u0307stanbul" and "\u212a".lower() == "k"
    assert find._UNFOLDED == {"İ", "\u212a"}


def test_contains_examples(named):
    assert everything(named, Query.parse("äPfEl", "contains")) == [
        "Äpfel/Birnen.txt",
        "äpfel/kirschen.txt",
    ]
    # % and _ are characters, not LIKE's wildcards.
    assert everything(named, Query.parse("100%_", "contains")) == ["logs/100%_done.log"]
    assert everything(named, Query.parse("nothing-like-this", "contains")) == []


GLOBS = {
    "**/*.jpg": ["photos/2024/cat.jpg", "photos/cat.jpg"],
    "photos/*.jpg": ["photos/cat.jpg"],
    "photos/**/cat.{jpg,JPG}": ["photos/2024/cat.JPG", "photos/2024/cat.jpg", "photos/cat.jpg"],
    "a/**/b": ["a/b", "a/x/y/b"],
    "photos/202[45]/*": ["photos/2024/cat.JPG", "photos/2024/cat.jpg", "photos/2025/dog.png"],
    "photos/20?5/*": ["photos/2025/dog.png"],
    "logs/100\\%_done.log": ["logs/100%_done.log"],
    "back\\\\slash/*": ["back\\slash/file.txt"],
    "[!a-z]*": ["README.md", "Straße.txt", "İstanbul-1.txt"],  # "*" stays within a folder
    "[!a-z]**": [
        "<script>alert(1)</script>.html",
        "README.md",
        "Straße.txt",
        "Äpfel/Birnen.txt",
        "äpfel/kirschen.txt",
        "İstanbul-1.txt",
    ],
    "*.JPG": [],
    "photos/": ["photos/"],
}


@pytest.mark.parametrize("pattern", GLOBS)
def test_globs_match_as_gcs_does(named, pattern):
    query = Query.parse(pattern, "glob")
    assert everything(named, query) == expected(query) == sorted(GLOBS[pattern])


def test_the_scan_goes_on_statement_after_statement_and_stops_at_its_budget(
    named, monkeypatch, settings
):
    # Markers every other row and two per statement: each statement reads a few rows only.
    monkeypatch.setattr(find, "MARK_EVERY", 2)
    monkeypatch.setattr(find, "MARKS", 2)
    monkeypatch.setattr(find, "_has_trigram_index", lambda: False)
    monkeypatch.setattr(find, "_unordered", lambda *a: None)  # PostgreSQL's: the scan here
    for text in CONTAINS:
        query = Query.parse(text, "contains")
        assert everything(named, query) == expected(query), text
    # No time at all: each page ends after one statement, partial, and says how far it got;
    # going on from there page after page still finds everything, once.
    settings.OBJSTORE_FIND_BUDGET_MS = 0
    monkeypatch.setattr(find, "MARK_EVERY", 1)  # every row a marker: 5 rows a statement
    monkeypatch.setattr(find, "MARKS", 1)
    for text in ["KIRSCHEN", "txt"]:
        query = Query.parse(text, "contains")
        pages, partial, names, after = 0, 0, [], ""
        while True:
            found = objects_find(bucket=named, query=query, after=after, page=3)
            pages += 1
            partial += found.partial
            names += [item.name for item in found.objects]
            if found.after is None:
                break
            assert found.after > after
            after = found.after
        assert names == expected(query) and pages >= len(NAMES) // 5 and partial, text


def without_the_scan(monkeypatch, bucket, texts, patterns, common) -> list:
    """Each search finds what it should without the ordered scan; then, with more candidates
    than the first way reads, the scan takes over with the same results. The scan's calls."""
    scanned = []
    real_scan = find._scan
    monkeypatch.setattr(find, "_scan", lambda *a: scanned.append(a) or real_scan(*a))
    for text, mode in [(t, "contains") for t in texts] + [(p, "glob") for p in patterns]:
        query = Query.parse(text, mode)
        assert everything(bucket, query) == expected(query), text
    assert scanned == []
    monkeypatch.setattr(find, "CANDIDATES", 1)
    query = Query.parse(common, "contains")
    assert everything(bucket, query) == expected(query) and scanned
    monkeypatch.setattr(find, "CANDIDATES", 20_000)
    return scanned


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigram index is PostgreSQL's")
def test_postgresql_reads_rare_matches_from_the_trigram_index(named, monkeypatch):
    assert find._has_trigram_index()
    without_the_scan(
        monkeypatch,
        named,
        ["äpfel", "CAT.jpg", "100%_", "x done", "SSE"],
        ["**/*.jpg", "photos/**/cat.{jpg,JPG}", "logs/100\\%_done.log"],
        common="cat",
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's unordered statement")
def test_postgresql_reads_what_the_index_cannot_serve_in_one_unordered_statement(
    named, other_bucket, monkeypatch, settings
):
    put(other_bucket, "photos/cat-elsewhere.jpg")
    scanned = without_the_scan(
        monkeypatch, named, ["ä", "Ca", "0%", "_", "\\"], ["**/*.?pg", "photos/*"], common="ca"
    )
    # Out of time: the statement is canceled, the scan answers, the connection still works.
    real_test = find._test
    monkeypatch.setattr(
        find,
        "_test",
        lambda query, name: (
            f"(SELECT pg_sleep(0.2)) IS NOT NULL AND {real_test(query, name)[0]}",
            real_test(query, name)[1],
        ),
    )
    settings.OBJSTORE_FIND_BUDGET_MS = 50
    scanned.clear()
    query = Query.parse("ca", "contains")
    assert everything(named, query) == expected(query)
    assert scanned
    monkeypatch.setattr(find, "_test", real_test)
    with connection.cursor() as cursor:  # the timeout did not outlive the search
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"


def test_another_buckets_names_are_never_found(named, other_bucket):
    put(other_bucket, "photos/2024/cat-in-the-other-bucket.jpg")
    assert everything(named, Query.parse("cat", "contains")) == [
        "photos/2024/cat.JPG",
        "photos/2024/cat.jpg",
        "photos/cat.jpg",
    ]


@pytest.mark.parametrize(
    "text, mode, message",
    [
        ("", "contains", "Type part of a name"),
        ("x" * 1025, "contains", "at most 1024"),
        ("a\x00b", "contains", "NUL"),
        ("[abc", "glob", "unclosed '['"),
        ("{a,b", "glob", "unclosed '{'"),
        ("x", "regex", "Choose"),
    ],
)
def test_bad_queries_get_a_clear_error(text, mode, message):
    with pytest.raises(find.InvalidQuery, match=re.escape(message)):
        Query.parse(text, mode)


# ---- the Find tab ------------------------------------------------------------------------------


def find_url(bucket, **query) -> str:
    return reverse("object_find", args=[bucket.bucket_id]), query


def results(page: str) -> list[str]:
    return [
        unescape(m)
        for m in re.findall(r'<td class="name" data-label="Name"><a [^>]*title="([^"]*)"', page)
    ]


def test_the_tab_lists_matches_with_links_to_their_folders(alice_client, named):
    url, query = find_url(named, q="CAT")
    response = alice_client.get(url, query)
    page = response.content.decode()
    assert response.status_code == 200
    assert results(page) == ["photos/2024/cat.JPG", "photos/2024/cat.jpg", "photos/cat.jpg"]
    browse = reverse("object_browser", args=[named.bucket_id])
    assert f'href="{browse}?prefix=photos%2F2024%2F"' in page
    details = reverse("object_details", args=[named.bucket_id])
    assert f'href="{details}?name=photos%2Fcat.jpg"' in page
    assert 'aria-current="page">Find</a>' in page


def test_the_tab_escapes_names_and_queries(alice_client, named):
    url, query = find_url(named, q="<script>")
    page = alice_client.get(url, query).content.decode()
    assert results(page) == ["<script>alert(1)</script>.html"]
    assert "<script>alert(1)" not in page
    assert 'value="&lt;script&gt;"' in page


def test_the_tab_pages_its_results(alice_client, bucket, settings):
    services.objects_bulk_create(
        bucket=bucket, items=((f"logs/day-{i:03}.log", b"l") for i in range(120))
    )
    put(bucket, "other.txt")
    url, query = find_url(bucket, q=".LOG")
    seen, pages = [], 0
    while True:
        page = alice_client.get(url, query).content.decode()
        pages += 1
        seen += results(page)
        more = re.search(r'href="([^"]+)">Next 50 results', page)
        if not more:
            break
        url, query = unescape(more.group(1)), {}
    assert pages == 3 and seen == [f"logs/day-{i:03}.log" for i in range(120)]
    assert "Back to the first results" in page


def test_a_search_out_of_time_offers_to_keep_searching(alice_client, named, settings, monkeypatch):
    settings.OBJSTORE_FIND_BUDGET_MS = 0
    monkeypatch.setattr(find, "MARK_EVERY", 1)
    monkeypatch.setattr(find, "MARKS", 1)
    monkeypatch.setattr(find, "PAGE", 1)
    monkeypatch.setattr(find, "_has_trigram_index", lambda: False)
    url, query = find_url(named, q="KIRSCHEN")  # the last name of all, bytewise
    page = alice_client.get(url, query).content.decode()
    assert "Keep searching" in page and results(page) == []
    for _ in range(len(NAMES) + 1):
        keep = re.search(r'href="([^"]+)">Keep searching', page)
        if not keep:
            break
        page = alice_client.get(unescape(keep.group(1))).content.decode()
        if results(page):
            break
    assert results(page) == ["äpfel/kirschen.txt"]


def test_a_bad_glob_is_a_400_that_says_why(alice_client, named):
    url, query = find_url(named, q="photos/[jpg", match="glob")
    response = alice_client.get(url, query)
    assert response.status_code == 400
    assert "unclosed" in response.content.decode()


def test_nothing_found_says_so(alice_client, named):
    url, query = find_url(named, q="cat.JPG", match="glob")
    page = alice_client.get(url, query).content.decode()
    assert "No file matches" in page and "case-sensitive" in page


def test_only_the_owner_can_search(named, charlie_client):
    url, query = find_url(named, q="cat")
    assert charlie_client.get(url, query).status_code == 404
    anonymous = Client().get(url, query)
    assert anonymous.status_code == 302 and "/login" in anonymous["Location"]
