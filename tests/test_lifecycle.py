"""Lifecycle rules: validation as GCS validates them, their plain-English description, the runner
(objects.lifecycle.run) and the objstore_lifecycle command."""

import io
import json
import os
import signal
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from django.utils import timezone
from google.cloud.storage.bucket import (
    LifecycleRuleAbortIncompleteMultipartUpload,
    LifecycleRuleDelete,
    LifecycleRuleSetStorageClass,
)

from buckets.models import Bucket
from buckets.services import bucket_update_settings
from objects import lifecycle, services, uploads
from objects.lifecycle import InvalidLifecycle, describe_rule, validate_rules
from objects.models import Object, ObjectVersion, UploadSession
from objects.services import ObjectAttributes, Preconditions

from .conftest import put, read, stored_blobs

# Blobs are deleted after commit: real transactions, so that those hooks fire.
pytestmark = pytest.mark.django_db(transaction=True)

DAY = timedelta(days=1)


def delete(condition: dict) -> dict:
    return {"action": {"type": "Delete"}, "condition": condition}


def configure(
    bucket: Bucket, *rules: dict, versioning: bool = False, soft_delete: int = 0
) -> Bucket:
    bucket_update_settings(
        bucket=bucket,
        versioning=versioning,
        soft_delete_seconds=soft_delete,
        lifecycle_rules=validate_rules(list(rules)),
    )
    bucket.refresh_from_db()  # the caller's instance is the one its deletes go through
    return bucket


def live_names(bucket: Bucket) -> list[str]:
    return list(
        Object.objects.filter(bucket=bucket).order_by("name").values_list("name", flat=True)
    )


def versions(bucket: Bucket, name: str) -> list[tuple[int, str]]:
    """(generation, state) of every non-live generation of ``name``, newest first."""
    return list(
        ObjectVersion.objects.filter(bucket=bucket, name=name)
        .order_by("-generation")
        .values_list("generation", "state")
    )


def put_generations(bucket: Bucket, name: str, count: int) -> list[Object]:
    return [put(bucket, name, f"{name} v{i}".encode()) for i in range(count)]


def run_one(bucket: Bucket, **kwargs) -> lifecycle.BucketResult:
    report = lifecycle.run(buckets=[bucket], **kwargs)
    assert len(report.buckets) == 1
    return report.buckets[0]


# ---- validation -------------------------------------------------------------------------------

EVERY_CONDITION = [
    delete({"age": 30, "matchesPrefix": ["logs/", "tmp/"], "matchesSuffix": [".log"]}),
    delete({"createdBefore": "2024-02-29", "isLive": True}),
    delete({"customTimeBefore": "2024-01-01", "daysSinceCustomTime": 0}),
    delete({"daysSinceNoncurrentTime": 7, "noncurrentTimeBefore": "2023-12-31"}),
    delete({"isLive": False, "numNewerVersions": 3, "matchesStorageClass": ["STANDARD"]}),
    {"action": {"type": "SetStorageClass", "storageClass": "NEARLINE"}, "condition": {"age": 1}},
    {"action": {"type": "AbortIncompleteMultipartUpload"}, "condition": {"age": 7}},
]


def test_no_lifecycle_is_no_rules():
    assert validate_rules(None) == []
    assert validate_rules([]) == []


def test_every_action_and_condition_is_accepted_and_returned_exactly_as_sent():
    sent = json.loads(json.dumps(EVERY_CONDITION))
    assert validate_rules(sent) is sent
    assert json.dumps(validate_rules(sent)) == json.dumps(EVERY_CONDITION)


def test_rules_built_by_the_python_client_are_accepted_unchanged():
    rules = [
        LifecycleRuleDelete(age=30, matches_prefix=["logs/"], matches_suffix=[".gz"]),
        LifecycleRuleDelete(is_live=False, number_of_newer_versions=3),
        LifecycleRuleDelete(days_since_noncurrent_time=7, noncurrent_time_before=date(2024, 1, 2)),
        LifecycleRuleDelete(created_before=date(2024, 1, 1), matches_storage_class=["STANDARD"]),
        LifecycleRuleDelete(custom_time_before=date(2024, 5, 1), days_since_custom_time=2),
        LifecycleRuleSetStorageClass("COLDLINE", age=365),
        LifecycleRuleAbortIncompleteMultipartUpload(age=7),
    ]
    # What the client puts on the wire (bucket.lifecycle_rules = ...; bucket.patch()).
    sent = json.loads(json.dumps({"rule": [dict(rule) for rule in rules]}))["rule"]
    assert validate_rules(sent) == [dict(rule) for rule in rules]


