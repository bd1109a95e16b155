"""Storage backends for object bytes, and the streaming operations the service layer needs.

Django's Storage API is enough to *configure* a backend, but not to stream it: django-storages'
GCS ``open()`` downloads a whole object into a spooled file, and ``save()`` wants a seekable
file of known size. So the service layer talks to a ``Blobs`` adapter that uses each backend's
own streaming calls: local files (with sendfile-friendly handles), google-cloud-storage's
resumable uploads and ranged ``BlobReader``, and boto3's multipart ``upload_fileobj`` and
streaming ``get_object``. Every transfer moves bounded chunks; none holds an object in memory.
"""

import errno
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Protocol

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage, storages

# Chunk size for cloud transfers: what one resumable or multipart request carries, and the
# most a transfer holds in memory. GCS wants a multiple of 256 KiB; S3 parts must be >= 5 MiB.
CLOUD_CHUNK = 8 * 1024 * 1024
# S3 copies an object of up to this size in one CopyObject call, a bigger one in parts of it
# (CopyObject itself stops at 5 GB).
COPY_PART = 1024 * 1024 * 1024

# Request bodies are read in larger steps: every read goes through gunicorn's body reader,
# which copies what it received several times over, and each step costs the same Python
# overhead whatever its size (measured with curl on 2 cores: 256 KiB reads ~240 MiB/s,
# 4 MiB ~360-390 MiB/s, against 290-370 for 1 MiB reads, alternated runs). An upload holds at
# most three such chunks (see services._BackgroundMd5), plus gunicorn's copies of the one read.
UPLOAD_CHUNK = 4 * 1024 * 1024


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _FullReads:
    """Makes every ``read(n)`` return n bytes unless the stream has ended.

    google-resumable-media and boto3 take a short read for the end of the stream, but network
    bodies and readers that join several blobs return short reads all the time.
    """

    def __init__(self, source: Readable) -> None:
        self._source = source
        self._position = 0

    def tell(self) -> int:
        return self._position

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1, /) -> bytes:
        if size is None or size < 0:
            size = CLOUD_CHUNK
        pieces, wanted = [], size
        while wanted > 0:
            data = self._source.read(wanted)
            if not data:
                break
            pieces.append(data)
            wanted -= len(data)
        data = b"".join(pieces)
        self._position += len(data)
        return data


