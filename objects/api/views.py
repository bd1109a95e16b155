"""The Google Cloud Storage JSON API over the same buckets and objects as the pane.

Requests are routed on the raw (still percent-encoded) path: an object name is one encoded path
segment, so names containing ``/copyTo/``, ``?`` or ``%2F`` stay unambiguous. Every read and
write goes through the service layer; this module only translates HTTP to service calls and
service exceptions to GCS's error envelope.
"""

import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from typing import Any
from urllib.parse import quote, unquote, unquote_to_bytes, urlsplit

import orjson
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import OperationalError
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    StreamingHttpResponse,
)
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from buckets import services as bucket_services
from buckets.models import ApiToken, Bucket
from buckets.tokens import token_authenticate, token_authenticate_for_bucket
from objstore_site.bodies import IncompleteBody
from objstore_site.db import get_row

from .. import services, uploads
from ..glob import InvalidGlob
from ..gzip_stream import NotGzip, gunzip_chunks
from ..listing import MAX_RESULTS, InvalidPageToken
from ..models import Object, ObjectVersion
from ..names import InvalidObjectName
from ..ranges import Unsatisfiable, requested_range
from . import errors, fields
from .errors import ApiError
from .multipart import MultipartError, MultipartRelatedReader
from .resources import base_url, bucket_resource, etag, object_resource

logger = logging.getLogger(__name__)

_JSON = r"(?:/storage/v1)?"
_SEGMENT = r"[^/]+"
_MAX_JSON_BODY = 1024 * 1024
_SMALL_DOWNLOAD = 64 * 1024
_DRAIN_LIMIT = 64 * 1024 * 1024
_JSON_TYPE = "application/json; charset=UTF-8"


def _body_stream(request: HttpRequest) -> services.Readable:
    # gunicorn decodes chunked bodies (no Content-Length) in wsgi.input, which Django's
    # request, bounded by Content-Length, would read as empty.
    if request.META.get("wsgi.input_terminated"):
        return request.META["wsgi.input"]
    return request