def test_rules_round_trip_through_the_bucket(bucket):
    configure(bucket, *EVERY_CONDITION)
    bucket.refresh_from_db()
    # Equal as JSON values (PostgreSQL's jsonb keeps no key order; list order is kept).
    assert bucket.lifecycle_rules == EVERY_CONDITION


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"rule": []}, "lifecycle.rule must be a list"),
        (["Delete"], "lifecycle.rule[0] must be an object"),
        ([{"condition": {"age": 1}}], 'lifecycle.rule[0].action must be an object with a "type"'),
        ([{"action": {"type": "Archive"}, "condition": {"age": 1}}], "action.type 'Archive'"),
        ([{"action": {"type": "Delete", "x": 1}, "condition": {"age": 1}}], "unknown field 'x'"),
        ([{"action": {"type": "Delete"}}], "rule[0].condition must be an object with at least"),
        ([delete({})], "at least one condition"),
        ([delete({"age": 1}), delete({"ageDays": 1})], "rule[1].condition has an unknown"),
        ([{**delete({"age": 1}), "extra": True}], "rule[0] has an unknown field 'extra'"),
        ([delete({"age": -1})], "rule[0].condition.age must be a whole number of days"),
        ([delete({"age": "30"})], "condition.age must be a whole number"),
        ([delete({"age": 1.5})], "condition.age must be a whole number"),
        ([delete({"age": True})], "condition.age must be a whole number"),
        ([delete({"age": 2**31})], "condition.age must be a whole number"),
        ([delete({"numNewerVersions": -2})], "numNewerVersions must be a whole number of versions"),
        ([delete({"daysSinceCustomTime": None})], "daysSinceCustomTime must be a whole number"),
        ([delete({"createdBefore": "2024-13-01"})], "createdBefore must be a date such as"),
        ([delete({"createdBefore": "2024-01-01T00:00:00Z"})], "createdBefore must be a date"),
        ([delete({"customTimeBefore": 20240101})], "customTimeBefore must be a date"),
        ([delete({"noncurrentTimeBefore": "1/2/2024"})], "noncurrentTimeBefore must be a date"),
        ([delete({"isLive": "true"})], "isLive must be true or false"),
        ([delete({"matchesPrefix": "logs/"})], "matchesPrefix must be a list of 1 to"),
        ([delete({"matchesPrefix": []})], "matchesPrefix must be a list of 1 to"),
        ([delete({"matchesSuffix": [7]})], "matchesSuffix holds 7"),
        ([delete({"matchesSuffix": ["a\x00"]})], "without NUL"),
        ([delete({"matchesStorageClass": ["FAST"]})], "unknown storage class 'FAST'"),
        (
            [{"action": {"type": "SetStorageClass"}, "condition": {"age": 1}}],
            "action.storageClass must be one of",
        ),
        (
            [{"action": {"type": "AbortIncompleteMultipartUpload"}, "condition": {"isLive": True}}],
            "condition.isLive cannot be used with AbortIncompleteMultipartUpload",
        ),
        ([delete({"age": 1})] * 101, "at most 100"),
    ],
)
def test_invalid_rules_are_refused_naming_the_rule_and_field(rules, message):
    with pytest.raises(InvalidLifecycle) as caught:
        validate_rules(rules)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_hundred_rules_are_allowed():
    assert len(validate_rules([delete({"age": 1})] * 100)) == 100


