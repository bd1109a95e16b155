"""One lifecycle pass over a large bucket, on SQLite and local disk.

    python -m benchmarks.lifecycle [--objects 1000000] [--versions 200000] [--expired 50000]

Builds a versioned bucket (soft delete off) of ``--objects`` live objects in 10 folders, half of
them created 60 days ago, ``--versions`` noncurrent generations (two for each of the first
names) and ``--expired`` soft-deleted generations past their retention, then times one
``manage.py objstore_lifecycle`` pass as a subprocess (wall time, and its peak RSS from
wait4) with the rules

* Delete, age 30, under data/f03/ or data/f07/: the old half of two folders, 10% of the live
  objects, which become noncurrent (versioning);
* Delete, isLive false, numNewerVersions 2: the older of each name's two noncurrent
  generations, deleted with its blob;

and the purge of the expired soft-deleted generations (with their blobs). Each row that a
pass may delete the bytes of has a real blob file; the live rows' blobs are not written (the
pass never touches them: a live object deleted here keeps its blob as a noncurrent version).

Then it times a plain listing page (services.objects_list, 1,000 names under a prefix) on the
bucket before any noncurrent row exists and after ``--listing-versions`` noncurrent rows are
present, to show that listings do not read them.
"""

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .servers import ROOT

MiB = 1024 * 1024
FOLDERS = 10
RULES = [
    {
        "action": {"type": "Delete"},
        "condition": {"age": 30, "matchesPrefix": ["data/f03/", "data/f07/"]},
    },
    {"action": {"type": "Delete"}, "condition": {"isLive": False, "numNewerVersions": 2}},
]
SECONDS_FIGURE = "lifecycle pass, {objects:,} objects + {versions:,} noncurrent (s)"
RSS_FIGURE = "lifecycle pass, peak RSS (MiB)"
# The pass's own targets (issue 12) at the default sizes, in benchmarks/__main__.py's form.
TARGETS = {
    SECONDS_FIGURE.format(objects=1_000_000, versions=200_000): ("max", 60.0),
    RSS_FIGURE: ("max", 200.0),
}


# ---- run inside a child process with Django set up --------------------------------------------


def _insert(model, rows, chunk: int = 20_000) -> int:
    """Raw executemany INSERTs (a bulk load: ~10x faster than bulk_create)."""
    from django.db import connection, transaction

    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    sql = (
        f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({columns}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    names = [f.attname for f in fields]
    done = 0
    batch: list[list] = []

    def flush() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, batch)
        batch.clear()

    for row in rows:
        batch.append([row[name] for name in names])
        done += 1
        if len(batch) >= chunk:
            flush()
    if batch:
        flush()
    return done


def _row(bucket, name: str, generation: int, key: str, created: str, size: int = 16) -> dict:
    """An ObjectData row for ``_insert``; ``created`` already as the database stores it."""
    from objects import sortkeys

    return {
        "bucket_id": bucket.pk,
        "name": name,
        "folder_key": sortkeys.folder_key(sortkeys.split(name)[0]),
        "name_key": sortkeys.name_key(name),
        "size": size,
        "content_type": "text/plain",
        "content_encoding": "",
        "cache_control": "",
        "md5_hash": "",
        "crc32c": "AAAAAA==",
        "generation": generation,
        "metageneration": 1,
        "metadata": "{}",
        "component_count": None,
        "custom_time": None,
        "blob_key": key,
        "created": created,
        "updated": created,
    }


def _blob(key: str) -> None:
    from objects.backends import blobs

    path = blobs().local_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"0123456789abcdef")


