"""MinioStore specifics: a down server fails fast; signatures and credentials are really checked."""

from __future__ import annotations

import io
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from media_pipeline import MinioStore, ObjectStore, StorageUnavailable


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_down_minio_raises_storage_unavailable_within_seconds() -> None:
    endpoint = f"127.0.0.1:{closed_port()}"
    store = MinioStore(endpoint, "access", "secret-key", "lms-down")
    operations: list[Callable[[], Any]] = [
        store.ping,
        store.ensure_bucket,
        lambda: store.put("a/b.bin", b"x"),
        lambda: store.read("a/b.bin"),
        lambda: store.open("a/b.bin"),
        lambda: store.read_range("a/b.bin", 0, 1),
        lambda: store.stat("a/b.bin"),
        lambda: store.exists("a/b.bin"),
        lambda: store.delete("a/b.bin"),
        lambda: store.delete_prefix("a/"),
        lambda: list(store.list("a/")),
        lambda: store.presigned_get_url("a/b.bin", timedelta(minutes=5)),  # needs the bucket's region
    ]
    for operation in operations:
        started = time.monotonic()
        with pytest.raises(StorageUnavailable) as caught:
            operation()
        assert time.monotonic() - started < 5
        assert endpoint in str(caught.value)
        assert "refused" in str(caught.value).lower()


def test_presigning_with_a_known_region_needs_no_server() -> None:
    store = MinioStore(f"127.0.0.1:{closed_port()}", "access", "secret-key", "lms", region="us-east-1")

    url = store.presigned_get_url("hls/360p/seg_00001.ts", timedelta(hours=12))

    assert url is not None
    assert "/lms/hls/360p/seg_00001.ts?" in url
    assert "X-Amz-Signature=" in url


@pytest.fixture
def minio(minio_settings: dict[str, Any]) -> MinioStore:
    return MinioStore(**minio_settings)


def test_wrong_credentials_make_ping_fail_with_a_reason(minio_settings: dict[str, Any]) -> None:
    store = MinioStore(**{**minio_settings, "secret_key": "not-the-secret"})

    with pytest.raises(StorageUnavailable, match=minio_settings["endpoint"]) as caught:
        store.ping()
    assert "SignatureDoesNotMatch" in str(caught.value)


def test_a_tampered_presigned_url_is_refused(minio: ObjectStore) -> None:
    minio.put("private/file.bin", b"secret")
    url = minio.presigned_get_url("private/file.bin", timedelta(minutes=5))
    assert url is not None
    signature = url.rsplit("X-Amz-Signature=", 1)[1]
    tampered = url.replace(signature, signature[::-1])

    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(tampered, timeout=10)
    assert caught.value.code == 403
    caught.value.close()
    minio.delete("private/file.bin")


def test_an_upload_of_unknown_length_is_multipart(minio: ObjectStore) -> None:
    size = 17 * 1024 * 1024

    info = minio.put("big/zeros.bin", io.BytesIO(bytes(size)))  # no length given

    assert info.size == size
    assert info.etag.endswith("-2")  # two 16 MiB parts
    minio.delete("big/zeros.bin")
