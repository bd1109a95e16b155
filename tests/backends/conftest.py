import pytest

from ..cloud import storage_settings


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
