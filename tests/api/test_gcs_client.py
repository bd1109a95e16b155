"""google-cloud-storage (Python), unmodified, against objstore."""

import io
import os

import pytest
from google.api_core import exceptions
from google.resumable_media.requests import ResumableUpload

from objects import services
from objects.models import Object

from ..conftest import put, read


@pytest.fixture
def gbucket(gcs, bucket):
    return gcs.bucket(bucket.bucket_id)


# ---- buckets ----------------------------------------------------------------------------------


def test_list_get_create_patch_and_delete_buckets(gcs, bucket, charlie):
    from buckets.services import bucket_create

    bucket_create(owner=charlie, name="charlies")
    assert [b.name for b in gcs.list_buckets()] == [bucket.bucket_id]
    assert gcs.get_bucket(bucket.bucket_id).name == bucket.bucket_id

    created = gcs.create_bucket("my-api-bucket")
    assert created.name == "my-api-bucket"
    created.labels = {"team": "data"}
    created.patch()
    fetched = gcs.get_bucket("my-api-bucket")
    assert fetched.labels == {"team": "data"} and fetched.metageneration == 2
    with pytest.raises(exceptions.Conflict, match="you already own it"):
        gcs.create_bucket("my-api-bucket")

    gcs.bucket("my-api-bucket").blob("x").upload_from_string(b"x")
    with pytest.raises(exceptions.Conflict, match="not empty"):
        gcs.bucket("my-api-bucket").delete()
    gcs.bucket("my-api-bucket").blob("x").delete()
    gcs.bucket("my-api-bucket").delete()
    with pytest.raises(exceptions.NotFound, match="The specified bucket does not exist."):
        gcs.get_bucket("my-api-bucket")


def test_bucket_names_follow_gcs_rules(gcs):
    with pytest.raises(exceptions.BadRequest):
        gcs.create_bucket("Has_Uppercase")


def test_another_users_bucket_is_missing(gcs, charlie):
    from buckets.services import bucket_create

    theirs = bucket_create(owner=charlie, name="theirs")
    put(theirs, "secret.txt", b"secret")
    with pytest.raises(exceptions.NotFound, match="The specified bucket does not exist."):
        gcs.get_bucket(theirs.bucket_id)
    with pytest.raises(exceptions.NotFound, match="The specified bucket does not exist."):
        gcs.bucket(theirs.bucket_id).blob("secret.txt").download_as_bytes()
    with pytest.raises(exceptions.Conflict, match="not available"):
        gcs.create_bucket(theirs.bucket_id)


# ---- uploads and downloads ---------------------------------------------------------------------


def test_multipart_upload_round_trips_and_shows_in_the_pane(gbucket, bucket):
    blob = gbucket.blob("docs/hello.txt")
    blob.upload_from_string(b"hello", content_type="text/plain")
    assert (blob.size, blob.md5_hash, blob.crc32c) == (5, "XUFAKrxLKna5cZ2REBfFkg==", "mnG7TA==")
    assert read(services.object_get(bucket=bucket, name="docs/hello.txt")) == b"hello"
    assert gbucket.blob("docs/hello.txt").download_as_bytes() == b"hello"


def test_what_the_pane_uploads_the_client_reads(gbucket, bucket):
    put(bucket, "from-pane.bin", b"\x00\x01\x02")
    assert gbucket.blob("from-pane.bin").download_as_bytes() == b"\x00\x01\x02"


def test_resumable_upload_in_several_chunks(gbucket, bucket):
    data = os.urandom(3 * 1024 * 1024 + 123)
    blob = gbucket.blob("big/chunked.bin", chunk_size=1024 * 1024)
    blob.upload_from_file(io.BytesIO(data), size=len(data), content_type="application/x-test")
    obj = services.object_get(bucket=bucket, name="big/chunked.bin")
    assert (obj.size, obj.content_type) == (len(data), "application/x-test")
    assert read(obj) == data
    assert gbucket.blob("big/chunked.bin").download_as_bytes() == data  # md5 checked by the client


def test_resumable_upload_of_unknown_size(gbucket):
    data = os.urandom(600 * 1024)
    blob = gbucket.blob("stream.bin", chunk_size=256 * 1024)
    blob.upload_from_file(io.BytesIO(data))  # no size: the client ends with "bytes a-b/N" late
    assert gbucket.blob("stream.bin").download_as_bytes() == data


def test_an_interrupted_resumable_upload_resumes_from_its_status(gcs, gbucket, bucket, server):
    data = os.urandom(5 * 256 * 1024 + 7)
    url = gbucket.blob("resumed.bin").create_resumable_upload_session(size=len(data))
    upload = ResumableUpload(url, chunk_size=256 * 1024)
    upload._resumable_url = url
    upload._total_bytes = len(data)
    upload._stream = stream = io.BytesIO(data)
    transport = gcs._http
    upload.transmit_next_chunk(transport)
    upload.transmit_next_chunk(transport)
    assert upload.bytes_uploaded == 512 * 1024
    # The connection is lost: the client marks the upload invalid and asks the server where it is.
    upload._make_invalid()
    stream.seek(100)
    upload.recover(transport)
    assert upload.bytes_uploaded == 512 * 1024 and stream.tell() == 512 * 1024
    while not upload.finished:
        upload.transmit_next_chunk(transport)
    assert read(services.object_get(bucket=bucket, name="resumed.bin")) == data


