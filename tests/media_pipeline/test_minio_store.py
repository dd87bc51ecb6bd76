"""MinioStore specifics: a down server fails fast; signatures and credentials are really checked."""

from __future__ import annotations

import io
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

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
        lambda: store.create_multipart("a/b.bin"),
        lambda: store.put_part("a/b.bin", "upload-id", 1, b"x", 1),
        lambda: store.list_parts("a/b.bin", "upload-id"),
        lambda: store.complete_multipart("a/b.bin", "upload-id", [(1, "0" * 32)]),
        lambda: store.abort_multipart("a/b.bin", "upload-id"),
        lambda: list(store.list_multipart_uploads()),
    ]
    for operation in operations:
        started = time.monotonic()
        with pytest.raises(StorageUnavailable) as caught:
            operation()
        assert time.monotonic() - started < 5
        assert endpoint in str(caught.value)
        assert "refused" in str(caught.value).lower()


def test_presigning_needs_no_server() -> None:
    store = MinioStore(f"127.0.0.1:{closed_port()}", "access", "secret-key", "lms")  # region us-east-1

    url = store.presigned_get_url("hls/360p/seg_00001.ts", timedelta(hours=12))
    part_url = store.presigned_part_url("uploads/1/v.mp4", "upload-id", 3, timedelta(hours=1))

    assert url is not None
    assert url.startswith(f"http://{store.endpoint}/lms/hls/360p/seg_00001.ts?")
    assert "X-Amz-Signature=" in url
    assert "%2Fus-east-1%2Fs3%2F" in url
    assert part_url is not None
    query = parse_qs(urlsplit(part_url).query)
    assert (query["uploadId"], query["partNumber"], query["X-Amz-Expires"]) == (
        ["upload-id"],
        ["3"],
        ["3600"],
    )


def signed_query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def test_presigned_urls_are_for_the_public_endpoint() -> None:
    store = MinioStore(
        "minio.internal:9000",
        "access",
        "secret-key",
        "lms",
        public_endpoint="media.example.cn",
        public_secure=True,
    )
    url = store.presigned_get_url("hls/a.ts", timedelta(hours=12))
    part_url = store.presigned_part_url("uploads/a.mp4", "upload-id", 1, timedelta(hours=1))

    assert url is not None
    assert part_url is not None
    assert url.startswith("https://media.example.cn/lms/hls/a.ts?")
    assert part_url.startswith("https://media.example.cn/lms/uploads/a.mp4?")
    plain = MinioStore("minio.internal:9000", "access", "secret-key", "lms", secure=True)
    assert (plain.presigned_get_url("hls/a.ts", timedelta(hours=1)) or "").startswith(
        "https://minio.internal:9000/lms/hls/a.ts?"
    )


def test_presigned_get_urls_are_the_same_within_the_hour() -> None:
    store = MinioStore("127.0.0.1:9", "access", "secret-key", "lms")
    expires = timedelta(hours=12)

    while True:
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        first = store.presigned_get_url("hls/360p/seg_00001.m4s", expires)
        second = store.presigned_get_url("hls/360p/seg_00001.m4s", expires)
        if datetime.now(UTC) < hour + timedelta(hours=1):
            break  # (else the hour turned between the calls: try again)

    assert first is not None
    assert first == second
    query = signed_query(first)
    assert query["X-Amz-Date"] == hour.strftime("%Y%m%dT%H%M%SZ")
    # Valid until the hour's start + 13 h: at least 12 h from now, whatever the minute.
    assert query["X-Amz-Expires"] == str(int((expires + timedelta(hours=1)).total_seconds()))
    assert store.presigned_get_url("hls/360p/seg_00002.m4s", expires) != first


def test_presigned_get_urls_near_the_seven_day_limit_are_dated_now() -> None:
    store = MinioStore("127.0.0.1:9", "access", "secret-key", "lms")
    before = datetime.now(UTC).replace(microsecond=0)

    url = store.presigned_get_url("a.bin", timedelta(days=7))

    assert url is not None
    query = signed_query(url)
    assert query["X-Amz-Expires"] == "604800"
    signed = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert before <= signed <= datetime.now(UTC)
    for wrong in (timedelta(days=8), timedelta(0), timedelta(seconds=-5)):
        with pytest.raises(ValueError, match="7 days"):
            store.presigned_get_url("a.bin", wrong)


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


