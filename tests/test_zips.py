"""A folder downloaded as one zip, built while it is sent (issue 15, "Select many"/folders)."""

import hashlib
import io
import zipfile

from django.urls import reverse

from buckets.models import Bucket
from objects import services

from .conftest import TEST_STORAGE, put
from .streams import SERVICE_PEAK_LIMIT, GeneratedStream, MiB, traced_peak


def zip_url(bucket: Bucket, prefix: str = "") -> str:
    url = reverse("folder_zip", args=[bucket.bucket_id])
    return f"{url}?prefix={prefix}" if prefix else url


def fetch(client, url: str) -> tuple[object, zipfile.ZipFile]:
    response = client.get(url)
    assert response.status_code == 200
    data = b"".join(response.streaming_content)
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    return response, archive


def test_a_folder_zips_with_its_paths_and_bytes(alice_client, bucket):
    put(bucket, "docs/a.txt", b"alpha")
    put(bucket, "docs/sub/b.bin", bytes(range(256)) * 1000)
    put(bucket, "docs/empty/", b"")  # a folder made with Create folder
    put(bucket, "other.txt", b"not in docs")
    response, archive = fetch(alice_client, zip_url(bucket, "docs/"))
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="docs.zip"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert sorted(archive.namelist()) == ["a.txt", "empty/", "sub/b.bin"]
    assert archive.read("a.txt") == b"alpha"
    assert archive.read("sub/b.bin") == bytes(range(256)) * 1000


def test_the_whole_bucket_zips_without_a_prefix(alice_client, bucket):
    put(bucket, "a.txt", b"a")
    put(bucket, "d/b.txt", b"b")
    response, archive = fetch(alice_client, zip_url(bucket))
    assert response["Content-Disposition"] == f'attachment; filename="{bucket.name}.zip"'
    assert sorted(archive.namelist()) == ["a.txt", "d/b.txt"]


def test_names_can_never_extract_outside_the_folder(alice_client, bucket, tmp_path):
    names = ["d/../../evil", "d//abs", "d/./dot", "d/back\\slash", "d/../x.txt", "d/__/x.txt"]
    for name in names:
        put(bucket, name, name.encode())
    _, archive = fetch(alice_client, zip_url(bucket, "d/"))
    entries = archive.namelist()
    # In name order; "d/__/x.txt" comes out as "d/../x.txt" did, so it gets " (2)".
    assert entries == ["__/__/evil", "__/x.txt", "_/dot", "_/abs", "__/x (2).txt", "back_slash"]
    assert len(set(entries)) == len(names)
    for entry in entries:
        assert ".." not in entry.split("/") and not entry.startswith("/") and "\\" not in entry
    target = tmp_path / "out"
    archive.extractall(target)
    extracted = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
    assert extracted == set(entries)
    # Every byte is still there, under its safe path.
    assert sorted(archive.read(e) for e in entries) == sorted(n.encode() for n in names)


def test_a_big_file_streams_in_bounded_memory(alice_client, bucket, tmp_path):
    size = 64 * MiB
    source = GeneratedStream(size)
    services.object_upload(bucket=bucket, name="big/blob.bin", stream=source)
    path = tmp_path / "big.zip"
    with traced_peak() as peak, path.open("wb") as out:
        for part in alice_client.get(zip_url(bucket, "big/")).streaming_content:
            out.write(part)
    assert peak.bytes < SERVICE_PEAK_LIMIT[TEST_STORAGE], f"peaked at {peak.mib:.1f} MiB"
    md5 = hashlib.md5()
    with zipfile.ZipFile(path) as archive, archive.open("blob.bin") as entry:
        while chunk := entry.read(MiB):
            md5.update(chunk)
    assert md5.digest() == source.md5.digest()


def test_another_users_folder_is_a_404(charlie_client, bucket):
    put(bucket, "docs/a.txt", b"alpha")
    assert charlie_client.get(zip_url(bucket, "docs/")).status_code == 404


def test_a_folder_of_too_many_files_goes_back_with_the_reason(alice_client, bucket, settings):
    settings.OBJSTORE_ZIP_MAX_FILES = 3
    for i in range(4):
        put(bucket, f"top/many/{i}.txt", b"x")
    response = alice_client.get(zip_url(bucket, "top/many/"))
    assert response.status_code == 302
    assert response["Location"] == reverse("object_browser", args=[bucket.bucket_id]) + (
        "?prefix=top%2F"
    )
    page = alice_client.get(response["Location"]).content.decode()
    assert "holds more than 3 files, too many for one zip" in page
    # At the limit it zips.
    settings.OBJSTORE_ZIP_MAX_FILES = 4
    _, archive = fetch(alice_client, zip_url(bucket, "top/many/"))
    assert len(archive.namelist()) == 4
