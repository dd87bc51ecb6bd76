"""Multipart uploads, upload_file and download_file: the same assertions on LocalStore and real MinIO.

LocalStore enforces S3's rules itself, so an uploader that works on one store works on the other.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from media_pipeline import InvalidKey, LocalStore, ObjectNotFound, ObjectStore
from media_pipeline.errors import InvalidUpload, UploadNotFound
from media_pipeline.storage import (
    MAX_PARTS,
    MIN_PART_SIZE,
    MinioStore,
    MultipartUpload,
    UploadedPart,
)

KEY = "uploads/7/lecture.mp4"
FIRST = bytes(range(256)) * (MIN_PART_SIZE // 256)  # exactly the minimum part size
SECOND = b"second part " * 1000
LAST = b"the end"


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def s3_etag(*parts: bytes) -> str:
    """S3's ETag of a completed multipart upload."""
    digests = b"".join(hashlib.md5(part, usedforsecurity=False).digest() for part in parts)
    return f"{md5(digests)}-{len(parts)}"


def test_upload_in_parts_and_complete(store: ObjectStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    upload_id = store.create_multipart(KEY, "video/mp4")

    one = store.put_part(KEY, upload_id, 1, io.BytesIO(FIRST), len(FIRST))
    two = store.put_part(KEY, upload_id, 2, LAST, len(LAST))  # bytes work too

    assert one == UploadedPart(1, md5(FIRST), len(FIRST))
    assert two == UploadedPart(2, md5(LAST), len(LAST))
    assert store.list_parts(KEY, upload_id) == [one, two]
    assert not store.exists(KEY)  # nothing to see before completion
    assert list(store.list()) == []

    info = store.complete_multipart(KEY, upload_id, [(1, one.etag), (2, two.etag)])

    assert (info.key, info.size, info.etag, info.content_type) == (
        KEY,
        len(FIRST) + len(LAST),
        s3_etag(FIRST, LAST),
        "video/mp4",
    )
    assert before <= info.last_modified <= datetime.now(UTC) + timedelta(seconds=5)
    stat = store.stat(KEY)
    assert (stat.size, stat.etag, stat.content_type) == (info.size, info.etag, info.content_type)
    assert store.read(KEY) == FIRST + LAST
    assert [found.key for found in store.list()] == [KEY]
    assert list(store.list_multipart_uploads()) == []


def test_a_completed_upload_is_gone(store: ObjectStore) -> None:
    upload_id = store.create_multipart(KEY)
    part = store.put_part(KEY, upload_id, 1, LAST, len(LAST))
    info = store.complete_multipart(KEY, upload_id, [(1, part.etag)])

    assert info.content_type == "application/octet-stream"
    assert info.etag == s3_etag(LAST)
    with pytest.raises(UploadNotFound):  # completing twice: as S3
        store.complete_multipart(KEY, upload_id, [(1, part.etag)])
    with pytest.raises(UploadNotFound):
        store.put_part(KEY, upload_id, 2, b"late", 4)
    with pytest.raises(UploadNotFound):
        store.list_parts(KEY, upload_id)
    store.abort_multipart(KEY, upload_id)  # no error, and the object stays
    assert store.read(KEY) == LAST


def test_sending_a_part_again_replaces_it(store: ObjectStore) -> None:
    upload_id = store.create_multipart(KEY)
    store.put_part(KEY, upload_id, 1, b"first try", 9)

    again = store.put_part(KEY, upload_id, 1, b"second", 6)

    assert store.list_parts(KEY, upload_id) == [again]
    store.complete_multipart(KEY, upload_id, [(1, again.etag)])
    assert store.read(KEY) == b"second"


def test_part_numbers_may_have_gaps_and_unlisted_parts_are_dropped(store: ObjectStore) -> None:
    upload_id = store.create_multipart(KEY)
    three = store.put_part(KEY, upload_id, 3, LAST, len(LAST))  # sent out of order
    one = store.put_part(KEY, upload_id, 1, FIRST, len(FIRST))
    store.put_part(KEY, upload_id, 2, SECOND, len(SECOND))
    assert [part.number for part in store.list_parts(KEY, upload_id)] == [1, 2, 3]

    info = store.complete_multipart(KEY, upload_id, [(1, f'"{one.etag}"'), (3, three.etag.upper())])

    assert store.read(KEY) == FIRST + LAST
    assert info.etag == s3_etag(FIRST, LAST)


def test_invalid_completions_keep_the_upload(store: ObjectStore) -> None:
    upload_id = store.create_multipart(KEY)
    one = store.put_part(KEY, upload_id, 1, SECOND, len(SECOND))  # too small to be a non-last part
    two = store.put_part(KEY, upload_id, 2, FIRST, len(FIRST))
    three = store.put_part(KEY, upload_id, 3, LAST, len(LAST))

    for parts in [
        [],  # nothing
        [(1, one.etag), (2, two.etag)],  # part 1 is smaller than 5 MiB and not the last
        [(2, two.etag), (4, md5(b"never sent"))],  # a missing part
        [(2, md5(b"other bytes")), (3, three.etag)],  # another part's ETag
        [(3, three.etag), (2, two.etag)],  # not ascending
        [(2, two.etag), (2, two.etag)],  # twice
        [(0, one.etag)],
        [(MAX_PARTS + 1, one.etag)],
    ]:
        with pytest.raises(InvalidUpload):
            store.complete_multipart(KEY, upload_id, parts)

    assert store.list_parts(KEY, upload_id) == [one, two, three]  # still in progress
    assert not store.exists(KEY)
    store.complete_multipart(KEY, upload_id, [(2, two.etag), (3, three.etag)])
    assert store.read(KEY) == FIRST + LAST


def test_bad_part_numbers_and_lengths(store: ObjectStore) -> None:
    upload_id = store.create_multipart(KEY)

    for number in (0, -1, MAX_PARTS + 1, True):
        with pytest.raises(InvalidUpload):
            store.put_part(KEY, upload_id, number, b"x", 1)
        with pytest.raises(InvalidUpload):
            store.presigned_part_url(KEY, upload_id, number, timedelta(hours=1))
    with pytest.raises(InvalidUpload):  # the stream ends early
        store.put_part(KEY, upload_id, 1, io.BytesIO(b"short"), 10)
    with pytest.raises(InvalidUpload):
        store.put_part(KEY, upload_id, 1, b"short", 10)
    with pytest.raises(InvalidUpload):
        store.put_part(KEY, upload_id, 1, b"", -1)

    assert store.list_parts(KEY, upload_id) == []  # nothing half-written
    assert store.put_part(KEY, upload_id, MAX_PARTS, io.BytesIO(b"0123456789"), 4).size == 4
    assert store.list_parts(KEY, upload_id) == [UploadedPart(MAX_PARTS, md5(b"0123"), 4)]


UNKNOWN_IDS = ["", "nope", "../../objects/uploads/7/lecture.mp4", "a/b", "." * 40, "A" * 32, "x\n"]


@pytest.mark.parametrize("upload_id", UNKNOWN_IDS)
def test_unknown_upload_ids(store: ObjectStore, upload_id: str) -> None:
    with pytest.raises(UploadNotFound):
        store.put_part(KEY, upload_id, 1, b"x", 1)
    with pytest.raises(UploadNotFound):
        store.list_parts(KEY, upload_id)
    with pytest.raises(UploadNotFound):
        store.complete_multipart(KEY, upload_id, [(1, md5(b"x"))])
    store.abort_multipart(KEY, upload_id)  # idempotent: nothing to abort
    assert list(store.list()) == []


def test_an_upload_belongs_to_its_key(store: ObjectStore) -> None:
    upload_id = store.create_multipart(KEY)
    store.put_part(KEY, upload_id, 1, b"mine", 4)

    with pytest.raises(UploadNotFound):
        store.put_part("uploads/8/other.mp4", upload_id, 1, b"x", 1)
    with pytest.raises(UploadNotFound):
        store.list_parts("uploads/8/other.mp4", upload_id)
    store.abort_multipart("uploads/8/other.mp4", upload_id)  # not this key's upload: left alone

    assert len(store.list_parts(KEY, upload_id)) == 1


def test_abort(store: ObjectStore) -> None:
    upload_id = store.create_multipart(KEY)
    part = store.put_part(KEY, upload_id, 1, b"data", 4)

    store.abort_multipart(KEY, upload_id)
    store.abort_multipart(KEY, upload_id)  # idempotent

    with pytest.raises(UploadNotFound):
        store.list_parts(KEY, upload_id)
    with pytest.raises(UploadNotFound):
        store.complete_multipart(KEY, upload_id, [(1, part.etag)])
    assert not store.exists(KEY)
    assert list(store.list_multipart_uploads()) == []


def test_list_multipart_uploads(store: ObjectStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    ids = {
        key: store.create_multipart(key) for key in ["uploads/7/b.mp4", "uploads/7/a.mp4", "uploads/70/c.mp4"]
    }
    second = store.create_multipart("uploads/7/a.mp4")  # two uploads to one key

    def listed(prefix: str = "") -> list[tuple[str, str]]:
        uploads = list(store.list_multipart_uploads(prefix))
        assert all(isinstance(upload, MultipartUpload) for upload in uploads)
        assert all(
            before <= upload.initiated <= datetime.now(UTC) + timedelta(seconds=5) for upload in uploads
        )
        return [(upload.key, upload.upload_id) for upload in uploads]

    everything = listed()
    assert sorted(everything) == sorted([*ids.items(), ("uploads/7/a.mp4", second)])
    assert [key for key, _ in everything] == sorted(key for key, _ in everything)
    assert sorted(listed("uploads/7/")) == sorted(
        [
            ("uploads/7/a.mp4", ids["uploads/7/a.mp4"]),
            ("uploads/7/a.mp4", second),
            ("uploads/7/b.mp4", ids["uploads/7/b.mp4"]),
        ]
    )
    assert sorted(listed("uploads/7")) == sorted(everything)
    assert listed("uploads/70/c.mp4") == [("uploads/70/c.mp4", ids["uploads/70/c.mp4"])]
    assert listed("other/") == []
    with pytest.raises(InvalidKey):
        listed("../")

    store.abort_multipart("uploads/7/b.mp4", ids["uploads/7/b.mp4"])
    assert ("uploads/7/b.mp4", ids["uploads/7/b.mp4"]) not in listed()
    assert list(store.list()) == []  # uploads in progress are never objects
    assert store.delete_prefix("uploads/") == 0
    assert len(listed()) == 3


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "folder/", "nul\x00"])
def test_invalid_keys_are_rejected_by_multipart_calls(store: ObjectStore, key: str) -> None:
    operations = [
        lambda: store.create_multipart(key),
        lambda: store.presigned_part_url(key, "A" * 32, 1, timedelta(hours=1)),
        lambda: store.put_part(key, "A" * 32, 1, b"x", 1),
        lambda: store.list_parts(key, "A" * 32),
        lambda: store.complete_multipart(key, "A" * 32, [(1, md5(b"x"))]),
        lambda: store.abort_multipart(key, "A" * 32),
    ]
    for operation in operations:
        with pytest.raises(InvalidKey):
            operation()


