"""Find over a bucket of 1,000,000 objects, on SQLite and on PostgreSQL (issue 15).

    python -m benchmarks.find [--objects 1000000] [--postgres postgres://USER@HOST:PORT/]

Loads ``--objects`` names (20 top folders, years, months, ``word-NNNNNNN.ext``) into a fresh
database (SQLite in a temporary directory; with ``--postgres``, a database
``objstore_find_bench`` made on that server and dropped afterwards), then times the first page
of the pane's Find tab (``GET /buckets/<id>/find``, through Django's test client: the view, the
search and the page's HTML) for each query below, median of 5 after one warm-up. Every answer
is checked: the names it must hold, or none. Target (issue 15): under 300 ms each.
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from .lifecycle import _child, _environment, _insert, _row
from .servers import ROOT

TARGET_MS = 300.0
TOPS = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "zulu",
]  # fmt: skip
WORDS = ["report", "invoice", "photo", "backup", "Summer", "Winter", "Äpfel", "notes"]
EXTS = ["jpg", "json", "log", "txt", "png"]


def name_of(i: int) -> str:
    top = TOPS[i % len(TOPS)]
    return (
        f"{top}/{2000 + i % 27}/{1 + i % 12:02}/{WORDS[i // 7 % len(WORDS)]}-{i:07}."
        f"{EXTS[i // 3 % len(EXTS)]}"
    )


def queries(n: int) -> list:
    """(label, query, mode, check): check gets the page's result names."""
    rare = n - n // 4 - 1  # a name three quarters of the way in, by number
    return [
        ("one match (a number)", f"{rare:07}", "contains", lambda got: got == [name_of(rare)]),
        ("no match", "no-such-name", "contains", lambda got: got == []),
        ("no match, 2 characters", "q9", "contains", lambda got: got == []),
        (
            "common (1 name in 8), case-insensitive",
            "SUMMER",
            "contains",
            lambda got: len(got) == 50 and all("summer" in g.lower() for g in got),
        ),
        (
            "non-ASCII, case-insensitive",
            "äPFEL-00",
            "contains",
            lambda got: len(got) == 50 and all("äpfel-00" in g.lower() for g in got),
        ),
        (
            "only in the last folder",
            "zulu/2026/",
            "contains",
            lambda got: len(got) == min(50, n // 540) and all("zulu/2026/" in g for g in got),
        ),
        ("glob, common", "**/*.jpg", "glob", lambda got: len(got) == 50),
        (
            "glob, one match anywhere",
            f"**/*-{rare:07}.*",
            "glob",
            lambda got: got == [name_of(rare)],
        ),
        ("glob, no match", "**/*.gif", "glob", lambda got: got == []),
    ]


# ---- run inside a child process with Django set up --------------------------------------------


def build(*, objects: int) -> None:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.utils import timezone

    from buckets.services import bucket_create
    from objects.models import Object

    bucket = bucket_create(owner=User.objects.create_user("bench"), name="find")
    created = connection.ops.adapt_datetimefield_value(timezone.now())
    started = time.perf_counter()
    _insert(
        Object,
        (_row(bucket, name_of(i), i + 1, f"k{i}", created) for i in range(objects)),
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"loaded {objects:,} names in {time.perf_counter() - started:.0f} s", flush=True)


def time_queries(*, objects: int, repeat: int = 5) -> None:
    import re
    from html import unescape

    from django.contrib.auth.models import User
    from django.test import Client
    from django.urls import reverse

    from buckets.models import Bucket
    from objects import find

    bucket = Bucket.objects.get(name="find")
    client = Client()
    client.force_login(User.objects.get(username="bench"))
    url = reverse("object_find", args=[bucket.bucket_id])
    out = {"trigram index": find._has_trigram_index()}
    for label, text, mode, check in queries(objects):
        times, page = [], ""
        for _ in range(repeat + 1):
            started = time.perf_counter()
            response = client.get(url, {"q": text, "match": mode}, HTTP_HOST="127.0.0.1")
            times.append((time.perf_counter() - started) * 1000)
            page = response.content.decode()
            assert response.status_code == 200, response.status_code
        got = [
            unescape(m)
            for m in re.findall(r'<td class="name" data-label="Name"><a [^>]*title="([^"]*)"', page)
        ]
        partial = "Keep searching" in page
        assert partial or check(got), (label, got[:5])
        out[label] = {"ms": statistics.median(times[1:]), "partial": partial}
    print(json.dumps(out))


# ---- the driver -------------------------------------------------------------------------------


def measure(work: Path, *, objects: int, postgres: str = "") -> dict:
    import subprocess
    import sys

    env = _environment(work)
    if postgres:
        import psycopg

        with psycopg.connect(postgres.rstrip("/") + "/postgres", autocommit=True) as admin:
            admin.execute("DROP DATABASE IF EXISTS objstore_find_bench")
            admin.execute("CREATE DATABASE objstore_find_bench")
        env["DATABASE_URL"] = postgres.rstrip("/") + "/objstore_find_bench"
    try:
        for command in (["migrate", "-v0"], ["collectstatic", "--noinput", "-v0"]):
            subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True)
        _child(env, "build", module="benchmarks.find", objects=objects)
        lines = _child(env, "time_queries", module="benchmarks.find", objects=objects)
        return json.loads(lines.splitlines()[-1])
    finally:
        if postgres:
            with psycopg.connect(postgres.rstrip("/") + "/postgres", autocommit=True) as admin:
                admin.execute("DROP DATABASE IF EXISTS objstore_find_bench")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--postgres", default="", help="a PostgreSQL server URL, no database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="objstore-find-") as tmp:
        results = measure(Path(tmp), objects=args.objects, postgres=args.postgres)
    database = "PostgreSQL" if args.postgres else "SQLite"
    index = results.pop("trigram index")
    print(f"\nFind, first page, {args.objects:,} objects, {database}, trigram index: {index}")
    print("| query | ms (median of 5) | partial page | target < 300 ms |")
    print("| --- | ---: | --- | --- |")
    for label, figure in results.items():
        met = figure["ms"] < TARGET_MS and not figure["partial"]
        partial = "yes" if figure["partial"] else "no"
        print(f"| {label} | {figure['ms']:.0f} | {partial} | {'met' if met else 'NOT met'} |")


if __name__ == "__main__":
    main()