def test_whole_and_ranged_downloads(gbucket):
    data = bytes(range(256)) * 4096
    gbucket.blob("r.bin").upload_from_string(data)
    blob = gbucket.blob("r.bin")
    assert blob.download_as_bytes() == data
    assert blob.download_as_bytes(start=10, end=19) == data[10:20]
    assert blob.download_as_bytes(start=len(data) - 5) == data[-5:]
    out = io.BytesIO()
    blob.download_to_file(out, raw_download=True)
    assert out.getvalue() == data


@pytest.mark.parametrize(
    "name",
    [
        "with space.txt",
        "plus+sign",
        "question?mark",
        "hash#tag",
        "per%cent",
        "double//slash",
        "ünïcødé/日本語 😀",
        "a/copyTo/b/x/o/y",
        "x/compose",
        "../../etc/passwd",
        "trailing/",
    ],
)
def test_names_round_trip_exactly(gbucket, bucket, name):
    gbucket.blob(name).upload_from_string(name.encode())
    assert gbucket.blob(name).download_as_bytes() == name.encode()
    assert services.object_get(bucket=bucket, name=name).name == name
    assert [b.name for b in gbucket.list_blobs()] == [name]
    gbucket.copy_blob(gbucket.blob(name), gbucket, name + ".copy")
    assert gbucket.blob(name + ".copy").download_as_bytes() == name.encode()
    gbucket.blob(name).delete()
    assert [b.name for b in gbucket.list_blobs()] == [name + ".copy"]


# ---- metadata ---------------------------------------------------------------------------------


def test_metadata_get_and_patch_merge_and_bump_metageneration(gbucket):
    blob = gbucket.blob("m.txt")
    blob.metadata = {"a": "1"}
    blob.upload_from_string(b"x")
    fetched = gbucket.get_blob("m.txt")
    assert fetched.metadata == {"a": "1"} and fetched.metageneration == 1
    fetched.metadata = {"b": "2"}
    fetched.patch()
    assert fetched.metadata == {"a": "1", "b": "2"} and fetched.metageneration == 2
    fetched.metadata = {"a": None}
    fetched.content_type = "text/csv"
    fetched.cache_control = "no-store"
    fetched.patch()
    again = gbucket.get_blob("m.txt")
    assert again.metadata == {"b": "2"} and again.metageneration == 3
    assert (again.content_type, again.cache_control) == ("text/csv", "no-store")
    assert again.generation == fetched.generation
    assert gbucket.get_blob("missing") is None


# ---- listing ----------------------------------------------------------------------------------


@pytest.fixture
def tree(bucket):
    names = [
        "a.txt",
        "b.json",
        "docs/1.txt",
        "docs/2.json",
        "docs/deep/3.txt",
        "photos/2024/x.png",
        "photos/2024-old/y.png",
        "z",
    ]
    for name in names:
        put(bucket, name)
    return names


def test_list_with_prefix_delimiter_glob_and_offsets(gcs, bucket, tree):
    def names(**kw):
        return [b.name for b in gcs.list_blobs(bucket.bucket_id, **kw)]

    assert names() == sorted(tree)
    assert names(prefix="docs/") == ["docs/1.txt", "docs/2.json", "docs/deep/3.txt"]
    listing = gcs.list_blobs(bucket.bucket_id, prefix="docs/", delimiter="/")
    assert [b.name for b in listing] == ["docs/1.txt", "docs/2.json"]
    assert listing.prefixes == {"docs/deep/"}
    top = gcs.list_blobs(bucket.bucket_id, delimiter="/")
    assert [b.name for b in top] == ["a.txt", "b.json", "z"] and top.prefixes == {
        "docs/",
        "photos/",
    }
    assert names(match_glob="**.json") == ["b.json", "docs/2.json"]
    assert names(match_glob="*.txt") == ["a.txt"]
    assert names(match_glob="docs/**/*.txt") == ["docs/1.txt", "docs/deep/3.txt"]
    assert names(start_offset="b", end_offset="photos") == [
        "b.json",
        "docs/1.txt",
        "docs/2.json",
        "docs/deep/3.txt",
    ]


def test_list_pages_with_max_results_and_page_tokens(gcs, bucket, tree):
    pages = gcs.list_blobs(bucket.bucket_id, page_size=3).pages
    seen = [[b.name for b in page] for page in pages]
    assert [len(page) for page in seen] == [3, 3, 2]
    assert sum(seen, []) == sorted(tree)
    assert [b.name for b in gcs.list_blobs(bucket.bucket_id, max_results=2)] == sorted(tree)[:2]


