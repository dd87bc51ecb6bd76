"""The ObjectStore contract: the very same assertions run against LocalStore and MinioStore."""

from __future__ import annotations

import hashlib
import io
import random
import tracemalloc
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from media_pipeline import (
    InvalidKey,
    InvalidRange,
    LocalStore,
    MinioStore,
    ObjectNotFound,
    ObjectStore,
    StorageUnavailable,
    create_store,
    validate_key,
)
from media_pipeline.storage import PART_SIZE

MiB = 1024 * 1024


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


class GeneratedStream(io.RawIOBase):
    """``size`` pseudo-random bytes made on demand: unknown length, not seekable, never all in memory."""

    def __init__(self, size: int, seed: int = 7) -> None:
        self._left = size
        self._random = random.Random(seed)
        self.md5 = hashlib.md5(usedforsecurity=False)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self._left, MiB)
        chunk = self._random.randbytes(count)
        buffer[:count] = chunk
        self.md5.update(chunk)
        self._left -= count
        return count


class FailingStream(io.RawIOBase):
    """Gives ``good`` bytes, then fails the way a dropped upload would."""

    def __init__(self, good: int) -> None:
        self._left = good

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._left:
            raise ConnectionResetError("client went away")
        count = min(len(buffer), self._left)
        buffer[:count] = b"z" * count
        self._left -= count
        return count


def test_put_read_stat_round_trip(store: ObjectStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)

    info = store.put("docs/note.txt", b"hello", content_type="text/plain; charset=utf-8")

    assert (info.key, info.size, info.etag, info.content_type) == (
        "docs/note.txt",
        5,
        md5(b"hello"),
        "text/plain; charset=utf-8",
    )
    assert store.stat("docs/note.txt") == info
    assert before <= info.last_modified <= datetime.now(UTC) + timedelta(seconds=5)
    assert store.read("docs/note.txt") == b"hello"
    assert store.exists("docs/note.txt")


def test_default_content_type_and_empty_object(store: ObjectStore) -> None:
    info = store.put("empty.bin", b"")

    assert (info.size, info.etag, info.content_type) == (0, md5(b""), "application/octet-stream")
    assert store.read("empty.bin") == b""


def test_put_stream_of_known_length_reads_exactly_that_much(store: ObjectStore) -> None:
    info = store.put("k/known.bin", io.BytesIO(b"0123456789"), length=4)

    assert info.size == 4
    assert store.read("k/known.bin") == b"0123"


def test_put_stream_of_unknown_length_bigger_than_one_part(store: ObjectStore) -> None:
    size = 6 * PART_SIZE + 123  # seven parts on MinIO
    source = GeneratedStream(size)

    tracemalloc.start()
    try:
        info = store.put("videos/big.mp4", source, content_type="video/mp4")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 3.5 * PART_SIZE  # streamed: the SDK holds about 3 parts (48 MiB) at its peak
    assert (info.size, info.content_type) == (size, "video/mp4")
    assert store.stat("videos/big.mp4").size == size
    digest, total = hashlib.md5(usedforsecurity=False), 0
    with store.open("videos/big.mp4") as reader:
        while chunk := reader.read(MiB):
            digest.update(chunk)
            total += len(chunk)
    assert (total, digest.hexdigest()) == (size, source.md5.hexdigest())


def test_a_failing_source_leaves_no_object(store: ObjectStore) -> None:
    with pytest.raises(ConnectionResetError):  # the source's own error, untouched
        store.put("uploads/new.mp4", FailingStream(PART_SIZE + MiB))  # fails in the second part

    assert not store.exists("uploads/new.mp4")
    assert list(store.list()) == []


def test_a_failing_overwrite_keeps_the_previous_version(store: ObjectStore) -> None:
    store.put("uploads/v.mp4", b"version 1", content_type="video/mp4")

    with pytest.raises(ConnectionResetError):
        store.put("uploads/v.mp4", FailingStream(100), content_type="text/plain")

    assert store.read("uploads/v.mp4") == b"version 1"
    assert store.stat("uploads/v.mp4").content_type == "video/mp4"