class Blobs:
    """Streaming blob operations over one Storage."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def write(self, key: str, reader: Readable) -> None:
        raise NotImplementedError

    def open(self, key: str, start: int = 0) -> IO[bytes]:
        """A reader of the blob's bytes from ``start``; raises FileNotFoundError if missing."""
        raise NotImplementedError

    def delete(self, key: str) -> None:
        """Remove the blob; a missing blob is not an error."""
        raise NotImplementedError

    def size(self, key: str) -> int:
        raise NotImplementedError

    def keys(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        """Every blob key (under ``prefix``) with its last-modified time."""
        raise NotImplementedError

    def copy(self, source_key: str, key: str) -> bool:
        """Make the new blob ``key`` a copy of ``source_key`` inside the storage, without its
        bytes passing through this process. False where the storage cannot (the caller streams
        the bytes instead); FileNotFoundError when the source is gone."""
        return False

    def local_path(self, key: str) -> Path | None:
        """Where the blob lives on local disk, if it does (resumable uploads append in place)."""
        return None


class FileSystemBlobs(Blobs):
    storage: FileSystemStorage

    def write(self, key: str, reader: Readable) -> None:
        # Not Storage.save(): a blob key is new by construction (O_EXCL checks it), so save()'s
        # free-name search, file lock and chmod only cost (~0.1 ms of a 4 KiB upload).
        path = self.storage.path(key)
        try:
            fd = self._create(path)
        except FileNotFoundError:
            self._make_directories(os.path.dirname(path))
            fd = self._create(path)
        try:
            with os.fdopen(fd, "wb") as handle:
                while data := reader.read(UPLOAD_CHUNK):
                    handle.write(data)
                if settings.OBJSTORE_FSYNC:
                    handle.flush()
                    os.fsync(handle.fileno())
        except BaseException:
            # The file is ours (O_EXCL made it): a write that failed leaves nothing behind.
            try:
                os.unlink(path)
            except OSError:
                pass
            raise
        if settings.OBJSTORE_FSYNC:  # and the directory entry that names it
            _fsync_directory(os.path.dirname(path))

    def copy(self, source_key: str, key: str) -> bool:
        # A hard link: blobs are never changed once written (a replace writes a new key), so
        # two keys may share the bytes; deleting one key leaves the other's.
        source, path = self.storage.path(source_key), self.storage.path(key)
        try:
            os.link(source, path)
        except FileNotFoundError:
            if not os.path.exists(source):
                raise
            self._make_directories(os.path.dirname(path))
            os.link(source, path)
        except OSError as exc:
            if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP):
                return False  # a filesystem without (more) hard links: stream the bytes
            raise
        # A link keeps the source's mtime; objstore_gc spares unreferenced blobs by how new
        # they are, so the new key must look new until its row is committed.
        os.utime(path)
        if settings.OBJSTORE_FSYNC:
            _fsync_directory(os.path.dirname(path))
        return True

    def _make_directories(self, directory: str) -> None:
        # Each missing level with the storage's mode (os.makedirs gives it to the last only).
        mode = self.storage.directory_permissions_mode or 0o777
        missing = []
        while not os.path.isdir(directory):
            missing.append(directory)
            directory = os.path.dirname(directory)
        for level in reversed(missing):
            try:
                os.mkdir(level, mode)
            except FileExistsError:  # another upload made it meanwhile
                continue
            if settings.OBJSTORE_FSYNC:  # the new directory's own name, too
                _fsync_directory(os.path.dirname(level))

    def _create(self, path: str) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        return os.open(path, flags, self.storage.file_permissions_mode or 0o666)

    def open(self, key: str, start: int = 0) -> IO[bytes]:
        handle = open(self.storage.path(key), "rb")  # a real file: gunicorn can sendfile it
        if start:
            handle.seek(start)
        return handle

    def delete(self, key: str) -> None:
        self.storage.delete(key)

    def size(self, key: str) -> int:
        return os.path.getsize(self.storage.path(key))

    def keys(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        root = Path(self.storage.location)
        for path in sorted((root / prefix).rglob("*") if (root / prefix).exists() else []):
            if path.is_file():
                key = path.relative_to(root).as_posix()
                yield key, datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)

    def local_path(self, key: str) -> Path | None:
        return Path(self.storage.path(key))