# ---- copy, rewrite, compose, delete -----------------------------------------------------------


def test_copy_and_rewrite_keep_bytes_and_metadata(gbucket, gcs, bucket, other_bucket):
    source = gbucket.blob("src.txt")
    source.metadata = {"k": "v"}
    source.upload_from_string(b"payload", content_type="text/plain")
    copied = gbucket.copy_blob(source, gcs.bucket(other_bucket.bucket_id), "dst.txt")
    assert (copied.bucket.name, copied.name, copied.size) == (other_bucket.bucket_id, "dst.txt", 7)
    assert copied.metadata == {"k": "v"} and copied.content_type == "text/plain"
    assert read(services.object_get(bucket=other_bucket, name="dst.txt")) == b"payload"

    target = gbucket.blob("rewritten.txt")
    token, written, total = target.rewrite(gbucket.blob("src.txt"))
    assert (token, written, total) == (None, 7, 7)
    assert gbucket.blob("rewritten.txt").download_as_bytes() == b"payload"


def test_compose_concatenates_and_reports_components(gbucket):
    for index, part in enumerate([b"one,", b"two,", b"three"]):
        gbucket.blob(f"part{index}").upload_from_string(part)
    destination = gbucket.blob("whole.txt")
    destination.content_type = "text/plain"
    destination.compose([gbucket.blob("part0"), gbucket.blob("part1"), gbucket.blob("part2")])
    fetched = gbucket.get_blob("whole.txt")
    assert fetched.component_count == 3 and fetched.md5_hash is None and fetched.crc32c
    assert fetched.content_type == "text/plain"
    assert fetched.download_as_bytes() == b"one,two,three"
    with pytest.raises(exceptions.BadRequest, match="exceeds"):
        destination.compose([gbucket.blob("part0")] * 33)


def test_delete(gbucket, bucket):
    gbucket.blob("gone.txt").upload_from_string(b"x")
    gbucket.blob("gone.txt").delete()
    assert not Object.objects.filter(bucket=bucket).exists()
    with pytest.raises(exceptions.NotFound, match="No such object"):
        gbucket.blob("gone.txt").delete()


# ---- preconditions ----------------------------------------------------------------------------


def test_if_generation_match_zero_creates_only(gbucket):
    gbucket.blob("once").upload_from_string(b"1", if_generation_match=0)
    with pytest.raises(exceptions.PreconditionFailed):
        gbucket.blob("once").upload_from_string(b"2", if_generation_match=0)
    assert gbucket.blob("once").download_as_bytes() == b"1"


def test_generation_preconditions_on_write_read_and_delete(gbucket):
    blob = gbucket.blob("g")
    blob.upload_from_string(b"v1")
    generation = blob.generation
    with pytest.raises(exceptions.PreconditionFailed):
        gbucket.blob("g").upload_from_string(b"v2", if_generation_match=generation + 1)
    gbucket.blob("g").upload_from_string(b"v2", if_generation_match=generation)
    with pytest.raises(exceptions.PreconditionFailed):
        gbucket.blob("g").upload_from_string(
            b"v3", if_generation_not_match=gbucket.get_blob("g").generation
        )
    with pytest.raises(exceptions.NotModified):
        gbucket.blob("g").download_as_bytes(
            if_generation_not_match=gbucket.get_blob("g").generation
        )
    with pytest.raises(exceptions.PreconditionFailed):
        gbucket.blob("g").download_as_bytes(if_generation_match=generation)
    with pytest.raises(exceptions.PreconditionFailed):
        gbucket.blob("g").delete(if_generation_match=generation)
    assert gbucket.blob("g").download_as_bytes() == b"v2"
    with pytest.raises(exceptions.NotFound):  # that generation is gone
        gbucket.blob("g", generation=generation).download_as_bytes()


def test_metageneration_preconditions(gbucket):
    blob = gbucket.blob("mg")
    blob.upload_from_string(b"x")
    blob.metadata = {"a": "b"}
    with pytest.raises(exceptions.PreconditionFailed):
        blob.patch(if_metageneration_match=2)
    blob.patch(if_metageneration_match=1)
    with pytest.raises(exceptions.PreconditionFailed):
        blob.patch(if_metageneration_not_match=2)
    with pytest.raises(exceptions.NotModified):
        gbucket.blob("mg").reload(if_metageneration_not_match=2)
    assert gbucket.get_blob("mg").metageneration == 2


def test_source_preconditions_on_copy(gbucket):
    source = gbucket.blob("s")
    source.upload_from_string(b"x")
    with pytest.raises(exceptions.PreconditionFailed):
        gbucket.copy_blob(source, gbucket, "d", if_source_generation_match=source.generation + 1)
    with pytest.raises(exceptions.PreconditionFailed):
        gbucket.copy_blob(source, gbucket, "s", if_generation_match=0)
    gbucket.copy_blob(
        source, gbucket, "d", if_source_generation_match=source.generation, if_generation_match=0
    )
    assert gbucket.blob("d").download_as_bytes() == b"x"
