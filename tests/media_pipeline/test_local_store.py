"""LocalStore specifics: path safety, atomic writes, concurrency."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from media_pipeline import InvalidKey, LocalStore, ObjectNotFound, StorageError


@pytest.fixture
def local(tmp_path: Path) -> LocalStore:
    store = LocalStore(tmp_path / "store")
    store.ensure_bucket()
    return store


def test_symlinks_out_of_the_store_are_refused(local: LocalStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (local.root / "objects" / "evil").symlink_to(outside)

    for operation in (
        lambda: local.read("evil/secret.txt"),
        lambda: local.put("evil/planted.txt", b"x"),
        lambda: local.delete("evil/secret.txt"),
    ):
        with pytest.raises(InvalidKey, match="outside the store"):
            operation()
    assert sorted(path.name for path in outside.iterdir()) == ["secret.txt"]


def test_dot_dot_keys_never_touch_the_filesystem(local: LocalStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidKey):
        local.put("../../escaped.txt", b"x")

    assert not (tmp_path / "escaped.txt").exists()
    assert not (local.root / "escaped.txt").exists()


def test_a_failed_write_leaves_no_temp_file(local: LocalStore) -> None:
    with pytest.raises(ZeroDivisionError):
        local.put("uploads/new.mp4", FailingSource())

    assert list((local.root / "tmp").iterdir()) == []


class FailingSource(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise ZeroDivisionError


def test_short_stream_with_declared_length_leaves_no_object(local: LocalStore) -> None:
    with pytest.raises(StorageError, match="short"):
        local.put("uploads/short.bin", io.BytesIO(b"abc"), length=10)

    assert not local.exists("uploads/short.bin")


def test_a_killed_writer_leaves_no_object(local: LocalStore) -> None:
    """A real crash: the writing process is killed halfway through the upload."""
    script = textwrap.dedent(
        """
        import io, sys, time
        from media_pipeline import LocalStore

        class Stalls(io.RawIOBase):
            sent = 0
            def readable(self):
                return True
            def readinto(self, buffer):
                if self.sent >= 2 * 1024 * 1024:
                    print("halfway", flush=True)
                    time.sleep(60)
                buffer[:1024] = b"k" * 1024
                self.sent += 1024
                return 1024

        LocalStore(sys.argv[1]).put("uploads/crash.mp4", Stalls())
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script, str(local.root)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    ) as writer:
        assert writer.stdout is not None
        assert writer.stdout.readline() == "halfway\n"
        writer.kill()
        writer.wait()

    assert not local.exists("uploads/crash.mp4")
    with pytest.raises(ObjectNotFound):
        local.read("uploads/crash.mp4")
    assert list(local.list()) == []


def test_a_key_cannot_be_both_object_and_folder(local: LocalStore) -> None:
    local.put("a/b", b"x")

    with pytest.raises(StorageError, match="collides"):
        local.put("a", b"y")
    with pytest.raises(StorageError, match="collides"):
        local.put("a/b/c", b"z")

    local.delete("a/b")  # prunes the empty folder 'a' ...
    local.put("a", b"y")  # ... so 'a' can now be an object
    assert local.read("a") == b"y"


def test_delete_prunes_empty_folders(local: LocalStore) -> None:
    local.put("orgs/1/assets/2/hls/360p/seg1.ts", b"x")
    local.put("orgs/1/keep.txt", b"x")

    local.delete_prefix("orgs/1/assets/")

    assert sorted(os.listdir(local.root / "objects" / "orgs" / "1")) == ["keep.txt"]


def test_concurrent_writers_and_deleters(local: LocalStore) -> None:
    """Writers of different keys race with deletes pruning the folders they write into."""

    def churn(worker: int) -> None:
        for round_ in range(40):
            key = f"shared/{round_ % 3}/w{worker}-{round_}.bin"
            local.put(key, f"{worker}:{round_}".encode())
            assert local.read(key) == f"{worker}:{round_}".encode()
            local.delete(key)
        local.put(f"shared/final/w{worker}.bin", str(worker).encode())

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(churn, range(8)))

    assert [info.key for info in local.list("shared/")] == [f"shared/final/w{n}.bin" for n in range(8)]
    assert list((local.root / "tmp").iterdir()) == []


def test_a_foreign_file_is_reported_not_misread(local: LocalStore) -> None:
    (local.root / "objects" / "stray.txt").write_bytes(b"not written by LocalStore")

    with pytest.raises(StorageError, match="not a stored object"):
        local.read("stray.txt")