# ---- plain English ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        (
            delete({"age": 30, "matchesPrefix": ["logs/"]}),
            'Delete files under "logs/" 30 days after they are created',
        ),
        (delete({"age": 1}), "Delete files 1 day after they are created"),
        (
            delete({"age": 0, "matchesSuffix": [".tmp", ".bak", "~"]}),
            'Delete files ending in ".tmp", ".bak" or "~" whatever their age',
        ),
        (
            delete({"isLive": False, "numNewerVersions": 3}),
            "Delete old versions when 3 newer versions exist (the newest 3 versions are kept)",
        ),
        (delete({"numNewerVersions": 1}), "Delete old versions once a newer version exists"),
        (delete({"numNewerVersions": 0}), "Delete old versions"),
        (
            {
                "action": {"type": "AbortIncompleteMultipartUpload"},
                "condition": {"age": 0, "matchesSuffix": [".iso"]},
            },
            'Abort unfinished uploads ending in ".iso" whatever their age',
        ),
        (
            delete({"isLive": False, "matchesPrefix": ["a/", "b/"], "createdBefore": "2024-01-01"}),
            'Delete old versions under "a/" or "b/" created before 2024-01-01',
        ),
        (
            delete({"daysSinceNoncurrentTime": 7}),
            "Delete old versions 7 days after they become old versions",
        ),
        (delete({"isLive": True, "age": 90}), "Delete live files 90 days after they are created"),
        (delete({"createdBefore": "2024-01-01"}), "Delete files created before 2024-01-01"),
        (
            delete({"age": 7, "createdBefore": "2024-01-01"}),
            "Delete files created before 2024-01-01, 7 days after they are created",
        ),
        (
            delete({"daysSinceCustomTime": 2, "customTimeBefore": "2025-06-01"}),
            "Delete files with a custom time before 2025-06-01, 2 days after their custom time",
        ),
        (
            delete({"noncurrentTimeBefore": "2024-03-01"}),
            "Delete old versions replaced before 2024-03-01",
        ),
        (
            {"action": {"type": "AbortIncompleteMultipartUpload"}, "condition": {"age": 7}},
            "Abort unfinished uploads after 7 days",
        ),
        (
            {
                "action": {"type": "SetStorageClass", "storageClass": "NEARLINE"},
                "condition": {"age": 30, "matchesStorageClass": ["STANDARD"]},
            },
            "Move files of storage class STANDARD to NEARLINE 30 days after they are created "
            "(no effect in objstore: one storage class)",
        ),
    ],
)
def test_rules_read_as_plain_english(rule, text):
    assert describe_rule(rule) == text


# ---- the runner: live objects -----------------------------------------------------------------


def test_age_and_prefix_delete_old_files_under_the_prefix(bucket, blob_dir):
    configure(bucket, delete({"age": 30, "matchesPrefix": ["logs/"]}))
    old_logs = [put(bucket, "logs/a.txt", b"aaaa"), put(bucket, "logs/b/c.txt", b"bb")]
    kept = [put(bucket, "logs-old/x", b"x"), put(bucket, "data/logs/y", b"y")]
    now = timezone.now()

    result = run_one(bucket, now=now + 29 * DAY)
    assert result.live_deleted == 0
    assert len(live_names(bucket)) == 4

    result = run_one(bucket, now=now + 30 * DAY + timedelta(seconds=1))
    assert (result.live_deleted, result.bytes) == (2, 6)
    assert live_names(bucket) == ["data/logs/y", "logs-old/x"]
    # Soft delete off, versioning off: the bytes are gone too.
    assert stored_blobs(blob_dir) == sorted(obj.blob_key for obj in kept)
    assert not ObjectVersion.objects.filter(bucket=bucket).exists()
    assert all(not (blob_dir / obj.blob_key).exists() for obj in old_logs)


def test_age_zero_matches_everything(bucket):
    configure(bucket, delete({"age": 0}))
    put(bucket, "a")
    put(bucket, "b/c")
    assert run_one(bucket).live_deleted == 2
    assert live_names(bucket) == []


def test_suffix_matches_exactly_and_case_sensitively(bucket):
    configure(bucket, delete({"age": 0, "matchesSuffix": [".tmp", "~"]}))
    for name in ["a.tmp", "b.TMP", "c.tmpx", "dir/d.tmp", "e~", "f_tmp", "g%tmp"]:
        put(bucket, name)
    assert run_one(bucket).live_deleted == 3
    assert live_names(bucket) == ["b.TMP", "c.tmpx", "f_tmp", "g%tmp"]


def test_created_before_is_midnight_utc_of_that_date(bucket):
    configure(bucket, delete({"createdBefore": "2021-01-01"}))
    for name in ["old", "midnight", "new"]:
        put(bucket, name)
    Object.objects.filter(name="old").update(created=datetime(2020, 12, 31, 23, 59, tzinfo=UTC))
    Object.objects.filter(name="midnight").update(created=datetime(2021, 1, 1, tzinfo=UTC))
    assert run_one(bucket).live_deleted == 1
    assert live_names(bucket) == ["midnight", "new"]


