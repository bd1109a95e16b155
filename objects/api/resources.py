"""JSON resources as GCS renders them: int64 fields are strings, times are RFC 3339."""

import re
from datetime import UTC, datetime
from urllib.parse import quote

from django.http import HttpRequest

from buckets.models import Bucket

from ..models import ObjectData


def rfc3339(moment: datetime) -> str:
    # isoformat is done in C: a listing of 1,000 objects formats 2,000 of these.
    if moment.tzinfo is UTC:  # what the database gives back: "...+00:00" becomes "Z"
        return moment.isoformat(timespec="milliseconds")[:-6] + "Z"
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


_LOOPBACK_HOST = re.compile(r"^(?:127\.0\.0\.1|localhost|\[::1\])(?::\d{1,5})?$")


def base_url(request: HttpRequest) -> str:
    """The scheme and host the client used, so the links we hand out (selfLink, mediaLink, a
    resumable session's Location) reach us, or the sidecar or proxy the client called.

    The sidecar forwards with ``X-Forwarded-Host`` naming itself; it is followed only when it
    is a loopback address, so no request can make the server hand out a link to another host:
    a loopback link only ever points at the caller's own machine.
    """
    forwarded = request.META.get("HTTP_X_FORWARDED_HOST", "")
    if forwarded and _LOOPBACK_HOST.match(forwarded):
        proto = request.META.get("HTTP_X_FORWARDED_PROTO", "http")
        return f"{'https' if proto == 'https' else 'http'}://{forwarded}"
    return f"{request.scheme}://{request.get_host()}"


_PLAIN_PATH = re.compile(r"[A-Za-z0-9_.~/-]*")


def quote_name(name: str) -> str:
    """The name as one URL path segment. Most names are plain ASCII paths: those skip
    urllib's per-character quoting, the costliest step of rendering a large listing."""
    if _PLAIN_PATH.fullmatch(name):
        return name.replace("/", "%2F")
    return quote(name, safe="")


def object_resource(obj: ObjectData, request: HttpRequest, base: str | None = None) -> dict:
    """The object as GCS renders it. Listings pass ``base`` (``base_url(request)``) once."""
    bucket_id = obj.bucket.bucket_id
    quoted = quote_name(obj.name)
    base = base or base_url(request)
    created = rfc3339(obj.created)
    resource = {
        "kind": "storage#object",
        "id": f"{bucket_id}/{obj.name}/{obj.generation}",
        "selfLink": f"{base}/storage/v1/b/{bucket_id}/o/{quoted}",
        "mediaLink": (
            f"{base}/download/storage/v1/b/{bucket_id}/o/{quoted}"
            f"?generation={obj.generation}&alt=media"
        ),
        "name": obj.name,
        "bucket": bucket_id,
        "generation": str(obj.generation),
        "metageneration": str(obj.metageneration),
        "contentType": obj.content_type,
        "storageClass": "STANDARD",
        "size": str(obj.size),
        "crc32c": obj.crc32c,
        "etag": etag(obj),
        "timeCreated": created,
        "updated": created if obj.updated == obj.created else rfc3339(obj.updated),
        "timeStorageClassUpdated": created,
    }
    if obj.md5_hash:
        resource["md5Hash"] = obj.md5_hash
    if obj.content_encoding:
        resource["contentEncoding"] = obj.content_encoding
    if obj.cache_control:
        resource["cacheControl"] = obj.cache_control
    if obj.metadata:
        resource["metadata"] = obj.metadata
    if obj.component_count:
        resource["componentCount"] = obj.component_count
    if obj.custom_time is not None:
        resource["customTime"] = rfc3339(obj.custom_time)
    if obj.time_deleted is not None:  # noncurrent or soft-deleted
        resource["timeDeleted"] = rfc3339(obj.time_deleted)
        if obj.soft_delete_time is not None:
            resource["softDeleteTime"] = rfc3339(obj.soft_delete_time)
            resource["hardDeleteTime"] = rfc3339(obj.hard_delete_time)
    return resource


def etag(obj: ObjectData) -> str:
    # Changes with every generation and metageneration, like GCS's.
    return f"CK{obj.generation:x}{obj.metageneration:x}"


def bucket_resource(bucket: Bucket, request: HttpRequest) -> dict:
    resource = {
        "kind": "storage#bucket",
        "id": bucket.bucket_id,
        "selfLink": f"{base_url(request)}/storage/v1/b/{bucket.bucket_id}",
        "name": bucket.bucket_id,
        "projectNumber": "0",
        "metageneration": str(bucket.metageneration),
        "location": "LOCAL",
        "locationType": "region",
        "storageClass": "STANDARD",
        "etag": f"CA{bucket.metageneration:x}",
        "timeCreated": rfc3339(bucket.created),
        "updated": rfc3339(bucket.updated),
    }
    if bucket.labels:
        resource["labels"] = bucket.labels
    resource["versioning"] = {"enabled": bucket.versioning_enabled}
    policy = {"retentionDurationSeconds": str(bucket.soft_delete_seconds)}
    if bucket.soft_delete_seconds:
        policy["effectiveTime"] = rfc3339(bucket.soft_delete_effective or bucket.created)
    resource["softDeletePolicy"] = policy
    if bucket.lifecycle_rules:
        resource["lifecycle"] = {"rule": bucket.lifecycle_rules}
    return resource
