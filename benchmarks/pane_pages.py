"""The pane's folder pages in every sort order, on a folder of 100,000 files.

    python -m benchmarks.pane_pages [--files 100000] [--folders 300] [--postgres URL]

Builds (SQLite by default, or the PostgreSQL database at URL, which must be empty) a bucket
whose folder ``big/`` holds ``--files`` files of varied sizes, types and dates and ``--folders``
subfolders, beside 100,000 other objects in other folders, then renders the pane's page of
``big/`` through Django's test client (the whole view: session, queries, template) in each
sort order, both directions: the first page, and the sixth (five "Load more" later). Each
figure is the median of 7 renders, in ms; the target (issue 13) is under 200 ms.
"""

import argparse
import html
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .lifecycle import _child, _environment, _insert, _row
from .servers import ROOT

NEXT = re.compile(r'id="load-more"[^>]* hx-get="([^"]+)"')
FIGURE = "pane page of {files:,} files, sorted by {sort} {order}, {page} (ms)"
TARGET_MS = 200.0


def build(*, files: int, folders: int) -> None:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.utils import timezone

    from buckets.services import bucket_create
    from objects.models import Object

    bucket = bucket_create(owner=User.objects.create_user("bench", password="x"), name="pane")
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    types = ["text/plain", "image/png", "application/json", "application/zip"]

    def rows():
        for i in range(files):
            row = _row(bucket, f"big/File {i}.txt", (i * 7919) % 100_003, f"b{i}", "")
            row["created"] = row["updated"] = adapt(now.replace(microsecond=0) - _seconds(i))
            row["content_type"] = types[i % len(types)]
            yield row
        for i in range(folders):
            yield _row(bucket, f"big/sub {i}/x", 1, f"s{i}", adapt(now))
        for i in range(100_000):
            yield _row(bucket, f"other/{i % 10}/{i}", 1, f"o{i}", adapt(now))

    started = time.perf_counter()
    _insert(Object, rows())
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(f"  {files + folders + 100_000:,} rows in {time.perf_counter() - started:.0f} s")


def _seconds(i: int):
    from datetime import timedelta

    return timedelta(seconds=(i * 104_729) % 10_000_000)


def time_pages(*, files: int, repeat: int = 7) -> None:
    from django.contrib.auth.models import User
    from django.test import Client
    from django.urls import reverse

    from buckets.models import Bucket

    bucket = Bucket.objects.get(name="pane")
    client = Client()
    client.force_login(User.objects.get(username="bench"))
    url = reverse("object_browser", args=[bucket.bucket_id])
    results = {}
    for sort in ("name", "size", "type", "date"):
        for order in ("asc", "desc"):
            first = f"{url}?prefix=big/&sort={sort}&order={order}"
            response = client.get(first)
            assert response.status_code == 200, response.status_code
            later = first
            for _ in range(5):
                found = NEXT.search(client.get(later).text)
                assert found, "no Load more"
                later = html.unescape(found.group(1))
            for page, address in (
                ("first page (subfolders)", first),
                ("sixth page (files)", later),
            ):

                def render(address=address) -> float:
                    started = time.perf_counter()
                    response = client.get(address)
                    elapsed = time.perf_counter() - started
                    assert response.status_code == 200 and "Load more" in response.text
                    return elapsed

                render()
                label = FIGURE.format(files=files, sort=sort, order=order, page=page)
                results[label] = statistics.median(render() for _ in range(repeat)) * 1000
    print(json.dumps(results))


def measure(work: Path, *, files: int, folders: int, database_url: str = "") -> dict:
    work.mkdir(parents=True, exist_ok=True)
    env = _environment(work)
    env["ALLOWED_HOSTS"] = "testserver"
    if database_url:
        env["DATABASE_URL"] = database_url
    for command in (["migrate"], ["collectstatic", "--noinput"]):
        subprocess.run(
            [sys.executable, "manage.py", *command, "-v", "0"], cwd=ROOT, env=env, check=True
        )
    _child(env, "build", module="benchmarks.pane_pages", files=files, folders=folders)
    out = _child(env, "time_pages", module="benchmarks.pane_pages", files=files)
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--folders", type=int, default=300)
    parser.add_argument("--postgres", metavar="URL", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="objstore-pane-") as tmp:
        results = measure(
            Path(tmp), files=args.files, folders=args.folders, database_url=args.postgres
        )
    for label, ms in results.items():
        print(f"{label}: {ms:.1f}")
    worst = max(results.values())
    verdict = "yes" if worst < TARGET_MS else "NO"
    print(f"slowest: {worst:.1f} ms (target < {TARGET_MS:.0f} ms): {verdict}")


if __name__ == "__main__":
    main()