def test_custom_time_conditions_need_a_custom_time(bucket):
    configure(
        bucket,
        delete({"daysSinceCustomTime": 7, "matchesPrefix": ["a/"]}),
        delete({"customTimeBefore": "2024-01-01", "matchesPrefix": ["b/"]}),
    )
    now = timezone.now()
    put(bucket, "a/none")
    for name, custom in [
        ("a/recent", now - 6 * DAY),
        ("a/due", now - 7 * DAY),
        ("b/before", datetime(2023, 12, 31, 12, tzinfo=UTC)),
        ("b/on", datetime(2024, 1, 1, tzinfo=UTC)),
    ]:
        put(bucket, name)
        services.object_patch(bucket=bucket, name=name, changes={"custom_time": custom})
    put(bucket, "b/none")
    assert run_one(bucket, now=now).live_deleted == 2
    assert live_names(bucket) == ["a/none", "a/recent", "b/none", "b/on"]


def test_storage_class_condition_matches_only_standard(bucket):
    configure(
        bucket,
        delete({"age": 0, "matchesStorageClass": ["NEARLINE"], "matchesPrefix": ["n/"]}),
        delete({"age": 0, "matchesStorageClass": ["STANDARD"], "matchesPrefix": ["s/"]}),
    )
    put(bucket, "n/1")
    put(bucket, "s/1")
    assert run_one(bucket).live_deleted == 1
    assert live_names(bucket) == ["n/1"]


def test_set_storage_class_changes_nothing(bucket):
    configure(
        bucket,
        {"action": {"type": "SetStorageClass", "storageClass": "ARCHIVE"}, "condition": {"age": 0}},
    )
    obj = put(bucket, "a", b"abc")
    result = run_one(bucket)
    assert (result.live_deleted, result.examined) == (0, 0)
    assert read(services.object_get(bucket=bucket, name="a")) == b"abc"
    assert services.object_get(bucket=bucket, name="a").generation == obj.generation


def test_deleting_by_rule_in_a_soft_delete_bucket_keeps_a_soft_deleted_version(bucket, blob_dir):
    configure(bucket, delete({"age": 30}), soft_delete=7 * 24 * 3600)
    obj = put(bucket, "report.pdf", b"pdf")
    now = timezone.now()

    # A clock 40 days on: the pass purges first, so what it soft-deletes keeps its retention.
    result = run_one(bucket, now=now + 40 * DAY)
    assert (result.live_deleted, result.purged) == (1, 0)
    assert live_names(bucket) == []
    assert versions(bucket, "report.pdf") == [(obj.generation, ObjectVersion.SOFT_DELETED)]
    assert stored_blobs(blob_dir) == [obj.blob_key]
    restored = services.object_restore(bucket=bucket, name="report.pdf", generation=obj.generation)
    assert read(restored) == b"pdf"


def test_expired_soft_deleted_versions_are_purged_with_their_blobs(bucket, other_bucket, blob_dir):
    bucket = bucket_update_settings(bucket=bucket, soft_delete_seconds=24 * 3600)
    gone = put(bucket, "gone", b"12345")
    services.object_delete(bucket=bucket, name="gone")
    young = put(other_bucket, "young")
    other_bucket = bucket_update_settings(bucket=other_bucket, soft_delete_seconds=10 * 24 * 3600)
    services.object_delete(bucket=other_bucket, name="young")
    now = timezone.now()

    assert lifecycle.run(now=now + DAY / 2).buckets == []  # nothing due, no rules anywhere
    report = lifecycle.run(now=now + 2 * DAY)  # every bucket that has something due
    assert [(r.bucket_id, r.purged, r.bytes) for r in report.buckets] == [(bucket.bucket_id, 1, 5)]
    assert not ObjectVersion.objects.filter(bucket=bucket).exists()
    assert stored_blobs(blob_dir) == [young.blob_key]
    assert gone.blob_key not in stored_blobs(blob_dir)
    assert versions(other_bucket, "young") == [(young.generation, ObjectVersion.SOFT_DELETED)]


# ---- the runner: versions ---------------------------------------------------------------------