def _fsync_directory(path: str) -> None:
    directory = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class GoogleCloudBlobs(Blobs):
    def write(self, key: str, reader: Readable) -> None:
        blob = self.storage.bucket.blob(key, chunk_size=CLOUD_CHUNK)
        # No size: a resumable upload that sends one CLOUD_CHUNK at a time.
        # if_generation_match=0: the key is new, so the upload is safe to repeat, and
        # google-cloud-storage then retries a chunk whose connection failed (a pooled
        # connection the server had closed, say) instead of failing the whole write.
        blob.upload_from_file(
            _FullReads(reader),
            content_type="application/octet-stream",
            checksum=None,
            if_generation_match=0,
        )

    def open(self, key: str, start: int = 0) -> IO[bytes]:
        from google.api_core.exceptions import NotFound

        blob = self.storage.bucket.blob(key)
        try:
            handle = blob.open("rb", chunk_size=CLOUD_CHUNK)
        except NotFound:
            raise FileNotFoundError(key) from None
        if start:
            handle.seek(start)
        return handle

    def copy(self, source_key: str, key: str) -> bool:
        # GCS's rewrite: the bytes are copied by GCS; a big object takes several calls.
        from google.api_core.exceptions import NotFound

        bucket = self.storage.bucket
        source, target = bucket.blob(source_key), bucket.blob(key)
        token = None
        try:
            while True:
                token, _, _ = target.rewrite(source, token=token, if_generation_match=0)
                if token is None:
                    return True
        except NotFound:
            raise FileNotFoundError(source_key) from None

    def delete(self, key: str) -> None:
        from google.api_core.exceptions import NotFound

        try:
            self.storage.bucket.blob(key).delete()
        except NotFound:
            pass

    def size(self, key: str) -> int:
        blob = self.storage.bucket.get_blob(key)
        if blob is None:
            raise FileNotFoundError(key)
        return blob.size

    def keys(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        for blob in self.storage.client.list_blobs(self.storage.bucket, prefix=prefix or None):
            yield blob.name, blob.updated


class S3Blobs(Blobs):
    @property
    def _client(self):
        return self.storage.connection.meta.client

    def write(self, key: str, reader: Readable) -> None:
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(
            multipart_threshold=CLOUD_CHUNK,
            multipart_chunksize=CLOUD_CHUNK,
            use_threads=False,  # one part in memory at a time, read in order
        )
        self._client.upload_fileobj(
            _FullReads(reader), self.storage.bucket_name, key, Config=config
        )

    def open(self, key: str, start: int = 0) -> IO[bytes]:
        from botocore.exceptions import ClientError

        extra = {"Range": f"bytes={start}-"} if start else {}
        try:
            response = self._client.get_object(Bucket=self.storage.bucket_name, Key=key, **extra)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(key) from None
            raise
        return response["Body"]

    def copy(self, source_key: str, key: str) -> bool:
        # S3's copy: CopyObject, or a multipart copy past the threshold (objects over 5 GB).
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import ClientError

        config = TransferConfig(multipart_threshold=COPY_PART, multipart_chunksize=COPY_PART)
        source = {"Bucket": self.storage.bucket_name, "Key": source_key}
        try:
            # A fresh checksum of the whole copy: a multipart source's is one of its parts',
            # which readers of the copy could not check its bytes against.
            self._client.copy(
                source,
                self.storage.bucket_name,
                key,
                ExtraArgs={"ChecksumAlgorithm": "CRC32"},
                Config=config,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(source_key) from None
            raise
        return True

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.storage.bucket_name, Key=key)

    def size(self, key: str) -> int:
        from botocore.exceptions import ClientError

        try:
            head = self._client.head_object(Bucket=self.storage.bucket_name, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(key) from None
            raise
        return head["ContentLength"]

    def keys(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.storage.bucket_name, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item["Key"], item["LastModified"]


def blobs() -> Blobs:
    """The adapter for the configured object storage (``STORAGES["objstore"]``)."""
    storage = storages["objstore"]
    if isinstance(storage, FileSystemStorage):
        return FileSystemBlobs(storage)
    from storages.backends.gcloud import GoogleCloudStorage as DjangoStoragesGCS
    from storages.backends.s3 import S3Storage

    if isinstance(storage, DjangoStoragesGCS):
        return GoogleCloudBlobs(storage)
    if isinstance(storage, S3Storage):
        return S3Blobs(storage)
    raise TypeError(f"objstore cannot stream {type(storage).__name__}; use file, gcs or s3")


try:
    from storages.backends.gcloud import GoogleCloudStorage as _DjangoStoragesGCS
except ImportError:  # pragma: no cover - django-storages[google] is in requirements.txt
    _DjangoStoragesGCS = object  # type: ignore[assignment,misc]


class GoogleCloudStorage(_DjangoStoragesGCS):  # type: ignore[misc,valid-type]
    """django-storages' GCS backend that can also talk to another endpoint (an emulator such as
    fake-gcs-server, or a private endpoint); django-storages always uses Google's."""

    def __init__(self, endpoint: str = "", **settings: object) -> None:
        self.endpoint = endpoint
        super().__init__(**settings)

    @property
    def client(self):  # type: ignore[override]
        if self._client is None and self.endpoint:
            from google.auth.credentials import AnonymousCredentials
            from google.cloud.storage import Client

            self._client = Client(
                project=self.project_id or "objstore",
                credentials=self.credentials or AnonymousCredentials(),
                client_options={"api_endpoint": self.endpoint},
            )
        return super().client
