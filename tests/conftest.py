import io
import os

import pytest
from django.contrib.auth.models import User
from django.test import Client

from buckets.models import Bucket
from buckets.services import bucket_create
from objects import services
from objects.models import Object

# Playwright's sync API runs an event loop in the test thread; Django's ORM would refuse to run
# beside it. The tests do not share connections across threads, so this is safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def blob_dir(settings, tmp_path):
    """Every test gets its own, empty blob directory (and cheap password hashing)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    location = tmp_path / "blobs"
    settings.STORAGES = {
        **settings.STORAGES,
        "objstore": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }
    return location


def stored_blobs(blob_dir) -> list[str]:
    """Every blob file on disk, relative to the blob directory."""
    if not blob_dir.exists():
        return []
    return sorted(str(p.relative_to(blob_dir)) for p in blob_dir.rglob("*") if p.is_file())


@pytest.fixture
def alice(db) -> User:
    return User.objects.create_user("alice", "alice@example.org", PASSWORD)


@pytest.fixture
def charlie(db) -> User:
    return User.objects.create_user("charlie", "charlie@example.org", PASSWORD)


@pytest.fixture
def bucket(alice) -> Bucket:
    return bucket_create(owner=alice, name="photos")


@pytest.fixture
def alice_client(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def charlie_client(charlie) -> Client:
    client = Client()
    client.force_login(charlie)
    return client


def put(bucket: Bucket, name: str, data: bytes = b"x", content_type: str | None = None) -> Object:
    return services.object_upload(
        bucket=bucket, name=name, stream=io.BytesIO(data), content_type=content_type
    )


def read(obj: Object) -> bytes:
    with services.object_open(obj) as handle:
        return handle.read()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """On SQLite, keep the test database in a file (not in memory), so that the app servers the
    API tests start in other processes share it with the test."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        name = tmp_path_factory.mktemp("db") / "test.sqlite3"
        database["TEST"] = {**database.get("TEST", {}), "NAME": str(name)}