def test_is_live_picks_live_objects_or_old_versions(bucket, other_bucket):
    configure(bucket, delete({"age": 0, "isLive": False}), versioning=True)
    first, second = put_generations(bucket, "doc", 2)
    result = run_one(bucket)
    assert (result.live_deleted, result.noncurrent_deleted) == (0, 1)
    assert services.object_get(bucket=bucket, name="doc").generation == second.generation
    assert versions(bucket, "doc") == []

    configure(other_bucket, delete({"age": 0, "isLive": True}), versioning=True)
    first, second = put_generations(other_bucket, "doc", 2)
    result = run_one(other_bucket)
    assert (result.live_deleted, result.noncurrent_deleted) == (1, 0)
    assert live_names(other_bucket) == []
    assert versions(other_bucket, "doc") == [
        (second.generation, ObjectVersion.NONCURRENT),
        (first.generation, ObjectVersion.NONCURRENT),
    ]


def test_a_rule_without_is_live_deletes_each_generation_once_per_pass(bucket, blob_dir):
    configure(bucket, delete({"age": 0}), versioning=True)
    first, second = put_generations(bucket, "doc", 2)
    result = run_one(bucket)
    # The old version went; the live one became noncurrent and waits for the next pass.
    assert (result.live_deleted, result.noncurrent_deleted) == (1, 1)
    assert versions(bucket, "doc") == [(second.generation, ObjectVersion.NONCURRENT)]
    assert stored_blobs(blob_dir) == [second.blob_key]
    result = run_one(bucket)
    assert (result.live_deleted, result.noncurrent_deleted) == (0, 1)
    assert versions(bucket, "doc") == [] and stored_blobs(blob_dir) == []


def test_days_since_noncurrent_time_counts_from_when_a_version_was_replaced(bucket):
    configure(bucket, delete({"daysSinceNoncurrentTime": 7}), versioning=True)
    first = put(bucket, "doc", b"one")
    # Created long ago: only the noncurrent time counts.
    Object.objects.filter(name="doc").update(created=timezone.now() - 100 * DAY)
    put(bucket, "doc", b"two")
    put(bucket, "single")
    now = timezone.now()
    assert run_one(bucket, now=now + 6 * DAY).noncurrent_deleted == 0
    result = run_one(bucket, now=now + 7 * DAY + timedelta(seconds=1))
    assert (result.live_deleted, result.noncurrent_deleted, result.bytes) == (0, 1, 3)
    assert versions(bucket, "doc") == []
    assert live_names(bucket) == ["doc", "single"]
    assert first.generation < services.object_get(bucket=bucket, name="doc").generation


def test_noncurrent_time_before_is_midnight_utc(bucket):
    configure(bucket, delete({"noncurrentTimeBefore": "2024-06-01"}), versioning=True)
    put_generations(bucket, "a", 2)
    put_generations(bucket, "b", 2)
    ObjectVersion.objects.filter(name="a").update(time_deleted=datetime(2024, 5, 31, tzinfo=UTC))
    ObjectVersion.objects.filter(name="b").update(time_deleted=datetime(2024, 6, 1, tzinfo=UTC))
    assert run_one(bucket).noncurrent_deleted == 1
    assert versions(bucket, "a") == [] and len(versions(bucket, "b")) == 1


@pytest.mark.parametrize("batch", [1000, 2, 3])
def test_num_newer_versions_keeps_the_newest_generations(bucket, monkeypatch, batch):
    # Small batches: a name's generations are split across batches and still counted right.
    monkeypatch.setattr(lifecycle, "BATCH", batch)
    configure(bucket, delete({"numNewerVersions": 2}), versioning=True)
    doc = put_generations(bucket, "doc", 5)  # live #5, noncurrent #4 .. #1
    pair = put_generations(bucket, "pair", 2)  # live, one noncurrent: kept
    gone = put_generations(bucket, "gone", 3)
    services.object_delete(bucket=bucket, name="gone")  # noncurrent #3, #2, #1; no live one

    result = run_one(bucket)
    assert (result.live_deleted, result.noncurrent_deleted) == (0, 4)
    assert versions(bucket, "doc") == [(doc[3].generation, ObjectVersion.NONCURRENT)]
    assert versions(bucket, "pair") == [(pair[0].generation, ObjectVersion.NONCURRENT)]
    assert [g for g, _ in versions(bucket, "gone")] == [gone[2].generation, gone[1].generation]
    assert live_names(bucket) == ["doc", "pair"]
    assert run_one(bucket).noncurrent_deleted == 0  # nothing more until a new write