def test_open_is_a_streaming_context_manager(store: ObjectStore) -> None:
    data = bytes(range(256)) * 1000
    store.put("stream/data.bin", data)

    with store.open("stream/data.bin") as reader:
        assert reader.read(10) == data[:10]
        assert reader.read() == data[10:]
        assert reader.read(1) == b""
    assert reader.closed


def test_open_closed_before_the_end_releases_cleanly(store: ObjectStore) -> None:
    store.put("stream/partial.bin", b"x" * (2 * MiB))

    with store.open("stream/partial.bin") as reader:
        assert reader.read(3) == b"xxx"
    assert store.read("stream/partial.bin") == b"x" * (2 * MiB)  # the store is still usable


def test_overwrite_replaces_bytes_and_metadata(store: ObjectStore) -> None:
    store.put("covers/1.png", b"first version", content_type="image/png")

    info = store.put("covers/1.png", b"second", content_type="image/webp")

    assert store.read("covers/1.png") == b"second"
    assert store.stat("covers/1.png").content_type == info.content_type == "image/webp"
    assert store.stat("covers/1.png").size == 6
    assert [found.key for found in store.list("covers/")] == ["covers/1.png"]


def test_list_by_prefix(store: ObjectStore) -> None:
    keys = ["p/a.txt", "p/b/c.txt", "p/b/d/e.txt", "pq/f.txt", "other/g.txt", "p/b.txt"]
    for key in keys:
        store.put(key, key.encode(), content_type="text/plain")

    def listed(prefix: str, recursive: bool = True) -> list[str]:
        return [info.key for info in store.list(prefix, recursive=recursive)]

    assert listed("") == sorted(keys)
    assert listed("p/") == ["p/a.txt", "p/b.txt", "p/b/c.txt", "p/b/d/e.txt"]
    assert listed("p") == ["p/a.txt", "p/b.txt", "p/b/c.txt", "p/b/d/e.txt", "pq/f.txt"]
    assert listed("p/b") == ["p/b.txt", "p/b/c.txt", "p/b/d/e.txt"]
    assert listed("p/b/") == ["p/b/c.txt", "p/b/d/e.txt"]
    assert listed("p/", recursive=False) == ["p/a.txt", "p/b.txt"]
    assert listed("p/b", recursive=False) == ["p/b.txt"]
    assert listed("", recursive=False) == []
    assert listed("nothing/") == []
    [info] = store.list("p/b/d/")
    assert (info.key, info.size, info.etag, info.content_type) == (
        "p/b/d/e.txt",
        11,
        md5(b"p/b/d/e.txt"),
        "text/plain",
    )


def test_unicode_and_longest_keys(store: ObjectStore) -> None:
    chinese = "课程/第一课 导论.mp4"
    longest = "/".join(["x" * 204] * 5)  # exactly 1024 bytes
    assert len(longest.encode()) == 1024

    store.put(chinese, b"lesson")
    store.put(longest, b"long")

    assert store.read(chinese) == b"lesson"
    assert store.read(longest) == b"long"
    assert [info.key for info in store.list("课程/")] == [chinese]


def test_delete_is_idempotent(store: ObjectStore) -> None:
    store.put("tmp/x.bin", b"x")

    store.delete("tmp/x.bin")
    store.delete("tmp/x.bin")
    store.delete("never/existed.bin")

    assert not store.exists("tmp/x.bin")
    with pytest.raises(ObjectNotFound):
        store.read("tmp/x.bin")
    assert list(store.list()) == []


def test_delete_prefix(store: ObjectStore) -> None:
    for key in ["orgs/1/a.bin", "orgs/1/hls/360p/s1.ts", "orgs/1/hls/360p/s2.ts", "orgs/10/a.bin"]:
        store.put(key, b"x")

    assert store.delete_prefix("orgs/1/") == 3
    assert store.delete_prefix("orgs/1/") == 0
    assert [info.key for info in store.list()] == ["orgs/10/a.bin"]
    for unsafe in ["orgs/1", "", "/", "orgs//"]:  # must name a folder
        with pytest.raises(InvalidKey):
            store.delete_prefix(unsafe)
    assert store.exists("orgs/10/a.bin")


