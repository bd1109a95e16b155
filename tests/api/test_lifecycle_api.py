"""Lifecycle rules through google-cloud-storage (Python), unmodified, and the runner acting on
what the client stored."""

import datetime

import pytest
from django.core.management import call_command
from django.utils import timezone
from google.api_core import exceptions

from buckets.models import Bucket
from objects.models import Object, ObjectVersion


def _age(bucket_id: str, name: str, days: int) -> None:
    """Make the live object look ``days`` old (the runner judges by its creation time)."""
    Object.objects.filter(bucket__bucket_id=bucket_id, name=name).update(
        created=timezone.now() - datetime.timedelta(days=days)
    )


def test_rules_round_trip_exactly_as_the_client_sends_them(gcs, bucket):
    found = gcs.get_bucket(bucket.bucket_id)
    found.add_lifecycle_delete_rule(age=30, matches_prefix=["logs/"])
    found.add_lifecycle_delete_rule(number_of_newer_versions=3, is_live=False)
    found.add_lifecycle_abort_incomplete_multipart_upload_rule(age=7)
    found.add_lifecycle_set_storage_class_rule("COLDLINE", age=365)
    found.patch()
    sent = list(found.lifecycle_rules)
    fetched = gcs.get_bucket(bucket.bucket_id)
    assert list(fetched.lifecycle_rules) == sent
    assert [rule["action"]["type"] for rule in sent] == [
        "Delete",
        "Delete",
        "AbortIncompleteMultipartUpload",
        "SetStorageClass",
    ]
    assert Bucket.objects.get(pk=bucket.pk).lifecycle_rules == sent

    fetched.clear_lifecycle_rules()
    fetched.patch()
    assert list(gcs.get_bucket(bucket.bucket_id).lifecycle_rules) == []


@pytest.mark.parametrize(
    "rule",
    [
        {"action": {"type": "Archive"}, "condition": {"age": 1}},
        {"action": {"type": "Delete"}, "condition": {"ageInYears": 1}},
        {"action": {"type": "Delete"}, "condition": {"age": -1}},
        {"action": {"type": "Delete"}, "condition": {"age": "thirty"}},
        {"action": {"type": "Delete"}, "condition": {"createdBefore": "2026-13-40"}},
        {"action": {"type": "Delete"}, "condition": {"matchesPrefix": "logs/"}},
        {"action": {"type": "Delete"}, "condition": {"isLive": "yes"}},
        {"action": {"type": "Delete"}, "condition": {}},
        {"action": {"type": "AbortIncompleteMultipartUpload"}, "condition": {"isLive": True}},
        {"condition": {"age": 1}},
    ],
)
def test_a_bad_rule_is_a_400_and_changes_nothing(api, server, bucket, rule):
    before = Bucket.objects.get(pk=bucket.pk)
    response = api.patch(
        f"{server.url}/storage/v1/b/{bucket.bucket_id}",
        json={"lifecycle": {"rule": [rule]}, "labels": {"changed": "yes"}},
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == 400 and error["message"]
    after = Bucket.objects.get(pk=bucket.pk)
    assert (after.lifecycle_rules, after.labels, after.metageneration) == (
        before.lifecycle_rules,
        before.labels,
        before.metageneration,
    )


def test_put_without_lifecycle_clears_the_rules(api, server, gcs, bucket):
    found = gcs.get_bucket(bucket.bucket_id)
    found.add_lifecycle_delete_rule(age=1)
    found.patch()
    response = api.put(f"{server.url}/storage/v1/b/{bucket.bucket_id}", json={})
    assert response.status_code == 200 and "lifecycle" not in response.json()
    assert Bucket.objects.get(pk=bucket.pk).lifecycle_rules == []


def test_the_runner_deletes_by_age_and_prefix_and_soft_delete_keeps_them(gcs, bucket):
    found = gcs.get_bucket(bucket.bucket_id)
    found.add_lifecycle_delete_rule(age=30, matches_prefix=["logs/"])
    found.patch()
    for name in ("logs/old.log", "logs/new.log", "keep/old.log"):
        found.blob(name).upload_from_string(name.encode())
    _age(bucket.bucket_id, "logs/old.log", 31)
    _age(bucket.bucket_id, "keep/old.log", 90)

    call_command("objstore_lifecycle", "--dry-run")
    assert len(list(found.list_blobs())) == 3

    call_command("objstore_lifecycle", "--bucket", bucket.bucket_id)
    assert sorted(b.name for b in found.list_blobs()) == ["keep/old.log", "logs/new.log"]
    # Deleted by rule the way any delete is: the 7-day soft delete keeps it recoverable.
    (deleted,) = found.list_blobs(soft_deleted=True)
    assert deleted.name == "logs/old.log"
    found.restore_blob("logs/old.log", generation=deleted.generation)
    assert found.blob("logs/old.log").download_as_bytes() == b"logs/old.log"


def test_the_runner_keeps_at_most_n_old_versions(gcs, bucket):
    found = gcs.get_bucket(bucket.bucket_id)
    found.versioning_enabled = True
    found.soft_delete_policy.retention_duration_seconds = 0
    found.add_lifecycle_delete_rule(number_of_newer_versions=2, is_live=False)
    found.patch()
    generations = []
    for body in (b"v1", b"v2", b"v3", b"v4", b"v5"):
        blob = found.blob("config.json")
        blob.upload_from_string(body)
        generations.append(blob.generation)

    call_command("objstore_lifecycle")
    listed = [(b.generation, b.download_as_bytes()) for b in found.list_blobs(versions=True)]
    # v3 has two newer versions (v4 and the live v5): v1, v2 and v3 go; v4 and v5 stay.
    assert listed == [(generations[3], b"v4"), (generations[4], b"v5")]
    # Without soft delete the three are gone for good: only v4's row remains, noncurrent.
    assert list(ObjectVersion.objects.values_list("generation", "state")) == [
        (generations[3], ObjectVersion.NONCURRENT)
    ]


def test_the_runner_purges_soft_deleted_objects_past_their_hard_delete_time(gcs, bucket):
    found = gcs.get_bucket(bucket.bucket_id)
    for name in ("a", "b"):
        found.blob(name).upload_from_string(b"x")
        found.blob(name).delete()
    ObjectVersion.objects.filter(name="a").update(hard_delete_time=timezone.now())
    call_command("objstore_lifecycle")
    assert [b.name for b in found.list_blobs(soft_deleted=True)] == ["b"]
    with pytest.raises(exceptions.NotFound):
        deleted = ObjectVersion.objects.filter(name="a").first()
        found.restore_blob("a", generation=deleted.generation if deleted else 1)