def test_soft_deleted_versions_never_count_as_newer(bucket):
    configure(bucket, delete({"numNewerVersions": 2}), versioning=True, soft_delete=7 * 24 * 3600)
    doc = put_generations(bucket, "doc", 4)  # live #4, noncurrent #3, #2, #1
    services.object_delete(bucket=bucket, name="doc", generation=doc[2].generation)
    assert versions(bucket, "doc")[0] == (doc[2].generation, ObjectVersion.SOFT_DELETED)

    # #2 has one newer generation that counts (the live one); #1 has two.
    assert run_one(bucket).noncurrent_deleted == 1
    assert versions(bucket, "doc") == [
        (doc[2].generation, ObjectVersion.SOFT_DELETED),
        (doc[1].generation, ObjectVersion.NONCURRENT),
        (doc[0].generation, ObjectVersion.SOFT_DELETED),  # the bucket keeps deleted data
    ]


def test_any_matching_rule_deletes_and_prefixes_bound_the_count(bucket):
    configure(
        bucket,
        delete({"numNewerVersions": 1, "matchesPrefix": ["one/"]}),
        delete({"daysSinceNoncurrentTime": 30, "matchesSuffix": [".log"]}),
        versioning=True,
    )
    one = put_generations(bucket, "one/doc", 3)
    two = put_generations(bucket, "two/doc", 3)
    logs = put_generations(bucket, "two/app.log", 2)
    result = run_one(bucket, now=timezone.now() + 31 * DAY)
    assert result.noncurrent_deleted == 3  # one/doc's two old versions and the old log
    assert versions(bucket, "one/doc") == []
    assert [g for g, _ in versions(bucket, "two/doc")] == [two[1].generation, two[0].generation]
    assert versions(bucket, "two/app.log") == []
    assert live_names(bucket) == ["one/doc", "two/app.log", "two/doc"]
    assert one[2].generation == services.object_get(bucket=bucket, name="one/doc").generation
    assert logs[1].generation == services.object_get(bucket=bucket, name="two/app.log").generation


def test_many_prefixes_are_judged_without_an_oversized_query(bucket):
    prefixes = [f"p{i:03}/" for i in range(600)]  # past the SQL prefilter's budget
    configure(bucket, delete({"age": 0, "matchesPrefix": prefixes}))
    for name in ["p000/a", "p599/b", "p6/c", "q/d", "a"]:
        put(bucket, name)
    assert run_one(bucket).live_deleted == 2
    assert live_names(bucket) == ["a", "p6/c", "q/d"]


# ---- the runner: uploads, dry runs, races -----------------------------------------------------


def start_upload(bucket: Bucket, name: str, age: timedelta) -> UploadSession:
    session = uploads.session_start(
        bucket=bucket,
        name=name,
        attributes=ObjectAttributes(),
        preconditions=Preconditions(),
        expected_size=None,
    )
    # Some bytes, so that the session holds a blob on every backend (a cloud session's chunks
    # are blobs of their own, ``<key>.part-N``; it has none before its first chunk).
    session = uploads.session_append(
        session=session, offset=0, stream=io.BytesIO(b"0123456789"), length=10
    )
    UploadSession.objects.filter(pk=session.pk).update(created=timezone.now() - age)
    return session


def holds_bytes(session: UploadSession, blob_dir) -> bool:
    return any(
        key == session.blob_key or key.startswith(f"{session.blob_key}.part-")
        for key in stored_blobs(blob_dir)
    )


def test_abort_incomplete_uploads_cancels_old_unfinished_sessions(bucket, blob_dir):
    configure(
        bucket,
        {
            "action": {"type": "AbortIncompleteMultipartUpload"},
            "condition": {"age": 7, "matchesPrefix": ["up/"]},
        },
    )
    old = start_upload(bucket, "up/old.bin", 8 * DAY)
    young = start_upload(bucket, "up/young.bin", 6 * DAY)
    elsewhere = start_upload(bucket, "other/old.bin", 8 * DAY)
    assert holds_bytes(old, blob_dir)

    result = run_one(bucket)
    assert result.sessions_aborted == 1
    remaining = set(UploadSession.objects.values_list("pk", flat=True))
    assert remaining == {young.pk, elsewhere.pk}
    assert not holds_bytes(old, blob_dir)
    assert holds_bytes(young, blob_dir)


