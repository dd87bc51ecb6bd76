"""Store fixtures: every contract test runs once on LocalStore and once on a real MinIO.

MinIO comes from LMS_MINIO_ENDPOINT / LMS_MINIO_ACCESS_KEY / LMS_MINIO_SECRET_KEY. Each session uses its
own bucket (lms-test-<random>), removed at the end.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from media_pipeline import LocalStore, MinioStore, ObjectStore, StorageUnavailable
from tests.service_guard import env, need_service


@pytest.fixture(scope="session")
def minio_settings() -> Iterator[dict[str, Any]]:
    """Settings for MinioStore with a bucket made for this session; skips (locally) without MinIO."""
    endpoint = env("LMS_MINIO_ENDPOINT")
    access_key = env("LMS_MINIO_ACCESS_KEY")
    secret_key = env("LMS_MINIO_SECRET_KEY")
    need_service(
        "minio",
        available=bool(endpoint and access_key and secret_key),
        why="set LMS_MINIO_ENDPOINT, LMS_MINIO_ACCESS_KEY and LMS_MINIO_SECRET_KEY",
    )
    settings = {
        "endpoint": endpoint,
        "access_key": access_key,
        "secret_key": secret_key,
        "bucket": f"lms-test-{secrets.token_hex(4)}",
    }
    try:
        MinioStore(**settings).ensure_bucket()
    except StorageUnavailable as exc:
        need_service("minio", available=False, why=str(exc))
    yield settings
    remove_bucket(settings, settings["bucket"])


def remove_bucket(settings: dict[str, Any], bucket: str) -> None:
    """Delete a test bucket and everything in it (with the SDK, not the code under test)."""
    client = Minio(settings["endpoint"], settings["access_key"], settings["secret_key"], secure=False)
    try:
        abort_uploads(client, bucket)
        names = [obj.object_name for obj in client.list_objects(bucket, recursive=True)]
        errors = list(client.remove_objects(bucket, [DeleteObject(name) for name in names]))
        assert not errors, errors
        client.remove_bucket(bucket)
    except S3Error as exc:
        if exc.code != "NoSuchBucket":
            raise


def abort_uploads(client: Minio, bucket: str) -> None:
    """Abort the multipart uploads a test left behind (the SDK has no public call for this)."""
    for upload in client._list_multipart_uploads(bucket).uploads:
        client._abort_multipart_upload(bucket, upload.object_name, upload.upload_id)


@pytest.fixture(params=["local", "minio"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ObjectStore]:
    """A ready, empty store; emptied again after the test."""
    if backend == "local":
        local = LocalStore(tmp_path / "store")
        local.ensure_bucket()
        yield local
        return
    settings = request.getfixturevalue("minio_settings")
    minio = MinioStore(**settings)
    yield minio
    for info in list(minio.list()):
        minio.delete(info.key)
    client = Minio(settings["endpoint"], settings["access_key"], settings["secret_key"], secure=False)
    abort_uploads(client, settings["bucket"])


@pytest.fixture
def fresh_store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ObjectStore]:
    """A store on the same backend whose bucket (directory) does not exist yet."""
    if backend == "local":
        yield LocalStore(tmp_path / "fresh")
        return
    settings = request.getfixturevalue("minio_settings")
    bucket = f"{settings['bucket']}-fresh"
    yield MinioStore(**{**settings, "bucket": bucket})
    remove_bucket(settings, bucket)