def test_two_completions_at_once_one_wins(store: ObjectStore) -> None:
    upload_id = store.create_multipart(KEY)
    one = store.put_part(KEY, upload_id, 1, FIRST, len(FIRST))
    two = store.put_part(KEY, upload_id, 2, LAST, len(LAST))
    results: list[object] = []
    start = threading.Barrier(2)

    def complete() -> None:
        start.wait()
        try:
            results.append(store.complete_multipart(KEY, upload_id, [(1, one.etag), (2, two.etag)]))
        except UploadNotFound as exc:
            results.append(exc)

    threads = [threading.Thread(target=complete) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(type(result).__name__ for result in results) == ["ObjectInfo", "UploadNotFound"]
    assert store.read(KEY) == FIRST + LAST


def test_presigned_part_urls(store: ObjectStore) -> None:
    upload_id = store.create_multipart(KEY, "video/mp4")

    urls = [store.presigned_part_url(KEY, upload_id, number, timedelta(hours=1)) for number in (1, 2)]

    if isinstance(store, LocalStore):
        assert urls == [None, None]  # the app takes the parts itself (put_part)
        return
    etags = []
    for url, body in zip(urls, (FIRST, LAST), strict=True):
        assert url is not None
        assert "uploadId=" in url
        assert "partNumber=" in url
        request = urllib.request.Request(
            url, data=body, method="PUT", headers={"Content-Type": "application/octet-stream"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            etags.append(response.headers["ETag"].strip('"'))
    assert etags == [md5(FIRST), md5(LAST)]
    assert [part.etag for part in store.list_parts(KEY, upload_id)] == etags

    info = store.complete_multipart(KEY, upload_id, [(1, etags[0]), (2, etags[1])])

    assert (info.size, info.etag, info.content_type) == (
        len(FIRST) + len(LAST),
        s3_etag(FIRST, LAST),
        "video/mp4",
    )
    assert store.read(KEY) == FIRST + LAST


def test_a_presigned_part_url_for_an_unknown_upload_fails_on_put(minio_settings: dict[str, Any]) -> None:
    store = MinioStore(**minio_settings)
    url = store.presigned_part_url(KEY, "A" * 32, 1, timedelta(hours=1))  # made without a request
    assert url is not None
    request = urllib.request.Request(
        url, data=b"x", method="PUT", headers={"Content-Type": "application/octet-stream"}
    )

    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 404
    assert b"NoSuchUpload" in caught.value.read()
    caught.value.close()


def test_upload_file_and_download_file(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "source.mp4"
    data = os.urandom(17 * 1024 * 1024)  # more than one 16 MiB part on MinIO
    source.write_bytes(data)

    info = store.upload_file("media/1/original.mp4", source, "video/mp4")

    assert (info.size, info.content_type) == (len(data), "video/mp4")
    assert store.stat("media/1/original.mp4").size == len(data)
    target = tmp_path / "work" / "copy.mp4"
    target.parent.mkdir()
    target.write_bytes(b"an older copy")
    store.download_file("media/1/original.mp4", target)
    assert target.read_bytes() == data
    assert sorted(path.name for path in target.parent.iterdir()) == ["copy.mp4"]  # no temp file left


def test_download_file_of_a_missing_object(store: ObjectStore, tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    target = tmp_path / "work" / "missing.bin"

    with pytest.raises(ObjectNotFound):
        store.download_file("media/none.bin", target)

    assert list(target.parent.iterdir()) == []


def test_upload_file_of_a_missing_file_is_the_callers_error(store: ObjectStore, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        store.upload_file("media/x.bin", tmp_path / "nothing.bin")
    assert not store.exists("media/x.bin")


# LocalStore specifics ---------------------------------------------------------------------------------


def local_store(tmp_path: Path) -> LocalStore:
    store = LocalStore(tmp_path / "store")
    store.ensure_bucket()
    return store


def test_local_upload_ids_are_random_url_safe_and_parts_stay_hidden(tmp_path: Path) -> None:
    store = local_store(tmp_path)
    ids = {store.create_multipart(KEY) for _ in range(20)}

    assert len(ids) == 20
    assert all(len(upload_id) == 32 and upload_id.isascii() for upload_id in ids)
    assert all(
        set(upload_id) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        for upload_id in ids
    )
    upload_id = ids.pop()
    store.put_part(KEY, upload_id, 1, b"part", 4)
    assert sorted(os.listdir(tmp_path / "store" / "multipart" / upload_id)) == ["00001", "upload.json"]
    assert list(store.list()) == []
    assert os.listdir(tmp_path / "store" / "tmp") == []


def test_local_part_from_a_failing_source_leaves_nothing(tmp_path: Path) -> None:
    store = local_store(tmp_path)
    upload_id = store.create_multipart(KEY)
    store.put_part(KEY, upload_id, 1, b"good", 4)

    class Failing(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        store.put_part(KEY, upload_id, 1, Failing(), 10)

    assert store.list_parts(KEY, upload_id) == [UploadedPart(1, md5(b"good"), 4)]  # the old part stays
    assert os.listdir(tmp_path / "store" / "tmp") == []


def test_local_cleanup_of_a_crashed_completion(tmp_path: Path) -> None:
    store = local_store(tmp_path)
    upload_id = store.create_multipart(KEY)
    folder = tmp_path / "store" / "multipart" / upload_id
    folder.rename(folder.with_name(f"{upload_id}.trash-0123abcd"))  # as a crash mid-completion leaves it

    assert list(store.list_multipart_uploads()) == []
    assert os.listdir(tmp_path / "store" / "multipart") == []


def test_local_completion_into_a_colliding_key_keeps_the_upload(tmp_path: Path) -> None:
    store = local_store(tmp_path)
    store.put(f"{KEY}/inside", b"x")  # a LocalStore cannot hold both 'a' and 'a/b'
    upload_id = store.create_multipart(KEY)
    part = store.put_part(KEY, upload_id, 1, b"data", 4)

    with pytest.raises(Exception, match="collides"):
        store.complete_multipart(KEY, upload_id, [(1, part.etag)])

    assert store.list_parts(KEY, upload_id) == [part]
    assert os.listdir(tmp_path / "store" / "tmp") == []


def test_minio_store_is_an_object_store() -> None:
    # The protocol's new methods exist on both classes with the same names.
    names = [
        "create_multipart",
        "presigned_part_url",
        "put_part",
        "list_parts",
        "complete_multipart",
        "abort_multipart",
        "list_multipart_uploads",
        "upload_file",
        "download_file",
    ]
    for name in names:
        assert callable(getattr(LocalStore, name))
        assert callable(getattr(MinioStore, name))