def test_a_dry_run_lists_what_would_go_and_changes_nothing(bucket, blob_dir):
    configure(
        bucket,
        delete({"age": 0, "matchesPrefix": ["tmp/"]}),
        delete({"numNewerVersions": 1}),
        {"action": {"type": "AbortIncompleteMultipartUpload"}, "condition": {"age": 1}},
        versioning=True,
        soft_delete=3600,
    )
    put(bucket, "tmp/a", b"aa")
    doc = put_generations(bucket, "doc", 2)
    services.object_delete(bucket=bucket, name="doc", generation=doc[0].generation)  # soft
    start_upload(bucket, "big.iso", 2 * DAY)
    before = (
        list(Object.objects.values_list("pk", "generation", "metageneration")),
        list(ObjectVersion.objects.values_list("pk", "state")),
        list(UploadSession.objects.values_list("pk", flat=True)),
        stored_blobs(blob_dir),
    )

    report = lifecycle.run(buckets=[bucket], dry_run=True, now=timezone.now() + 2 * DAY)
    assert report.dry_run and report.total_items == 3
    assert [(i.name, i.kind, i.rule) for i in report.items] == [
        ("tmp/a", "live", 0),
        ("big.iso", "upload", 2),
        ("doc", "soft-deleted", None),
    ]
    assert report.items[0].generation is not None and report.items[0].size == 2
    assert report.items[0].reason == 'Delete files under "tmp/" whatever their age'
    result = report.buckets[0]
    assert (result.live_deleted, result.sessions_aborted, result.purged) == (1, 1, 1)
    after = (
        list(Object.objects.values_list("pk", "generation", "metageneration")),
        list(ObjectVersion.objects.values_list("pk", "state")),
        list(UploadSession.objects.values_list("pk", flat=True)),
        stored_blobs(blob_dir),
    )
    assert after == before


def test_a_dry_run_lists_a_bounded_number_of_items(bucket, monkeypatch):
    monkeypatch.setattr(lifecycle, "MAX_ITEMS", 2)
    configure(bucket, delete({"age": 0}))
    for i in range(5):
        put(bucket, f"f{i}")
    report = lifecycle.run(buckets=[bucket], dry_run=True)
    assert [item.name for item in report.items] == ["f0", "f1"]
    assert report.total_items == 5 and report.buckets[0].live_deleted == 5
    assert not report.stopped


def test_preview_stops_once_it_has_more_than_its_limit(bucket):
    configure(bucket, delete({"age": 0}))
    for i in range(5):
        put(bucket, f"f{i}")
    report = lifecycle.preview(bucket, limit=2)
    assert [item.name for item in report.items] == ["f0", "f1"] and report.stopped
    report = lifecycle.preview(bucket)
    assert len(report.items) == 5 and not report.stopped
    assert len(live_names(bucket)) == 5


def test_an_object_replaced_after_it_was_judged_is_not_deleted(bucket, monkeypatch):
    configure(bucket, delete({"age": 30}))
    put(bucket, "busy", b"old")
    put(bucket, "patched", b"old")
    put(bucket, "quiet", b"old")
    real = services.objects_retire_batch

    def replaced_meanwhile(*, bucket, rows):
        put(bucket, "busy", b"new")
        services.object_patch(bucket=bucket, name="patched", changes={"cache_control": "no-store"})
        return real(bucket=bucket, rows=rows)

    monkeypatch.setattr(services, "objects_retire_batch", replaced_meanwhile)
    result = run_one(bucket, now=timezone.now() + 31 * DAY)
    assert (result.live_deleted, result.bytes) == (1, 3)
    assert live_names(bucket) == ["busy", "patched"]
    assert read(services.object_get(bucket=bucket, name="busy")) == b"new"


def test_a_stop_request_ends_the_pass_between_batches(bucket, monkeypatch):
    monkeypatch.setattr(lifecycle, "BATCH", 2)
    configure(bucket, delete({"age": 0}))
    for i in range(5):
        put(bucket, f"f{i}")
    stop = threading.Event()
    seen = []

    def progress(step: lifecycle.Progress) -> None:
        seen.append(step)
        stop.set()

    report = lifecycle.run(buckets=[bucket], stop=stop, on_progress=progress)
    assert report.stopped and report.buckets[0].live_deleted == 2
    assert live_names(bucket) == ["f2", "f3", "f4"]
    assert seen == [lifecycle.Progress(bucket.bucket_id, "live objects", 2, 2)]
    # Run again: it carries on where it stopped.
    assert run_one(bucket).live_deleted == 3


def test_invalid_stored_rules_are_reported_and_purging_still_runs(bucket):
    Bucket.objects.filter(pk=bucket.pk).update(lifecycle_rules=[delete({"age": "soon"})])
    bucket.refresh_from_db()
    put(bucket, "a")
    result = run_one(bucket)
    assert "rules not applied" in result.error and "condition.age" in result.error
    assert live_names(bucket) == ["a"]