def build_live(*, objects: int) -> None:
    """The bucket, its rules and ``objects`` live rows: half of them created 60 days ago."""
    from datetime import timedelta

    from django.contrib.auth.models import User
    from django.db import connection
    from django.utils import timezone

    from buckets.services import bucket_create, bucket_update_settings
    from objects.lifecycle import validate_rules
    from objects.models import Object

    bucket = bucket_create(owner=User.objects.create_user("bench"), name="lifecycle")
    bucket = bucket_update_settings(
        bucket=bucket, versioning=True, soft_delete_seconds=0, lifecycle_rules=validate_rules(RULES)
    )
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    created = [adapt(now - timedelta(days=60)), adapt(now - timedelta(days=1))]
    per_folder = objects // FOLDERS
    started = time.perf_counter()
    _insert(
        Object,
        (
            _row(bucket, _name(f, i), 3, f"{bucket.bucket_id}/l/{f:02}{i:06}", created[i % 2])
            for f in range(FOLDERS)
            for i in range(per_folder)
        ),
    )
    print(f"  {objects:,} live rows in {time.perf_counter() - started:.0f} s", flush=True)


def _name(folder: int, index: int) -> str:
    return f"data/f{folder:02}/{index:06}"


def build_versions(*, objects: int, versions: int, expired: int) -> None:
    """Two noncurrent generations (2 and 1; the live one is 3) for each of the first
    ``versions // 2`` names, and ``expired`` soft-deleted generations of the names after them
    whose retention ended yesterday; every one with a blob file."""
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from buckets.models import Bucket
    from objects.models import ObjectVersion

    bucket = Bucket.objects.get(name="lifecycle")
    now = timezone.now()
    per_folder = objects // FOLDERS
    adapt = connection.ops.adapt_datetimefield_value
    created = adapt(now - timedelta(days=60))

    def version(index: int, generation: int, state: str) -> dict:
        key = f"{bucket.bucket_id}/v/{state}{generation}/{index // 1000:04}/{index:07}"
        _blob(key)
        row = _row(
            bucket,
            _name(index // per_folder, index % per_folder),
            generation,
            key,
            created,
        )
        row["state"] = state
        row["time_deleted"] = adapt(now - timedelta(days=10))
        row["soft_delete_time"] = row["hard_delete_time"] = None
        if state == ObjectVersion.SOFT_DELETED:
            row["soft_delete_time"] = row["time_deleted"]
            row["hard_delete_time"] = adapt(now - timedelta(days=1))
        return row

    started = time.perf_counter()
    pairs = versions // 2
    _insert(
        ObjectVersion,
        (
            version(index, generation, ObjectVersion.NONCURRENT)
            for index in range(pairs)
            for generation in (2, 1)
        ),
    )
    _insert(
        ObjectVersion,
        (version(pairs + index, 1, ObjectVersion.SOFT_DELETED) for index in range(expired)),
    )
    print(
        f"  {pairs * 2:,} noncurrent and {expired:,} expired soft-deleted rows, with blobs, in "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )


def add_noncurrent(*, objects: int, total: int) -> None:
    """Noncurrent rows (no blob files: nothing reads them) until the bucket holds ``total``:
    generations 0, -1, ... of every name in turn, older than any the build made."""
    from django.db import connection
    from django.utils import timezone

    from buckets.models import Bucket
    from objects.models import ObjectVersion

    bucket = Bucket.objects.get(name="lifecycle")
    have = ObjectVersion.objects.filter(bucket=bucket, state=ObjectVersion.NONCURRENT).count()
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    per_folder = objects // FOLDERS

    def rows():
        for index in range(max(0, total - have)):
            position = index % objects
            name = _name(position // per_folder, position % per_folder)
            key = f"{bucket.bucket_id}/extra/{index:07}"
            row = _row(bucket, name, -(index // objects), key, now)
            row.update(state=ObjectVersion.NONCURRENT, time_deleted=now)
            row["soft_delete_time"] = row["hard_delete_time"] = None
            yield row

    started = time.perf_counter()
    _insert(ObjectVersion, rows())
    print(f"  noncurrent rows up to {total:,} in {time.perf_counter() - started:.0f} s", flush=True)


def time_listing(*, objects: int, repeat: int = 7) -> None:
    import statistics

    from buckets.models import Bucket
    from objects.models import ObjectVersion
    from objects.services import objects_list

    bucket = Bucket.objects.get(name="lifecycle")

    def page() -> float:
        started = time.perf_counter()
        found = objects_list(bucket=bucket, prefix="data/f05/", max_results=1000)
        elapsed = time.perf_counter() - started
        assert len(found.objects) == min(1000, objects // FOLDERS)
        return elapsed

    page()
    print(
        json.dumps(
            {
                "ms": statistics.median(page() for _ in range(repeat)) * 1000,
                "noncurrent": ObjectVersion.objects.filter(
                    bucket=bucket, state=ObjectVersion.NONCURRENT
                ).count(),
            }
        )
    )


# ---- the driver -------------------------------------------------------------------------------


def _environment(work: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OBJSTORE_", "DATABASE_"))},
        "DJANGO_SETTINGS_MODULE": "objstore_site.settings",
        "OBJSTORE_PRODUCTION": "true",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "CSRF_TRUSTED_ORIGINS": "http://127.0.0.1",
        "OBJSTORE_SSL_REDIRECT": "false",
        "OBJSTORE_DATA_DIR": str(work / "objstore-data"),
        "STATIC_ROOT": str(work / "objstore-static"),
        "LOG_LEVEL": "WARNING",
    }


def _child(
    env: dict[str, str], function: str, *, module: str = "benchmarks.lifecycle", **kwargs: int
) -> str:
    code = (
        "import django; django.setup()\n"
        f"from {module} import {function}\n"
        f"{function}(**{kwargs!r})\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    print(done.stdout, end="", flush=True)
    return done.stdout


def _timed_pass(env: dict[str, str]) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one objstore_lifecycle pass, and its
    output."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "objstore_lifecycle"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    output = process.stdout.read()  # small: a summary line per bucket
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"objstore_lifecycle failed ({process.returncode}):\n{output}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, output


def measure(
    work: Path,
    *,
    objects: int = 1_000_000,
    versions: int = 200_000,
    expired: int = 50_000,
    listing_versions: int = 1_000_000,
) -> dict[str, float]:
    work.mkdir(parents=True, exist_ok=True)
    env = _environment(work)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    print(f"building {objects:,} objects and {versions:,} noncurrent versions", flush=True)
    _child(env, "build_live", objects=objects)
    before = json.loads(_child(env, "time_listing", objects=objects).splitlines()[-1])
    # The versions go in after the first listing: it is timed with no noncurrent row at all.
    _child(env, "build_versions", objects=objects, versions=versions, expired=expired)

    seconds, cpu, rss, output = _timed_pass(env)
    print(output, end="")
    live_expected = objects // FOLDERS  # the old half of two folders
    expected = (
        f"deleted {live_expected:,} live object(s) and {versions // 2:,} noncurrent version(s), "
        f"purged {expired:,} soft-deleted"
    )
    assert expected in output, f"expected {expected!r}"

    _child(env, "add_noncurrent", objects=objects, total=listing_versions)
    after = json.loads(_child(env, "time_listing", objects=objects).splitlines()[-1])
    return {
        SECONDS_FIGURE.format(objects=objects, versions=versions): seconds,
        # On a shared machine the wall time moves with the load; the CPU time much less.
        "lifecycle pass, CPU user + system (s)": cpu,
        RSS_FIGURE: rss,
        "objects_list page of 1,000, no noncurrent rows (ms)": before["ms"],
        f"objects_list page of 1,000, {after['noncurrent']:,} noncurrent rows (ms)": after["ms"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--versions", type=int, default=200_000)
    parser.add_argument("--expired", type=int, default=50_000)
    parser.add_argument("--listing-versions", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="objstore-lifecycle-") as tmp:
        results = measure(
            Path(tmp),
            objects=args.objects,
            versions=args.versions,
            expired=args.expired,
            listing_versions=args.listing_versions,
        )
    print(
        f"{args.objects:,} objects, {args.versions:,} noncurrent, {args.expired:,} expired "
        "soft-deleted; SQLite, local disk"
    )
    for figure, value in results.items():
        target = ""
        if figure in TARGETS:
            ceiling = TARGETS[figure][1]
            target = f" (target < {ceiling:g}: {'met' if value < ceiling else 'NOT met'})"
        print(f"{figure}: {value:,.1f}{target}")


if __name__ == "__main__":
    main()