def test_missing_objects(store: ObjectStore) -> None:
    for operation in (store.read, store.open, store.stat, lambda key: store.read_range(key, 0, 1)):
        with pytest.raises(ObjectNotFound) as caught:
            operation("missing/object.bin")
        assert caught.value.key == "missing/object.bin"
    assert not store.exists("missing/object.bin")


INVALID_KEYS = [
    "",
    "/abs/key",
    "..",
    "a/../b",
    "../escape",
    "a/./b",
    "a//b",
    "folder/",
    "back\\slash",
    "nul\x00byte",
    "new\nline",
    "x" * 1025,
    "/".join(["é" * 200] * 3),  # 1202 bytes of UTF-8
    "s" * 256,  # one segment longer than a file name may be
    "lone\ud800surrogate",
]


@pytest.mark.parametrize("key", INVALID_KEYS)
def test_invalid_keys_are_rejected_everywhere(store: ObjectStore, key: str) -> None:
    operations = [
        lambda: store.put(key, b"x"),
        lambda: store.read(key),
        lambda: store.open(key),
        lambda: store.stat(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
        lambda: store.read_range(key, 0, 1),
        lambda: store.presigned_get_url(key, timedelta(minutes=5)),
    ]
    for operation in operations:
        with pytest.raises(InvalidKey):
            operation()
    assert list(store.list()) == []


@pytest.mark.parametrize("prefix", ["/", "/abs", "a//", "a/../", "..", "back\\slash/"])
def test_invalid_list_prefixes_are_rejected(store: ObjectStore, prefix: str) -> None:
    with pytest.raises(InvalidKey):
        list(store.list(prefix))


def test_range_reads(store: ObjectStore) -> None:
    data = bytes(range(256)) * 4
    store.put("media/audio.m4a", data)
    store.put("media/empty.m4a", b"")

    assert store.read_range("media/audio.m4a", 0, 0) == data[:1]
    assert store.read_range("media/audio.m4a", 10, 19) == data[10:20]
    assert store.read_range("media/audio.m4a", 1023, 1023) == data[1023:]
    assert store.read_range("media/audio.m4a", 1000, 5000) == data[1000:]  # clamped like HTTP Range
    for start in (1024, 5000):
        with pytest.raises(InvalidRange):
            store.read_range("media/audio.m4a", start, start + 10)
    with pytest.raises(InvalidRange):
        store.read_range("media/empty.m4a", 0, 0)
    for start, end in ((5, 4), (-1, 3)):
        with pytest.raises(ValueError, match="invalid byte range"):
            store.read_range("media/audio.m4a", start, end)


def test_presigned_get_url(store: ObjectStore) -> None:
    store.put("evidence/photo.jpg", b"\xff\xd8jpeg bytes", content_type="image/jpeg")

    url = store.presigned_get_url("evidence/photo.jpg", timedelta(minutes=5))

    if isinstance(store, LocalStore):
        assert url is None  # the app serves local objects itself
        return
    assert url is not None
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"\xff\xd8jpeg bytes"
        assert response.headers["Content-Type"] == "image/jpeg"


def test_ping_and_ensure_bucket(fresh_store: ObjectStore) -> None:
    with pytest.raises(StorageUnavailable, match="does not exist"):
        fresh_store.ping()
    with pytest.raises(StorageUnavailable):
        fresh_store.put("a.bin", b"x")

    fresh_store.ensure_bucket()
    fresh_store.ensure_bucket()  # idempotent

    fresh_store.ping()
    fresh_store.put("a.bin", b"x")
    assert fresh_store.read("a.bin") == b"x"


def test_validate_key_returns_valid_keys() -> None:
    for key in ["a", "orgs/1/assets/2/hls/360p/seg_00001.ts", "名字 with spaces/…/x.y", ".hidden/a..b"]:
        assert validate_key(key) == key


def test_create_store(tmp_path: Path) -> None:
    local = create_store("local", root=tmp_path)
    minio = create_store("minio", endpoint="127.0.0.1:9", access_key="k", secret_key="s", bucket="b")

    assert isinstance(local, LocalStore)
    assert isinstance(minio, MinioStore)
    with pytest.raises(ValueError, match="unknown storage backend"):
        create_store("s3")