# ---- the command ------------------------------------------------------------------------------


def command(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("objstore_lifecycle", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_command_runs_one_pass_and_summarises_it(bucket, other_bucket):
    configure(bucket, delete({"age": 0, "matchesSuffix": [".tmp"]}))
    configure(other_bucket, delete({"age": 0}))
    put(bucket, "a.tmp", b"1234")
    put(bucket, "keep")
    put(other_bucket, "x")
    out, err = command("--bucket", bucket.bucket_id)
    assert (
        f"{bucket.bucket_id}: deleted 1 live object(s) and 0 noncurrent version(s), purged 0 "
        "soft-deleted, aborted 0 upload(s): 4 bytes" in out
    )
    assert "lifecycle pass done: 1 bucket(s)" in out
    assert live_names(bucket) == ["keep"] and live_names(other_bucket) == ["x"]
    out, _ = command()  # every bucket with rules
    assert live_names(other_bucket) == []


def test_the_command_dry_run_prints_what_it_would_delete(bucket):
    configure(bucket, delete({"age": 0, "matchesPrefix": ["logs/"]}))
    obj = put(bucket, "logs/1.txt", b"abc")
    out, _ = command("--dry-run", "--bucket", bucket.bucket_id)
    assert (
        f"would delete live {bucket.bucket_id}/logs/1.txt#{obj.generation} (3 bytes; rule 1: "
        'Delete files under "logs/" whatever their age)' in out
    )
    assert f"{bucket.bucket_id}: would delete 1 live object(s)" in out
    assert live_names(bucket) == ["logs/1.txt"]


def test_the_command_prints_progress_on_long_passes(bucket, monkeypatch):
    from objects.management.commands import objstore_lifecycle

    monkeypatch.setattr(objstore_lifecycle, "PROGRESS_EVERY", 0)
    configure(bucket, delete({"age": 0}))
    put(bucket, "a")
    _, err = command()
    assert f"{bucket.bucket_id}: live objects, 1 examined, 1 deleted" in err


def test_the_command_refuses_an_unknown_bucket(bucket, capsys):
    with pytest.raises(CommandError, match="No such bucket: nope"):
        command("--bucket", bucket.bucket_id, "--bucket", "nope")
    with pytest.raises(SystemExit) as exited:
        execute_from_command_line(["manage.py", "objstore_lifecycle", "--bucket", "nope"])
    assert exited.value.code == 1
    assert "No such bucket: nope" in capsys.readouterr().err


def test_the_command_fails_when_a_bucket_has_invalid_rules(bucket):
    Bucket.objects.filter(pk=bucket.pk).update(lifecycle_rules=[{"action": {"type": "Nuke"}}])
    with pytest.raises(CommandError, match="1 bucket"):
        command("--bucket", bucket.bucket_id)


def test_the_command_loops_until_sigterm(bucket):
    configure(bucket, delete({"age": 0}))
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        out, _ = command("--loop", "0.05", "--bucket", bucket.bucket_id)
    finally:
        timer.cancel()
    assert out.count("lifecycle pass done") >= 2
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler was put back


def test_the_command_refuses_a_loop_of_zero_seconds(bucket):
    with pytest.raises(CommandError, match="greater than 0"):
        command("--loop", "0")


def test_a_batch_that_hits_a_deadlock_is_tried_again(bucket, monkeypatch):
    """A deadlock (PostgreSQL) or a busy database rolls a batch back whole: the pass tries it
    again instead of ending, and the rows it deletes are exactly those the rule matched."""
    from django.db import OperationalError

    configure(bucket, delete({"age": 0, "matchesPrefix": ["tmp/"]}))
    put(bucket, "tmp/a", b"a")
    put(bucket, "keep/b", b"b")
    real = services.objects_retire_batch
    calls = []

    def deadlocks_once(**kwargs):
        calls.append(kwargs["rows"])
        if len(calls) == 1:
            raise OperationalError("deadlock detected")
        return real(**kwargs)

    monkeypatch.setattr(services, "objects_retire_batch", deadlocks_once)
    result = run_one(bucket)
    assert len(calls) == 2 and result.live_deleted == 1
    assert list(Object.objects.values_list("name", flat=True)) == ["keep/b"]
