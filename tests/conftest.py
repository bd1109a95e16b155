import io
import os

import pytest
from django.contrib.auth.models import User
from django.test import Client

from buckets.models import Bucket
from buckets.services import bucket_create
from objects import services
from objects.backends import blobs
from objects.models import Object

from . import serverlogs
from .cloud import start_fake_gcs, start_moto, storage_settings

# Playwright's sync API runs an event loop in the test thread; Django's ORM would refuse to run
# beside it. The tests do not share connections across threads, so this is safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "correct horse battery staple"


# The backend the pane, API and service tests store bytes in: "file" (default), or "gcs" / "s3"
# against an emulator (.ci/run runs the pane and API suites once more with "gcs").
TEST_STORAGE = os.environ.get("OBJSTORE_TEST_STORAGE", "file")


@pytest.fixture(scope="session")
def cloud_emulator(tmp_path_factory):
    """fake-gcs-server or moto's S3 server when OBJSTORE_TEST_STORAGE asks for one."""
    if TEST_STORAGE == "file":
        yield None
        return
    starter = {"gcs": start_fake_gcs, "s3": start_moto}[TEST_STORAGE]
    emulator = starter(tmp_path_factory.mktemp(TEST_STORAGE))
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def fake_gcs(tmp_path_factory):
    emulator = start_fake_gcs(tmp_path_factory.mktemp("gcs"))
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory):
    emulator = start_moto(tmp_path_factory.mktemp("s3"))
    yield emulator
    emulator.stop()


def empty_storage() -> None:
    store = blobs()
    for key, _ in list(store.keys()):
        store.delete(key)


@pytest.fixture(autouse=True)
def blob_dir(settings, tmp_path, cloud_emulator):
    """Every test starts with an empty object storage (and cheap password hashing)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    location = tmp_path / "blobs"
    settings.STORAGES = {
        **settings.STORAGES,
        "objstore": storage_settings(TEST_STORAGE, cloud_emulator, location),
    }
    yield location
    if cloud_emulator is not None:
        empty_storage()


def stored_blobs(blob_dir=None) -> list[str]:
    """Every blob key in the object storage, whatever the backend."""
    return sorted(key for key, _ in blobs().keys())


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
def no_soft_delete(bucket) -> Bucket:
    """``bucket`` without soft delete (new buckets keep deleted objects for 7 days): a
    replaced or deleted object's bytes go at once."""
    bucket.soft_delete_seconds = 0
    bucket.save(update_fields=["soft_delete_seconds"])
    return bucket


@pytest.fixture
def other_bucket(alice) -> Bucket:
    return bucket_create(owner=alice, name="other")


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
    if database["ENGINE"] == "objstore_site.sqlite":
        name = tmp_path_factory.mktemp("db") / "test.sqlite3"
        database["TEST"] = {**database.get("TEST", {}), "NAME": str(name)}


# ---- a failed test's report shows the app servers' logs ----------------------------------------

_FIRST_SERVER = pytest.StashKey[int]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item.stash[_FIRST_SERVER] = len(serverlogs.STARTED)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """When a test fails (or errors in setup or teardown), add the last lines of the log of each
    gunicorn it used (the session's ``server`` fixture, or one it started itself) to its report,
    where pytest prints them under the failure."""
    report = yield
    if report.failed:
        since = item.stash.get(_FIRST_SERVER, len(serverlogs.STARTED))
        servers = serverlogs.servers_of(getattr(item, "funcargs", {}).values(), since)
        report.sections.extend(serverlogs.report_sections(servers))
    return report