def test_presigned_get_url_fetches_the_bytes_and_is_stable(minio: MinioStore) -> None:
    minio.put("hls/1/seg_00001.m4s", b"segment bytes", content_type="video/iso.segment")

    url = minio.presigned_get_url("hls/1/seg_00001.m4s", timedelta(hours=12))

    assert url is not None
    assert url == minio.presigned_get_url("hls/1/seg_00001.m4s", timedelta(hours=12)) or (
        datetime.now(UTC).minute == 0  # the hour may just have turned
    )
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"segment bytes"
    minio.delete("hls/1/seg_00001.m4s")


def test_a_url_signed_for_one_host_is_refused_on_another(minio_settings: dict[str, Any]) -> None:
    port = minio_settings["endpoint"].rsplit(":", 1)[1]
    public = MinioStore(**minio_settings, public_endpoint=f"localhost:{port}")  # the browser's name for it
    public.put("private/host.bin", b"for localhost")

    url = public.presigned_get_url("private/host.bin", timedelta(minutes=5))

    assert url is not None
    assert url.startswith(f"http://localhost:{port}/")
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"for localhost"
    with pytest.raises(urllib.error.HTTPError) as caught:  # the Host header is part of the signature
        urllib.request.urlopen(url.replace("//localhost:", "//127.0.0.1:"), timeout=10)
    assert caught.value.code == 403
    caught.value.close()
    public.delete("private/host.bin")


ORIGIN = "https://lms.example.cn"


def exposed(headers: Any) -> set[str]:
    return {name.strip().lower() for name in (headers["Access-Control-Expose-Headers"] or "").split(",")}


def test_cors_lets_a_browser_upload_parts_and_read_their_etags(minio: MinioStore) -> None:
    """MinIO answers CORS server-wide (MINIO_API_CORS_ALLOW_ORIGIN, default '*': the Origin is echoed)
    and exposes ETag, which the uploader needs to complete the upload."""
    upload_id = minio.create_multipart("uploads/cors.bin")
    url = minio.presigned_part_url("uploads/cors.bin", upload_id, 1, timedelta(hours=1))
    assert url is not None
    preflight = urllib.request.Request(
        url,
        method="OPTIONS",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    with urllib.request.urlopen(preflight, timeout=10) as response:
        assert response.status in (200, 204)
        assert response.headers["Access-Control-Allow-Origin"] in (ORIGIN, "*")
        assert "PUT" in response.headers["Access-Control-Allow-Methods"]
        assert "content-type" in response.headers["Access-Control-Allow-Headers"].lower()

    put = urllib.request.Request(
        url,
        data=b"part",
        method="PUT",
        headers={"Origin": ORIGIN, "Content-Type": "application/octet-stream"},
    )
    with urllib.request.urlopen(put, timeout=10) as response:
        assert response.headers["Access-Control-Allow-Origin"] in (ORIGIN, "*")
        assert "etag" in exposed(response.headers)
        etag = response.headers["ETag"].strip('"')
    minio.complete_multipart("uploads/cors.bin", upload_id, [(1, etag)])

    get_url = minio.presigned_get_url("uploads/cors.bin", timedelta(hours=1))
    assert get_url is not None
    with urllib.request.urlopen(
        urllib.request.Request(get_url, headers={"Origin": ORIGIN}), timeout=10
    ) as response:
        assert response.read() == b"part"
        assert response.headers["Access-Control-Allow-Origin"] in (ORIGIN, "*")
        assert {"etag", "content-length", "content-range"} <= exposed(response.headers)
    minio.delete("uploads/cors.bin")


def test_the_presigned_url_memo_forgets_the_last_hour() -> None:
    store = MinioStore("127.0.0.1:9", "access", "secret-key", "lms")
    expires = timedelta(hours=12)
    fresh = store.presigned_get_url("hls/a.m4s", expires)
    last_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    store._presigned = {None: last_hour, ("hls/a.m4s", expires): "from the last hour"}

    assert store.presigned_get_url("hls/a.m4s", expires) == fresh or datetime.now(UTC).minute == 0
    assert store.presigned_get_url("hls/a.m4s", timedelta(hours=2)) != fresh  # expiry is part of the key
