"""The database layer under the services: hand-written row lookups and SQLite's writer queue."""

import fcntl
import os
import threading
from datetime import datetime

import pytest
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from buckets.models import ApiToken, Bucket
from buckets.services import bucket_create
from buckets.tokens import token_authenticate, token_authenticate_for_bucket, token_create
from objects import services
from objects.models import Object
from objstore_site.db import delete_row, get_row, insert_row
from objstore_site.sqlite.base import WriterQueue

from .conftest import put, read, stored_blobs

pytestmark = pytest.mark.django_db(transaction=True)


def _fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_get_row_builds_the_same_instance_as_the_orm(bucket):
    put(bucket, "a/b.json", b"{}")
    Object.objects.filter(name="a/b.json").update(metadata={"k": "v", "n": "1"}, component_count=2)
    fetched = get_row(Object, bucket_id=bucket.pk, name="a/b.json")
    expected = Object.objects.get(bucket=bucket, name="a/b.json")
    assert _fields(fetched) == _fields(expected)
    assert fetched.metadata == {"k": "v", "n": "1"} and isinstance(fetched.created, datetime)
    assert fetched.created.tzinfo is not None
    assert get_row(Bucket, bucket_id=bucket.bucket_id, owner_id=bucket.owner_id) == bucket
    # A saved fetched instance updates its row, as any model instance does.
    fetched.content_type = "text/plain"
    fetched.save(update_fields=["content_type"])
    assert Object.objects.get(pk=expected.pk).content_type == "text/plain"


@pytest.mark.parametrize(
    "metadata",
    [
        {},
        {"é/ü": '日本 \u2028 "quoted"', "empty": ""},
        # orjson would read integers past 64 bits as floats: these go the ORM's way.
        {"big": 2**70 + 1, "list": [1.5, None, True, -(2**63)]},
    ],
    ids=["empty", "unicode", "beyond-orjson"],
)
def test_get_row_reads_json_columns_as_the_orm_does(bucket, metadata):
    put(bucket, "j", b"1")
    Object.objects.filter(name="j").update(metadata=metadata)
    fetched = get_row(Object, bucket_id=bucket.pk, name="j").metadata
    expected = Object.objects.get(bucket=bucket, name="j").metadata
    assert fetched == expected == metadata
    assert repr(fetched) == repr(expected)  # ints stay ints


def test_get_row_misses_and_names_are_only_parameters(bucket, charlie):
    put(bucket, "x", b"1")
    assert get_row(Object, bucket_id=bucket.pk, name="y") is None
    assert get_row(Object, bucket_id=bucket.pk, name="x' OR '1'='1") is None
    assert get_row(Bucket, bucket_id=bucket.bucket_id, owner_id=charlie.pk) is None


def test_get_row_for_update_locks_the_row_inside_a_transaction_only(bucket):
    put(bucket, "locked", b"1")
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        row = get_row(Object, bucket_id=bucket.pk, name="locked", for_update=True)
        assert row is not None and row.name == "locked"
    select = next(q["sql"] for q in queries if q["sql"].startswith("SELECT"))
    # PostgreSQL locks the row; SQLite has no FOR UPDATE (its write transaction locks it all).
    assert select.endswith("FOR UPDATE") == (connection.vendor != "sqlite")
    with pytest.raises(TransactionManagementError):
        get_row(Object, bucket_id=bucket.pk, name="locked", for_update=True)


def test_token_lookup_needs_an_active_owner(alice):
    token, secret = token_create(owner=alice, name="ci")
    assert token_authenticate(secret) == token
    assert token_authenticate(secret + "x") is None
    alice.is_active = False
    alice.save()
    assert token_authenticate(secret) is None
    assert ApiToken.objects.filter(pk=token.pk).exists()  # refused, not deleted


def test_the_token_and_the_named_bucket_come_in_one_query(alice, bucket, charlie):
    token, secret = token_create(owner=alice, name="ci")
    token_authenticate(secret)  # marks it used, once a minute
    theirs = bucket_create(owner=charlie, name="theirs")
    with CaptureQueriesContext(connection) as queries:
        assert token_authenticate_for_bucket(secret, bucket.bucket_id) == (token, bucket)
    assert len(queries) == 1
    found = token_authenticate_for_bucket(secret, bucket.bucket_id)
    assert _fields(found[1]) == _fields(Bucket.objects.get(pk=bucket.pk))
    # Another user's bucket and a missing one look the same: the token, no bucket.
    assert token_authenticate_for_bucket(secret, theirs.bucket_id) == (token, None)
    assert token_authenticate_for_bucket(secret, "objstore-missing") == (token, None)
    assert token_authenticate_for_bucket(secret + "x", bucket.bucket_id) is None
    assert token_authenticate_for_bucket("", bucket.bucket_id) is None


sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="the writer queue is SQLite's"
)


@sqlite_only
def test_concurrent_write_transactions_all_commit(bucket, blob_dir, monkeypatch):
    """Eight writers whose write transactions certainly overlap all commit: in each round every
    writer has its blob written and waits for the other seven before it commits, so all eight
    want SQLite's write lock at once, and the writer queue takes them in turn instead of failing
    some with "database is locked"."""
    writers, rounds = 8, 10
    barrier = threading.Barrier(writers)
    real_commit = services.commit_blob
    met: list[int] = []

    def commit_together(*args, **kwargs):
        met.append(barrier.wait(timeout=60))
        return real_commit(*args, **kwargs)

    monkeypatch.setattr(services, "commit_blob", commit_together)
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        try:
            for round in range(rounds):
                put(bucket, f"w/{index}/{round}", f"writer {index} round {round}".encode())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            barrier.abort()  # the others stop waiting for this one
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert len(met) == writers * rounds  # every commit waited for the other seven
    stored = list(Object.objects.filter(bucket=bucket))
    assert sorted(obj.name for obj in stored) == sorted(
        f"w/{index}/{round}" for index in range(writers) for round in range(rounds)
    )
    for obj in stored:
        index, round = obj.name.split("/")[1:]
        assert read(obj) == f"writer {index} round {round}".encode()
    assert stored_blobs(blob_dir) == sorted(obj.blob_key for obj in stored)  # none orphaned


@sqlite_only
def test_a_write_transaction_holds_the_queue_until_it_ends(bucket):
    with transaction.atomic():
        queue = connection.writer_queue
        assert queue is not None and connection._holds_writer_lock
        # Another process (another open file) cannot take the flock meanwhile.
        other = os.open(queue.path, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other)
    assert not connection._holds_writer_lock
    with pytest.raises(RuntimeError), transaction.atomic():
        raise RuntimeError("rolled back")
    assert not connection._holds_writer_lock
    assert queue.acquire(timeout=0.1)
    queue.release()


@sqlite_only
def test_the_writer_queue_outlives_savepoints_and_is_freed_by_a_close(bucket):
    with transaction.atomic():
        queue = connection.writer_queue
        with pytest.raises(RuntimeError), transaction.atomic():  # a savepoint, rolled back
            put(bucket, "inner", b"1")
            raise RuntimeError
        assert connection._holds_writer_lock  # the outer transaction still writes
        assert not queue.acquire(timeout=0.05)
        connection.close()  # e.g. a worker shutting down mid-transaction
        assert not connection._holds_writer_lock
        assert queue.acquire(timeout=0.1)
        queue.release()
    connection.close()
    put(bucket, "after", b"2")
    assert list(Object.objects.values_list("name", flat=True)) == ["after"]


@sqlite_only
def test_a_writer_that_cannot_get_in_fails_with_database_is_locked(bucket, settings):
    with transaction.atomic():
        queue = connection.writer_queue
    other = os.open(queue.path, os.O_RDWR)
    fcntl.flock(other, fcntl.LOCK_EX)  # another process is writing, and keeps at it
    try:
        assert not queue.acquire(timeout=0.05)
        connection._writer_timeout = 0.05
        with pytest.raises(OperationalError, match="database is locked"):
            with transaction.atomic():
                Object.objects.filter(bucket=bucket).delete()
        assert not connection._holds_writer_lock
    finally:
        os.close(other)
        connection.close()
    with transaction.atomic():  # and once it is free again, writers go on
        assert connection.writer_queue is WriterQueue.for_database(connection.settings_dict["NAME"])
        put(bucket, "after", b"1")


def test_insert_row_and_delete_row_write_what_the_orm_reads(bucket):
    now = timezone.now()
    obj = Object(
        bucket=bucket,
        name="raw/insert.txt",
        size=3,
        content_type="text/plain",
        md5_hash="m",
        crc32c="c",
        generation=7,
        metageneration=1,
        metadata={"a": "b"},
        blob_key="k",
        created=now,
        updated=now,
    )
    insert_row(obj)
    assert obj.pk is not None and not obj._state.adding
    stored = Object.objects.get(pk=obj.pk)
    assert _fields(stored) == _fields(obj)
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_row(Object(bucket=bucket, name="raw/insert.txt", created=now, updated=now))
    assert delete_row(Object, obj.pk) == 1
    assert delete_row(Object, obj.pk) == 0
    assert not Object.objects.filter(pk=obj.pk).exists()
