import pytest

from ..cloud import start_fake_gcs, start_moto, storage_settings


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


@pytest.fixture(params=["file", "gcs", "s3"])
def backend(request, settings, blob_dir):
    """Run the test once per storage backend."""
    emulator = {"file": None, "gcs": "fake_gcs", "s3": "moto_s3"}[request.param]
    settings.STORAGES = {
        **settings.STORAGES,
        "objstore": storage_settings(
            request.param, request.getfixturevalue(emulator) if emulator else None, blob_dir
        ),
    }
    return request.param