@dataclass
class Call:
    """One API request: who is calling and how to read its body."""

    request: HttpRequest
    token: ApiToken
    # The bucket the URL names, found with the token: (bucket ID, the caller's bucket or None).
    named_bucket: tuple[str, Bucket | None] | None = None

    @property
    def params(self) -> Any:
        return self.request.GET

    def body_stream(self) -> services.Readable:
        return _body_stream(self.request)

    def json_body(self) -> dict:
        stream = self.body_stream()
        raw = stream.read(_MAX_JSON_BODY + 1)
        if len(raw) > _MAX_JSON_BODY:
            raise errors.bad_request("The JSON body is too large.")
        if not raw.strip() or raw.strip() == b"null":
            return {}  # no body, or JSON null (Go's rewriteTo): no changes
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: nested beyond Python's stack
            raise errors.bad_request("The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise errors.bad_request("The request body must be a JSON object.")
        return body

    def bucket(self, bucket_id: str, *, write: bool = False) -> Bucket:
        if self.named_bucket is not None and self.named_bucket[0] == bucket_id:
            bucket = self.named_bucket[1]
        else:
            bucket = get_row(Bucket, bucket_id=bucket_id, owner_id=self.token.owner_id)
        if bucket is None:
            raise errors.bucket_not_found()  # another user's bucket looks exactly like this
        if self.token.bucket_id is not None and self.token.bucket_id != bucket.pk:
            raise errors.forbidden(f"This API token is limited to another bucket than {bucket_id}.")
        if write:
            self.require_write()
        return bucket

    def require_write(self) -> None:
        if self.token.read_only:
            raise errors.forbidden("This API token is read-only.")


# ---- parameters -------------------------------------------------------------------------------


def _int_param(call: Call, name: str) -> int | None:
    value = call.params.get(name)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise errors.bad_request(f"Invalid value for {name}: {value!r}") from None
    if not -(2**63) <= number < 2**63:  # GCS's int64: no database column holds more
        raise errors.bad_request(f"Invalid value for {name}: {value!r} is out of range.")
    return number


def _bool_param(call: Call, name: str) -> bool:
    return call.params.get(name, "").lower() == "true"


def _preconditions(call: Call, prefix: str = "") -> services.Preconditions:
    def param(name: str) -> int | None:
        full = f"if{prefix}{name}"
        return _int_param(call, full)

    return services.Preconditions(
        if_generation_match=param("GenerationMatch"),
        if_generation_not_match=param("GenerationNotMatch"),
        if_metageneration_match=param("MetagenerationMatch"),
        if_metageneration_not_match=param("MetagenerationNotMatch"),
    )


def _metadata_map(value: Any, field: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise errors.bad_request(f"{field} must be an object.")
    for key, item in value.items():
        # JSON columns cannot hold NUL on PostgreSQL, and GCS refuses it in headers anyway.
        if "\x00" in key or (item is not None and "\x00" in str(item)):
            raise errors.bad_request(f"{field} must not contain NUL characters.")
    return value


def _attributes(resource: dict, fallback_type: str | None = None) -> services.ObjectAttributes:
    metadata = _metadata_map(resource.get("metadata"), "metadata")
    return services.ObjectAttributes(
        content_type=resource.get("contentType") or fallback_type or None,
        content_encoding=resource.get("contentEncoding") or "",
        cache_control=resource.get("cacheControl") or "",
        metadata={str(k): str(v) for k, v in metadata.items() if v is not None},
        custom_time=_custom_time(resource.get("customTime")),
    )


def _custom_time(value: Any) -> datetime | None:
    """GCS's customTime: an RFC 3339 date-time (or None)."""
    if value is None or value == "":
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None or parsed.tzinfo is None:
        raise errors.bad_request(f"customTime must be an RFC 3339 date-time, not {value!r}.")
    return parsed


def _expected_checksums(md5: str | None, crc32c: str | None) -> services.ExpectedChecksums:
    return services.ExpectedChecksums(md5_hash=md5 or None, crc32c=crc32c or None)


def _goog_hash(call: Call) -> services.ExpectedChecksums:
    """Checksums from ``X-Goog-Hash: crc32c=...,md5=...`` (sent with a resumable upload's end)."""
    found: dict[str, str] = {}
    for header in call.request.headers.get("X-Goog-Hash", "").split(","):
        kind, sep, value = header.strip().partition("=")
        if sep:
            found[kind.lower()] = value
    return _expected_checksums(found.get("md5"), found.get("crc32c"))


def _json(call: Call, data: dict, status: int = 200) -> HttpResponse:
    selection = call.params.get("fields")
    if selection:
        try:
            data = fields.apply(data, fields.parse(selection))
        except fields.InvalidFields as exc:
            raise errors.bad_request(str(exc)) from None
    # The charset is GCS's too: google-http-client (Java) decodes a body whose Content-Type
    # names none as ISO-8859-1, which would garble every non-ASCII object name. orjson: UTF-8
    # as it is, like ensure_ascii=False, and ~10x faster than json (a list of 100 names is
    # 80 KB of JSON: 0.5 ms with json, 0.04 ms with orjson).
    return HttpResponse(
        orjson.dumps(data, default=_json_default), status=status, content_type=_JSON_TYPE
    )


_django_encoder = DjangoJSONEncoder()


def _json_default(value: Any) -> Any:
    return _django_encoder.default(value)  # what JsonResponse would make of anything else


# ---- buckets ----------------------------------------------------------------------------------


def bucket_list(call: Call) -> HttpResponse:
    buckets = Bucket.objects.filter(owner_id=call.token.owner_id).order_by("bucket_id")
    if call.token.bucket_id is not None:
        buckets = buckets.filter(pk=call.token.bucket_id)
    items = [bucket_resource(bucket, call.request) for bucket in buckets]
    body: dict[str, Any] = {"kind": "storage#buckets"}
    if items:
        body["items"] = items
    return _json(call, body)


def bucket_insert(call: Call) -> HttpResponse:
    call.require_write()
    if call.token.bucket_id is not None:
        raise errors.forbidden("This API token is limited to one bucket and cannot create buckets.")
    body = call.json_body()
    bucket_settings = _bucket_settings(body, replace=False)
    try:
        bucket = bucket_services.bucket_create_with_id(
            owner=call.token.owner,
            bucket_id=str(body.get("name", "")),
            labels=_metadata_map(body.get("labels"), "labels"),
        )
        if bucket_settings:
            bucket = bucket_services.bucket_update_settings(bucket=bucket, **bucket_settings)
    except ValidationError as exc:
        raise errors.bad_request(" ".join(exc.messages)) from None
    except bucket_services.BucketNameTaken as exc:
        if exc.owned_by_caller:
            raise errors.conflict(
                "Your previous request to create the named bucket succeeded and you already own it."
            ) from None
        raise errors.conflict(
            "The requested bucket name is not available. The bucket namespace is shared by all "
            "users of the system. Please select a different name and try again."
        ) from None
    return _json(call, bucket_resource(bucket, call.request))


def bucket_get(call: Call, bucket: str) -> HttpResponse:
    return _json(call, bucket_resource(call.bucket(bucket), call.request))


def _bucket_settings(body: dict, *, replace: bool) -> dict[str, Any]:
    """What a bucket resource sets besides labels: versioning, the soft delete policy and the
    lifecycle rules, validated (400 and no change otherwise). ``replace`` (PUT): versioning and
    lifecycle absent from the body are turned off and cleared, as GCS's update does."""
    found: dict[str, Any] = {}
    if "versioning" in body or replace:
        versioning = body.get("versioning") or {}
        if not isinstance(versioning, dict) or not isinstance(
            versioning.get("enabled", False), bool
        ):
            raise errors.bad_request('versioning must be {"enabled": true|false}.')
        found["versioning"] = versioning.get("enabled", False)
    if body.get("softDeletePolicy") is not None:
        policy = body["softDeletePolicy"]
        if not isinstance(policy, dict):
            raise errors.bad_request("softDeletePolicy must be an object.")
        seconds = policy.get("retentionDurationSeconds")
        try:
            found["soft_delete_seconds"] = bucket_services.validate_soft_delete_seconds(
                0 if seconds is None else seconds
            )
        except ValidationError as exc:
            raise errors.bad_request(" ".join(exc.messages)) from None
    if "lifecycle" in body or replace:
        from ..lifecycle import validate_rules

        lifecycle = body.get("lifecycle") or {}
        if not isinstance(lifecycle, dict):
            raise errors.bad_request("lifecycle must be an object with a rule list.")
        found["lifecycle_rules"] = validate_rules(lifecycle.get("rule"))
    return found


def bucket_patch(call: Call, bucket: str) -> HttpResponse:
    found = call.bucket(bucket, write=True)
    body = call.json_body()
    replace = call.request.method == "PUT"
    labels = _metadata_map(body.get("labels"), "labels")
    if replace:  # update replaces the labels; patch merges them
        labels = {**{key: None for key in found.labels}, **labels}
    settings = _bucket_settings(body, replace=replace)
    found = bucket_services.bucket_update_settings(bucket=found, labels=labels, **settings)
    return _json(call, bucket_resource(found, call.request))


def bucket_delete(call: Call, bucket: str) -> HttpResponse:
    found = call.bucket(bucket, write=True)
    # Noncurrent versions are objects too (GCS refuses as well); soft-deleted ones go with it.
    if (
        Object.objects.filter(bucket=found).exists()
        or ObjectVersion.objects.filter(bucket=found, state=ObjectVersion.NONCURRENT).exists()
    ):
        raise errors.conflict("The bucket you tried to delete is not empty.")
    services.bucket_delete(bucket=found)
    return HttpResponse(status=204)


# ---- objects: metadata, listing, delete --------------------------------------------------------


def objects_list(call: Call, bucket: str) -> HttpResponse:
    found = call.bucket(bucket)
    max_results = _int_param(call, "maxResults")
    if max_results is not None and max_results < 1:
        raise errors.bad_request("maxResults must be a positive integer.")
    versions, soft_deleted = _bool_param(call, "versions"), _bool_param(call, "softDeleted")
    if versions and soft_deleted:
        raise errors.bad_request("versions and softDeleted cannot both be true.")
    options = dict(
        bucket=found,
        prefix=call.params.get("prefix", ""),
        delimiter=call.params.get("delimiter", ""),
        start_offset=call.params.get("startOffset", ""),
        end_offset=call.params.get("endOffset", ""),
        match_glob=call.params.get("matchGlob", ""),
        max_results=max_results or MAX_RESULTS,
        page_token=call.params.get("pageToken", ""),
        include_trailing_delimiter=_bool_param(call, "includeTrailingDelimiter"),
    )
    try:
        if versions or soft_deleted:
            page = services.versions_list(soft_deleted=soft_deleted, **options)
        else:
            page = services.objects_list(**options)
    except (InvalidPageToken, InvalidGlob) as exc:
        raise errors.bad_request(str(exc)) from None
    body: dict[str, Any] = {"kind": "storage#objects"}
    if page.objects:
        base = base_url(call.request)
        body["items"] = [object_resource(obj, call.request, base) for obj in page.objects]
    if page.prefixes:
        body["prefixes"] = page.prefixes
    if page.next_page_token:
        body["nextPageToken"] = page.next_page_token
    return _json(call, body)


def _object_for_read(call: Call, found: Bucket, name: str) -> Object | HttpResponse:
    """The object after GCS's read preconditions: 412 for a failed match, 304 for a not-match."""
    generation = _int_param(call, "generation")
    soft_deleted = _bool_param(call, "softDeleted")
    if soft_deleted and generation is None:
        raise errors.bad_request("A generation is required to get a soft-deleted object.")
    obj = services.object_get(
        bucket=found, name=name, generation=generation, soft_deleted=soft_deleted
    )
    conditions = _preconditions(call)
    if (
        conditions.if_generation_match is not None
        and conditions.if_generation_match != obj.generation
    ) or (
        conditions.if_metageneration_match is not None
        and conditions.if_metageneration_match != obj.metageneration
    ):
        raise errors.precondition_failed()
    if (
        conditions.if_generation_not_match == obj.generation
        or conditions.if_metageneration_not_match == obj.metageneration
    ):
        return HttpResponse(status=304)
    return obj


def object_get(call: Call, bucket: str, object: str, *, media: bool = False) -> HttpResponse:
    found = call.bucket(bucket)

    def answer() -> HttpResponse:
        obj = _object_for_read(call, found, object)
        if isinstance(obj, HttpResponse):
            return obj
        if not (media or call.params.get("alt") == "media"):
            return _json(call, object_resource(obj, call.request))
        if obj.state == ObjectVersion.SOFT_DELETED:
            raise errors.bad_request("A soft-deleted object cannot be downloaded; restore it.")
        return _download(call, obj)

    # Replaced or deleted between reading its row and opening its blob: serve what it holds now.
    return services.retry_if_replaced(answer)


def object_delete(call: Call, bucket: str, object: str) -> HttpResponse:
    found = call.bucket(bucket, write=True)
    services.object_delete(
        bucket=found,
        name=object,
        generation=_int_param(call, "generation"),
        preconditions=_preconditions(call),
    )
    return HttpResponse(status=204)


def object_restore(call: Call, bucket: str, object: str) -> HttpResponse:
    """Bring a soft-deleted generation back as the live object (a new generation)."""
    found = call.bucket(bucket, write=True)
    generation = _int_param(call, "generation")
    if generation is None:
        raise errors.bad_request("Restoring an object needs its generation.")
    obj = services.object_restore(
        bucket=found, name=object, generation=generation, preconditions=_preconditions(call)
    )
    return _json(call, object_resource(obj, call.request))


_PATCHABLE = {
    "contentType": "content_type",
    "contentEncoding": "content_encoding",
    "cacheControl": "cache_control",
}


def object_patch(call: Call, bucket: str, object: str) -> HttpResponse:
    """PATCH merges what the body names; PUT (update) replaces every writable field."""
    found = call.bucket(bucket, write=True)
    body = call.json_body()
    replace = call.request.method == "PUT"
    changes: dict[str, Any] = {}
    for api_name, model_name in _PATCHABLE.items():
        if api_name in body or (replace and api_name != "contentType"):
            default = "application/octet-stream" if api_name == "contentType" else ""
            changes[model_name] = body.get(api_name) or default
    if "customTime" in body:
        changes["custom_time"] = _custom_time(body["customTime"])
    obj = services.object_patch(
        bucket=found,
        name=object,
        changes=changes,
        metadata_patch=_metadata_map(body.get("metadata"), "metadata")
        if "metadata" in body
        else None,
        replace_metadata=replace,
        generation=_int_param(call, "generation"),
        preconditions=_preconditions(call),
    )
    return _json(call, object_resource(obj, call.request))


# ---- downloads --------------------------------------------------------------------------------


class RangeFile:
    """A window of an open blob. It keeps the file's descriptor (so gunicorn can sendfile the
    window from the current offset) but reads stop at the window's end."""

    def __init__(self, handle: Any, length: int) -> None:
        self._handle = handle  # already at the window's start
        self._remaining = length

    def fileno(self) -> int:
        return self._handle.fileno()

    def read(self, size: int = -1) -> bytes:
        if self._remaining <= 0:
            return b""
        size = self._remaining if size is None or size < 0 else min(size, self._remaining)
        data = self._handle.read(size)
        self._remaining -= len(data)
        return data

    def close(self) -> None:
        self._handle.close()


def _gunzipped(obj: Object) -> Iterator[bytes] | None:
    """The object's bytes decompressed, or None when they are not gzip at all (served as
    stored then). A stream that breaks later ends the response without its last chunk, so the
    client sees an error instead of a short body."""
    handle = services.object_open(obj)
    chunks = gunzip_chunks(handle)
    try:
        first = next(chunks, b"")
    except NotGzip:
        handle.close()
        return None

    def rest() -> Iterator[bytes]:
        try:
            yield first
            try:
                yield from chunks
            except NotGzip:
                logger.warning("%s/%s: the stored gzip stream is damaged", obj.bucket_id, obj.name)
                raise
        finally:
            handle.close()

    return rest()


def _download(call: Call, obj: Object) -> HttpResponse:
    request = call.request
    hashes = f"crc32c={obj.crc32c}" + (f",md5={obj.md5_hash}" if obj.md5_hash else "")
    headers = {
        "ETag": etag(obj),
        "X-Goog-Generation": str(obj.generation),
        "X-Goog-Metageneration": str(obj.metageneration),
        "X-Goog-Stored-Content-Encoding": obj.content_encoding or "identity",
        "X-Goog-Stored-Content-Length": str(obj.size),
        "X-Goog-Hash": hashes,
        "Accept-Ranges": "bytes",
        "Last-Modified": obj.updated.strftime("%a, %d %b %Y %H:%M:%S GMT"),
        "Cache-Control": obj.cache_control or "private, max-age=0",
        # Bytes from users never run as a page on our origin.
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "X-Content-Type-Options": "nosniff",
    }
    if obj.content_encoding == "gzip" and "gzip" not in request.headers.get("Accept-Encoding", ""):
        # A client that cannot gunzip gets the decoded bytes (no length or hash: they differ).
        decoded = _gunzipped(obj)
        if decoded is not None:
            del headers["X-Goog-Hash"]
            response = StreamingHttpResponse(decoded, content_type=obj.content_type)
            for name, value in headers.items():
                response[name] = value
            return response
        # Not gzip after all: the bytes as stored, not labelled as gzip.
        headers["X-Goog-Stored-Content-Encoding"] = "identity"
    elif obj.content_encoding:
        headers["Content-Encoding"] = obj.content_encoding

    status, start, length = 200, 0, obj.size
    try:
        window = requested_range(request.headers.get("Range", ""), obj.size)
    except Unsatisfiable:
        response = errors.ApiError(
            416, "The requested range cannot be satisfied.", "requestedRangeNotSatisfiable"
        ).response()
        response["Content-Range"] = f"bytes */{obj.size}"
        return response
    if window is not None:
        start, end = window
        status, length = 206, end - start + 1
        headers["Content-Range"] = f"bytes {start}-{end}/{obj.size}"
    handle = services.object_open(obj, start)
    if length <= _SMALL_DOWNLOAD:
        # One read and a plain body: for a few KiB, a file response's machinery (and sendfile)
        # costs more than the bytes.
        try:
            data = handle.read(length)
        finally:
            handle.close()
        response = HttpResponse(data, status=status, content_type=obj.content_type)
        for name, value in headers.items():
            response[name] = value
        return response
    body = RangeFile(handle, length) if status == 206 else handle
    response = FileResponse(body, status=status, content_type=obj.content_type)
    response.block_size = services.CHUNK_SIZE  # when not sent with sendfile
    response.headers.pop("Content-Disposition", None)  # FileResponse names the blob key
    for name, value in headers.items():
        response[name] = value
    response["Content-Length"] = str(length)
    return response


# ---- uploads ----------------------------------------------------------------------------------


def _content_type_params(value: str) -> tuple[str, dict[str, str]]:
    message = Message()
    message["Content-Type"] = value
    params = dict(message.get_params()[1:]) if message.get_params() else {}
    return message.get_content_type(), params


def upload_insert(call: Call, bucket: str) -> HttpResponse:
    if call.params.get("upload_id"):
        return resumable_continue(call, bucket)
    found = call.bucket(bucket, write=True)
    upload_type = call.params.get("uploadType", "")
    content_type = call.request.headers.get("Content-Type", "")
    if upload_type == "resumable":
        return _resumable_start(call, found)
    if upload_type == "multipart" or (not upload_type and content_type.startswith("multipart/")):
        return _multipart_upload(call, found, content_type)
    if upload_type in ("media", ""):
        name = call.params.get("name", "")
        return _store(
            call,
            found,
            name,
            call.body_stream(),
            services.ObjectAttributes(
                content_type=content_type or None,
                content_encoding=call.params.get("contentEncoding", ""),
            ),
            services.ExpectedChecksums(),
        )
    raise errors.bad_request(f"Unsupported uploadType: {upload_type!r}")


def _store(
    call: Call,
    found: Bucket,
    name: str,
    stream: services.Readable,
    attributes: services.ObjectAttributes,
    expected: services.ExpectedChecksums,
) -> HttpResponse:
    if not name:
        raise errors.bad_request("Object name is required (in the metadata or as ?name=).")
    obj = services.object_upload(
        bucket=found,
        name=name,
        stream=stream,
        attributes=attributes,
        preconditions=_preconditions(call),
        expected=expected,
        size_hint=_int_or_zero(call.request.META.get("CONTENT_LENGTH")),
    )
    return _json(call, object_resource(obj, call.request))


def _int_or_zero(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0


def _multipart_upload(call: Call, found: Bucket, content_type: str) -> HttpResponse:
    _, params = _content_type_params(content_type)
    try:
        reader = MultipartRelatedReader(call.body_stream(), params.get("boundary", ""))
        _, metadata_part = reader.next_part()
        raw = metadata_part.read_all(_MAX_JSON_BODY)
        try:
            resource = json.loads(raw) if raw.strip() else {}
        except (ValueError, RecursionError):
            raise errors.bad_request("The metadata part is not valid JSON.") from None
        if not isinstance(resource, dict):
            raise errors.bad_request("The metadata part must be a JSON object.")
        media_headers, media = reader.next_part()
        name = resource.get("name") or call.params.get("name", "")
        response = _store(
            call,
            found,
            str(name),
            media,
            _attributes(resource, fallback_type=media_headers.get("Content-Type")),
            _expected_checksums(resource.get("md5Hash"), resource.get("crc32c")),
        )
        reader.drain()
        return response
    except MultipartError as exc:
        raise errors.bad_request(str(exc)) from None


def _resumable_location(call: Call, found: Bucket, upload_id: str) -> str:
    path = f"/upload/storage/v1/b/{found.bucket_id}/o"
    return f"{base_url(call.request)}{path}?uploadType=resumable&upload_id={upload_id}"


def _resumable_start(call: Call, found: Bucket) -> HttpResponse:
    resource = call.json_body()
    name = str(resource.get("name") or call.params.get("name", ""))
    if not name:
        raise errors.bad_request("Object name is required (in the metadata or as ?name=).")
    declared = call.request.headers.get("X-Upload-Content-Length")
    try:
        expected_size = int(declared) if declared else None
    except ValueError:
        raise errors.bad_request("X-Upload-Content-Length must be an integer.") from None
    session = uploads.session_start(
        bucket=found,
        name=name,
        attributes=_attributes(
            resource, fallback_type=call.request.headers.get("X-Upload-Content-Type")
        ),
        preconditions=_preconditions(call),
        expected_size=expected_size,
    )
    response = HttpResponse(status=200)
    response["Location"] = _resumable_location(call, found, session.upload_id)
    response["X-GUploader-UploadID"] = session.upload_id
    return response


_CONTENT_RANGE = re.compile(r"^bytes (?:(\*)|(\d+)-(\d+|\*))/(\d+|\*)$")


def _resume_incomplete(call: Call, received: int) -> HttpResponse:
    # Google's Go client (rclone's too) asks with "X-GUploader-No-308: yes" for a 200 that says
    # 308 in a header: to Go's HTTP client a real 308 is a redirect to follow.
    no_308 = call.request.headers.get("X-GUploader-No-308", "").lower() == "yes"
    response = HttpResponse(status=200 if no_308 else 308)
    if received:
        response["Range"] = f"bytes=0-{received - 1}"
    response["X-Http-Status-Code-Override"] = "308"
    return response


_QUANTUM = 256 * 1024


def _persisted_length(call: Call, session: Any, offset: int, length: int, total: Any) -> int:
    """How much of a chunk to keep, as GCS decides: all of a final chunk; of any other, a
    multiple of 256 KiB (the rest is dropped, and the 308's Range tells the client where to
    resume); a total that contradicts the declared size, or a body that does not match its
    Content-Range, is refused."""
    declared = session.expected_size
    if declared is not None and isinstance(total, int) and total != declared:
        raise errors.bad_request(
            f"The Content-Range total ({total}) does not match the size declared when the "
            f"upload started ({session.expected_size})."
        )
    body = call.request.META.get("CONTENT_LENGTH")
    if body and body.isdigit() and int(body) != length:
        raise errors.bad_request(
            f"Invalid request. There were {body} byte(s) in the request body. There should "
            f"have been {length} byte(s) (starting at offset {offset} and ending at offset "
            f"{offset + length - 1}) according to the Content-Range header."
        )
    if isinstance(total, int) and offset + length == total:
        return length  # the final chunk
    kept = length - length % _QUANTUM
    if kept == 0:
        raise errors.bad_request(
            "Invalid request. The number of bytes uploaded is required to be equal or greater "
            f"than {_QUANTUM}, except for the final request (it's recommended to be the exact "
            f"multiple of {_QUANTUM}). The received request contained {length} bytes, which "
            "does not meet this requirement."
        )
    return kept


def resumable_continue(call: Call, bucket: str) -> HttpResponse:
    found = call.bucket(bucket, write=True)
    upload_id = call.params.get("upload_id", "")
    if not upload_id:  # a PUT or DELETE that names no session: the client's mistake, not a 5xx
        raise errors.bad_request("upload_id is required to continue a resumable upload.")
    try:
        session = uploads.session_get(bucket=found, upload_id=upload_id)
    except uploads.SessionExpired:
        raise errors.ApiError(410, "The upload session has expired.", "gone") from None
    if call.request.method == "DELETE":
        uploads.session_cancel(session=session)
        return HttpResponse(status=499)

    done = uploads.session_object(session)
    if session.completed_generation is not None:
        if done is None:
            raise errors.not_found("The upload finished, but its object has since changed.")
        return _json(call, object_resource(done, call.request))

    header = call.request.headers.get("Content-Range", "").strip()
    stream = call.body_stream()
    body_longer = False
    if not header:  # the whole object in one request
        offset, length, total = 0, None, "end"
    else:
        match = _CONTENT_RANGE.match(header)
        if not match:
            raise errors.bad_request(f"Invalid Content-Range: {header!r}")
        status_only, first, last, size = match.groups()
        total = None if size == "*" else int(size)
        if status_only:
            if total is not None and session.received == total:
                return _finish(call, session)
            return _resume_incomplete(call, session.received)
        offset = int(first)
        if last == "*":  # Node streams to the end of its body, then expects the object
            length, total = None, "end"
        else:
            length = int(last) - offset + 1
            if length < 0 or (isinstance(total, int) and int(last) >= total):
                raise errors.bad_request(f"Invalid Content-Range: {header!r}")
            kept = _persisted_length(call, session, offset, length, total)
            body_longer, length = kept < length, kept
    try:
        session = uploads.session_append(
            session=session, offset=offset, stream=stream, length=length, body_longer=body_longer
        )
        if session.completed_generation is not None:  # a retried final chunk: already done
            return _finish(call, session)
    except uploads.OffsetMismatch as exc:
        raise errors.bad_request(str(exc)) from None
    except uploads.SizeMismatch as exc:
        raise errors.bad_request(str(exc)) from None
    if total == "end" or (isinstance(total, int) and session.received >= total):
        return _finish(call, session)
    return _resume_incomplete(call, session.received)


def _finish(call: Call, session: Any) -> HttpResponse:
    try:
        obj = uploads.session_finish(session=session, expected=_goog_hash(call))
    except uploads.SizeMismatch as exc:
        raise errors.bad_request(str(exc)) from None
    if obj is None:
        raise errors.not_found("The upload finished, but its object has since changed.")
    return _json(call, object_resource(obj, call.request))


# ---- copy, rewrite, compose ------------------------------------------------------------------


def object_copy(
    call: Call, bucket: str, object: str, verb: str, dbucket: str, dobject: str
) -> HttpResponse:
    source_bucket = call.bucket(bucket)
    destination = call.bucket(dbucket, write=True)
    body = call.json_body()
    overrides = {"contentType", "contentEncoding", "cacheControl", "metadata"} & set(body)
    obj = services.object_copy(
        source_bucket=source_bucket,
        source_name=object,
        bucket=destination,
        name=dobject,
        attributes=_attributes(body) if overrides else None,
        source_generation=_int_param(call, "sourceGeneration"),
        source_preconditions=_preconditions(call, "Source"),
        preconditions=_preconditions(call),
    )
    resource = object_resource(obj, call.request)
    if verb == "copyTo":
        return _json(call, resource)
    return _json(
        call,
        {
            "kind": "storage#rewriteResponse",
            "totalBytesRewritten": str(obj.size),
            "objectSize": str(obj.size),
            "done": True,
            "resource": resource,
        },
    )


def object_compose(call: Call, bucket: str, object: str) -> HttpResponse:
    found = call.bucket(bucket, write=True)
    body = call.json_body()
    raw_sources = body.get("sourceObjects")
    if not isinstance(raw_sources, list) or not raw_sources:
        raise errors.bad_request("sourceObjects must list at least one object.")
    if len(raw_sources) > services.MAX_COMPOSE_SOURCES:
        raise errors.bad_request(
            f"The number of source components provided ({len(raw_sources)}) exceeds the "
            f"maximum ({services.MAX_COMPOSE_SOURCES})."
        )
    sources = []
    for item in raw_sources:
        if not isinstance(item, dict) or not item.get("name"):
            raise errors.bad_request("Each source object needs a name.")
        conditions = item.get("objectPreconditions") or {}
        if not isinstance(conditions, dict):
            raise errors.bad_request("objectPreconditions must be an object.")
        try:
            sources.append(
                services.ComposeSource(
                    name=str(item["name"]),
                    generation=int(item["generation"]) if item.get("generation") else None,
                    if_generation_match=(
                        int(conditions["ifGenerationMatch"])
                        if conditions.get("ifGenerationMatch") is not None
                        else None
                    ),
                )
            )
        except (TypeError, ValueError):
            raise errors.bad_request("Source generations must be integers.") from None
    destination = body.get("destination") or {}
    if not isinstance(destination, dict):
        raise errors.bad_request("destination must be an object.")
    obj = services.object_compose(
        bucket=found,
        sources=sources,
        name=object,
        attributes=_attributes(destination),
        preconditions=_preconditions(call),
    )
    return _json(call, object_resource(obj, call.request))


# ---- routing ----------------------------------------------------------------------------------

Handler = Callable[..., HttpResponse]

_ROUTES: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
    (
        re.compile(rf"^/upload/storage/v1/b/(?P<bucket>{_SEGMENT})/o/?$"),
        {"POST": upload_insert, "PUT": resumable_continue, "DELETE": resumable_continue},
    ),
    (
        re.compile(rf"^/download/storage/v1/b/(?P<bucket>{_SEGMENT})/o/(?P<object>.+)$"),
        {"GET": lambda call, **kw: object_get(call, media=True, **kw)},
    ),
    (re.compile(rf"^{_JSON}/b/?$"), {"GET": bucket_list, "POST": bucket_insert}),
    (
        re.compile(rf"^{_JSON}/b/(?P<bucket>{_SEGMENT})/?$"),
        {"GET": bucket_get, "PATCH": bucket_patch, "PUT": bucket_patch, "DELETE": bucket_delete},
    ),
    (re.compile(rf"^{_JSON}/b/(?P<bucket>{_SEGMENT})/o/?$"), {"GET": objects_list}),
    (
        re.compile(
            rf"^{_JSON}/b/(?P<bucket>{_SEGMENT})/o/(?P<object>{_SEGMENT})/(?P<verb>copyTo|rewriteTo)"
            rf"/b/(?P<dbucket>{_SEGMENT})/o/(?P<dobject>{_SEGMENT})$"
        ),
        {"POST": object_copy},
    ),
    (
        re.compile(rf"^{_JSON}/b/(?P<bucket>{_SEGMENT})/o/(?P<object>{_SEGMENT})/compose$"),
        {"POST": object_compose},
    ),
    (
        re.compile(rf"^{_JSON}/b/(?P<bucket>{_SEGMENT})/o/(?P<object>{_SEGMENT})/restore$"),
        {"POST": object_restore},
    ),
    (
        re.compile(rf"^{_JSON}/b/(?P<bucket>{_SEGMENT})/o/(?P<object>.+)$"),
        {"GET": object_get, "PATCH": object_patch, "PUT": object_patch, "DELETE": object_delete},
    ),
]


def _raw_path(request: HttpRequest) -> str:
    """The path as the client sent it, still percent-encoded.

    gunicorn passes it as RAW_URI (uWSGI as REQUEST_URI). Other servers hand Django only the
    decoded path; re-encoding it is right for every name without '/', '?' or '%'.
    """
    raw = request.META.get("RAW_URI") or request.META.get("REQUEST_URI")
    if raw:
        path = (
            urlsplit(raw).path if raw.startswith(("http://", "https://")) else raw.split("?", 1)[0]
        )
        return path
    return quote(request.path, safe="/")


def _route(path: str) -> tuple[re.Match[str], dict[str, Handler]]:
    for pattern, methods in _ROUTES:
        if match := pattern.match(path):
            return match, methods
    raise errors.not_found("Not Found")


def _drain(request: HttpRequest) -> None:
    """Read what is left of the body, so a keep-alive connection stays in step."""
    stream = _body_stream(request)
    total = 0
    try:
        while total < _DRAIN_LIMIT and (data := stream.read(services.CHUNK_SIZE)):
            total += len(data)
    except OSError:
        pass


@csrf_exempt
def api(request: HttpRequest) -> HttpResponse:
    path = _raw_path(request)
    try:
        match, methods = _route(path)
        handler = methods.get(request.method or "")
        if handler is None:
            raise ApiError(405, f"Method {request.method} is not allowed here.", "methodNotAllowed")
        try:
            args = {
                key: unquote(value, errors="strict") for key, value in match.groupdict().items()
            }
            # Names are UTF-8: other bytes would all become U+FFFD and reach the same object.
            unquote_to_bytes(request.META.get("QUERY_STRING", "")).decode("utf-8")
        except UnicodeDecodeError:
            raise errors.bad_request("The URL is not valid UTF-8 once percent-decoded.") from None
        call = _authenticate(request, args.get("bucket"))
        return handler(call, **args)
    except ApiError as exc:
        response = exc.response()
    except services.ObjectNotFound as exc:
        response = errors.object_not_found(exc.bucket.bucket_id, exc.name).response()
    except services.PreconditionFailed:
        response = errors.precondition_failed().response()
    except InvalidObjectName as exc:
        response = errors.bad_request(" ".join(exc.messages)).response()
    except services.ObjectTooLarge as exc:
        response = ApiError(413, str(exc), "uploadTooLarge").response()
    except services.ChecksumMismatch as exc:
        response = errors.bad_request(str(exc)).response()
    except (services.UploadInterrupted, IncompleteBody) as exc:
        response = errors.bad_request(
            f"The request body did not arrive whole; nothing was stored. {exc}"
        ).response()
    except uploads.SessionNotFound:
        response = errors.not_found("No such upload session.").response()
    except services.InsufficientStorage as exc:
        response = ApiError(507, str(exc), "insufficientStorage").response()
    except services.QuotaExceeded as exc:
        response = ApiError(403, str(exc), "quotaExceeded").response()
    except services.BlobMissing as exc:
        logger.error("%s (objstore_check finds such objects)", exc)
        response = ApiError(500, str(exc), "backendError").response()
    except ValueError as exc:  # e.g. compose's source count
        response = errors.bad_request(str(exc)).response()
    except OperationalError as exc:
        if not services.is_disk_full(exc):
            raise
        response = ApiError(507, services.DISK_FULL, "insufficientStorage").response()
    if request.method in ("POST", "PUT", "PATCH"):
        _drain(request)
    return response


def _authenticate(request: HttpRequest, bucket_id: str | None) -> Call:
    """The caller's token, and with it (one query) the bucket the URL names, if any."""
    # META, not request.headers: that would build a dict of every header first.
    scheme, _, secret = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise errors.unauthorized()
    if bucket_id is None:
        token, named_bucket = token_authenticate(secret), None
    elif found := token_authenticate_for_bucket(secret, bucket_id):
        token, named_bucket = found[0], (bucket_id, found[1])
    else:
        token = None
    if token is None:
        raise ApiError(
            401, "Invalid Credentials", "authError", locationType="header", location="Authorization"
        )
    return Call(request=request, token=token, named_bucket=named_bucket)
