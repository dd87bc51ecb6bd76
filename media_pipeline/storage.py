"""Object storage for video, covers, evidence files and exports.

One interface, ``ObjectStore``, with two implementations that pass the same contract tests:

- ``LocalStore``: a directory. The no-services default; it cannot presign, so the app serves the bytes.
- ``MinioStore``: MinIO through the minio SDK, with short timeouts so a down server fails in seconds.

Both also do S3-style multipart uploads (``create_multipart`` .. ``complete_multipart``) with the same
rules (part numbers 1..10,000, every part but the last at least 5 MiB, ETags checked), so resumable
browser uploads behave the same on either; MinIO's parts can go straight from the browser through
``presigned_part_url``, LocalStore's go through the app (``put_part``).

Keys are S3-style paths such as ``orgs/1/assets/2/hls/360p/seg_00001.ts`` (see ``validate_key``).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import re
import secrets
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import urllib3
from minio import Minio
from minio.datatypes import Part
from minio.deleteobjects import DeleteObject
from minio.error import MinioException, S3Error

from media_pipeline.errors import (
    InvalidKey,
    InvalidRange,
    InvalidUpload,
    ObjectNotFound,
    StorageError,
    StorageUnavailable,
    UploadNotFound,
)

DEFAULT_CONTENT_TYPE = "application/octet-stream"
MAX_KEY_BYTES = 1024
MAX_SEGMENT_BYTES = 255  # a file name on every common filesystem, so LocalStore can hold any valid key
PART_SIZE = 16 * 1024 * 1024  # multipart part size for MinIO uploads
_CHUNK = 1024 * 1024  # LocalStore copy buffer
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\]")  # control characters (NUL included) and backslash

MIN_PART_SIZE = 5 * 1024 * 1024  # S3 rule: every part of a multipart upload but the last
MAX_PART_SIZE = 5 * 1024 * 1024 * 1024  # S3 rule
MAX_PARTS = 10_000  # S3 rule: part numbers are 1..10,000
_HOUR = timedelta(hours=1)
_MAX_PRESIGN = timedelta(days=7)  # the longest a SigV4 presigned URL may live
_PRESIGN_MEMO = 20_000  # presigned GET URLs remembered per MinioStore (about 10 MB)


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    etag: str  # md5 hex of the bytes for single-part writes; MinIO multipart etags are "<hex>-<parts>"
    content_type: str
    last_modified: datetime  # timezone-aware, UTC


@dataclass(frozen=True, slots=True)
class UploadedPart:
    number: int
    etag: str  # md5 hex of the part's bytes, without quotes
    size: int


@dataclass(frozen=True, slots=True)
class MultipartUpload:
    key: str
    upload_id: str
    initiated: datetime  # timezone-aware, UTC


class ObjectStore(Protocol):
    """What the platform needs from object storage. Every error is a ``StorageError``."""

    def ping(self) -> None:
        """Raise StorageUnavailable, with a readable reason, unless the store is ready for use."""

    def ensure_bucket(self) -> None:
        """Create the bucket (directory) if it does not exist yet. Idempotent."""

    def put(
        self,
        key: str,
        data: bytes | BinaryIO,
        *,
        length: int | None = None,
        content_type: str = DEFAULT_CONTENT_TYPE,
    ) -> ObjectInfo:
        """Store ``data`` under ``key``, replacing any object there. Streams: memory use is bounded.

        ``length`` is optional for streams; when given, exactly that many bytes are read.
        """

    def open(self, key: str) -> BinaryIO:
        """A streaming, non-seekable reader. Use it as a context manager so the connection is released."""

    def read(self, key: str) -> bytes:
        """The whole object; for small objects only."""

    def read_range(self, key: str, start: int, end_inclusive: int) -> bytes:
        """Bytes ``start..end_inclusive`` (clamped to the object's end, like HTTP Range).

        Raises InvalidRange when ``start`` is at or beyond the end of the object.
        """

    def stat(self, key: str) -> ObjectInfo: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under ``prefix``, which must end with '/'; return how many were removed."""

    def list(self, prefix: str = "", recursive: bool = True) -> Iterator[ObjectInfo]:
        """Objects whose key starts with ``prefix``, in key order.

        Non-recursive listing yields only the objects at the prefix's own level, never "directories".
        """

    def presigned_get_url(self, key: str, expires: timedelta) -> str | None:
        """A time-limited GET URL, or None when the store cannot presign and the app must serve the bytes.

        The URL stays valid at least ``expires`` from now (at most 7 days).
        """

    def upload_file(self, key: str, path: Path, content_type: str = DEFAULT_CONTENT_TYPE) -> ObjectInfo:
        """Store a local file under ``key`` (multipart on MinIO for big files). Errors opening ``path``
        (e.g. FileNotFoundError) propagate unchanged: they are the caller's, not the store's."""

    def download_file(self, key: str, path: Path) -> None:
        """Write the object to the local file ``path`` atomically (temp file in the same folder + rename).

        Raises ObjectNotFound, and leaves ``path`` untouched, when there is no such object.
        """

    # Multipart uploads. Every call but create_multipart raises UploadNotFound for an upload id that is
    # unknown, aborted, completed or belongs to another key (abort_multipart excepted: it is idempotent).

    def create_multipart(self, key: str, content_type: str = DEFAULT_CONTENT_TYPE) -> str:
        """Start a multipart upload to ``key``; return its upload id."""

    def presigned_part_url(
        self, key: str, upload_id: str, part_number: int, expires: timedelta
    ) -> str | None:
        """A URL the browser PUTs one part to (reading the part's ETag from the response), or None when
        the store cannot presign and the app must accept the part itself with ``put_part``.

        Makes no request: only the form of ``upload_id`` is checked here (an unknown id fails the PUT).
        """

    def put_part(
        self, key: str, upload_id: str, part_number: int, data: bytes | BinaryIO, length: int
    ) -> UploadedPart:
        """Store part ``part_number`` (1..MAX_PARTS) of exactly ``length`` bytes, replacing an earlier
        part with that number. InvalidUpload for a bad part number or when ``data`` is shorter."""

    def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        """The parts stored so far, by part number."""

    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> ObjectInfo:
        """Join ``parts`` ([(number, etag)], ascending numbers, gaps allowed) into the object at ``key``.

        InvalidUpload (and the upload stays in progress) when the list is empty or not ascending, a part
        is missing or has another ETag, or a part other than the last is smaller than MIN_PART_SIZE.
        Parts uploaded but not listed are discarded. The upload is gone afterwards.
        """

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Discard the upload and its parts; an upload that is already gone is not an error."""

    def list_multipart_uploads(self, prefix: str = "") -> Iterator[MultipartUpload]:
        """Uploads in progress whose key starts with ``prefix`` (to clean up abandoned ones)."""


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe object key, else raise InvalidKey.

    A key is at most 1024 bytes of UTF-8, made of '/'-separated segments of at most 255 bytes that are
    neither empty nor '.' or '..' (so no leading, trailing or doubled '/'), without backslashes or
    control characters.
    """
    if not isinstance(key, str) or not key:
        raise InvalidKey(f"object key must be a non-empty string, not {key!r}")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidKey(f"object key is not valid UTF-8: {key!r}") from None
    if size > MAX_KEY_BYTES:
        raise InvalidKey(f"object key is longer than {MAX_KEY_BYTES} bytes: {key[:60]!r}...")
    if _FORBIDDEN.search(key):
        raise InvalidKey(f"object key contains a backslash or a control character: {key!r}")
    segments = key.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        raise InvalidKey(f"object key has an empty, '.' or '..' segment (or a leading '/'): {key!r}")
    if any(len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES for segment in segments):
        raise InvalidKey(f"object key has a segment longer than {MAX_SEGMENT_BYTES} bytes: {key[:60]!r}...")
    return key


def _validate_prefix(prefix: str) -> str:
    """A listing prefix: '' (everything) or a key, optionally ending with '/'."""
    if prefix:
        validate_key(prefix.removesuffix("/"))
    return prefix


def _validate_folder(prefix: str) -> str:
    """A deletion prefix must end with '/', so that 'orgs/1' can never take 'orgs/10/...' with it."""
    if not prefix.endswith("/"):
        raise InvalidKey(f"a prefix to delete must end with '/': {prefix!r}")
    validate_key(prefix[:-1])
    return prefix


def _validate_range(start: int, end_inclusive: int) -> None:
    if start < 0 or end_inclusive < start:
        raise ValueError(f"invalid byte range {start}-{end_inclusive}")


def _validate_part_number(part_number: int) -> None:
    if isinstance(part_number, bool) or not isinstance(part_number, int) or not 1 <= part_number <= MAX_PARTS:
        raise InvalidUpload(f"part number must be 1..{MAX_PARTS}, not {part_number!r}")


def _validate_part_length(length: int) -> None:
    if isinstance(length, bool) or not isinstance(length, int) or not 0 <= length <= MAX_PART_SIZE:
        raise InvalidUpload(f"a part must have 0..{MAX_PART_SIZE} bytes, not {length!r}")


def _validate_part_list(parts: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Ascending part numbers, ETags without quotes (S3 accepts both forms)."""
    if not parts:
        raise InvalidUpload("a multipart upload needs at least one part to complete")
    cleaned = []
    for number, etag in parts:
        _validate_part_number(number)
        if cleaned and number <= cleaned[-1][0]:
            raise InvalidUpload(f"parts must be listed in ascending order of part number, got {number} late")
        cleaned.append((number, str(etag).strip().strip('"').lower()))
    return cleaned


def _multipart_etag(part_digests: list[bytes]) -> str:
    """S3's ETag of a completed multipart upload: md5 of the parts' binary md5s, dash, part count."""
    joined = hashlib.md5(b"".join(part_digests), usedforsecurity=False).hexdigest()
    return f"{joined}-{len(part_digests)}"


def _part_bytes(data: bytes | BinaryIO, length: int) -> Iterator[bytes]:
    """A part's bytes in bounded chunks: exactly ``length``; InvalidUpload if ``data`` has fewer."""
    _validate_part_length(length)
    if isinstance(data, bytes):
        if len(data) != length:
            raise InvalidUpload(f"length={length} but the part has {len(data)} bytes")
        data = io.BytesIO(data)
    return _read_chunks(data, length, short=InvalidUpload)


def _download(store: ObjectStore, key: str, path: Path) -> None:
    """``store.open(key)`` copied to a temp file next to ``path``, then renamed over it."""
    path = Path(path)
    with store.open(key) as reader:  # ObjectNotFound before any file is made
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as file:
                shutil.copyfileobj(reader, file, _CHUNK)
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise


def _as_stream(data: bytes | BinaryIO, length: int | None) -> tuple[BinaryIO, int | None]:
    if isinstance(data, bytes):
        if length is not None and length != len(data):
            raise ValueError(f"length={length} but data has {len(data)} bytes")
        return io.BytesIO(data), len(data)
    if length is not None and length < 0:
        raise ValueError(f"length must not be negative: {length}")
    return data, length


# --------------------------------------------------------------------------------------------------
# LocalStore

# Each object file is: payload, metadata JSON, then this trailer (JSON length, magic).
_TRAILER = struct.Struct(">I4s")
_MAGIC = b"LMS1"
_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{32}")  # secrets.token_urlsafe(24); never '.', '/' or '..'
_PART_FILE = re.compile(r"[0-9]{5}")
_TRASH = re.compile(r"\.trash-[0-9a-f]{8}$")


def _part_name(number: int) -> str:
    return f"{number:05d}"


def _validate_local_upload_id(key: str, upload_id: str) -> None:
    if not isinstance(upload_id, str) or not _UPLOAD_ID.fullmatch(upload_id):
        raise UploadNotFound(f"no multipart upload {str(upload_id)[:80]!r} for {key!r}")


class LocalStore:
    """Objects as files under ``root/objects``.

    A write goes to a temp file in ``root/tmp``, is fsynced and then moved into place with os.replace.
    The metadata (etag, content type) rides in a trailer inside the same file, so payload and
    metadata change together in that one atomic rename: a crash never exposes a half-written object,
    and a reader that has opened an object keeps reading that version.

    A directory tree cannot hold both 'a' and 'a/b'; such a put raises StorageError.

    A multipart upload is a folder ``root/multipart/<upload id>`` (outside ``objects``, so ``list`` and
    ``delete_prefix`` never see it) with ``upload.json`` (key, content type, start time) and one file per
    part, named by its number and written like an object (temp file, trailer with the ETag, rename).
    Completing joins the parts into a temp file, claims the upload by renaming its folder away (so of two
    concurrent completes exactly one wins), installs the object and removes the folder.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._objects = self.root / "objects"
        self._tmp = self.root / "tmp"
        self._uploads = self.root / "multipart"

    def ping(self) -> None:
        for directory in (self._objects, self._tmp):
            if not directory.is_dir():
                raise StorageUnavailable(f"local store: {directory} does not exist (call ensure_bucket)")
            if not os.access(directory, os.W_OK | os.X_OK):
                raise StorageUnavailable(f"local store: {directory} is not writable")

    def ensure_bucket(self) -> None:
        with self._os_errors():
            self._objects.mkdir(parents=True, exist_ok=True)
            self._tmp.mkdir(exist_ok=True)
            self._uploads.mkdir(exist_ok=True)

    def put(
        self,
        key: str,
        data: bytes | BinaryIO,
        *,
        length: int | None = None,
        content_type: str = DEFAULT_CONTENT_TYPE,
    ) -> ObjectInfo:
        path = self._path(key)
        stream, length = _as_stream(data, length)
        md5, size = hashlib.md5(usedforsecurity=False), 0
        with self._os_errors():
            fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        try:
            with os.fdopen(fd, "wb") as file:
                for chunk in _read_chunks(stream, length):  # errors of the source propagate unchanged
                    with self._os_errors():
                        file.write(chunk)
                    md5.update(chunk)
                    size += len(chunk)
                meta = json.dumps({"etag": md5.hexdigest(), "content_type": content_type}).encode()
                with self._os_errors():
                    file.write(meta + _TRAILER.pack(len(meta), _MAGIC))
                    file.flush()
                    os.fsync(file.fileno())
                    mtime = os.fstat(file.fileno()).st_mtime
            with self._os_errors():
                self._install(tmp_name, path, key)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return ObjectInfo(key, size, md5.hexdigest(), content_type, datetime.fromtimestamp(mtime, UTC))

    def open(self, key: str) -> BinaryIO:
        file, info = self._load(key)
        return io.BufferedReader(_FileSlice(file, info.size))

    def read(self, key: str) -> bytes:
        file, info = self._load(key)
        with file:
            return file.read(info.size)

    def read_range(self, key: str, start: int, end_inclusive: int) -> bytes:
        _validate_range(start, end_inclusive)
        file, info = self._load(key)
        with file:
            if start >= info.size:
                raise InvalidRange(f"{key!r}: range starts at {start}, the object has {info.size} bytes")
            file.seek(start)
            return file.read(min(end_inclusive, info.size - 1) - start + 1)

    def stat(self, key: str) -> ObjectInfo:
        file, info = self._load(key)
        file.close()
        return info

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return
        self._prune(path.parent)

    def delete_prefix(self, prefix: str) -> int:
        keys = [info.key for info in self.list(_validate_folder(prefix))]
        for key in keys:
            self.delete(key)
        return len(keys)

    def list(self, prefix: str = "", recursive: bool = True) -> Iterator[ObjectInfo]:
        head = _validate_prefix(prefix).rpartition("/")[0]
        keys = []
        for dirpath, dirnames, filenames in os.walk(self._objects / head):
            relative = Path(dirpath).relative_to(self._objects).as_posix()
            stem = "" if relative == "." else relative + "/"
            keys += [stem + name for name in filenames if (stem + name).startswith(prefix)]
            if not recursive:
                break
            dirnames[:] = [name for name in dirnames if name.startswith(prefix[len(stem) :])]
        for key in sorted(keys):
            try:
                yield self.stat(key)
            except ObjectNotFound:  # deleted since the walk
                continue

    def presigned_get_url(self, key: str, expires: timedelta) -> str | None:
        validate_key(key)
        return None

    def upload_file(self, key: str, path: Path, content_type: str = DEFAULT_CONTENT_TYPE) -> ObjectInfo:
        with Path(path).open("rb") as file:
            return self.put(key, file, length=os.fstat(file.fileno()).st_size, content_type=content_type)

    def download_file(self, key: str, path: Path) -> None:
        _download(self, key, path)

    # Multipart uploads -----------------------------------------------------------------------------

    def create_multipart(self, key: str, content_type: str = DEFAULT_CONTENT_TYPE) -> str:
        self._path(key)
        upload_id = secrets.token_urlsafe(24)  # 32 characters of [A-Za-z0-9_-]: _UPLOAD_ID
        meta = {"key": key, "content_type": content_type, "initiated": datetime.now(UTC).isoformat()}
        with self._os_errors():
            self._uploads.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=self._uploads, prefix=".new-"))
            try:
                (staging / "upload.json").write_text(json.dumps(meta))
                os.rename(staging, self._uploads / upload_id)  # appears complete or not at all
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        return upload_id

    def presigned_part_url(
        self, key: str, upload_id: str, part_number: int, expires: timedelta
    ) -> str | None:
        validate_key(key)
        _validate_local_upload_id(key, upload_id)
        _validate_part_number(part_number)
        return None  # the app takes the part itself (put_part)

    def put_part(
        self, key: str, upload_id: str, part_number: int, data: bytes | BinaryIO, length: int
    ) -> UploadedPart:
        validate_key(key)
        _validate_part_number(part_number)
        folder, _ = self._upload(key, upload_id)
        chunks = _part_bytes(data, length)
        md5 = hashlib.md5(usedforsecurity=False)
        with self._os_errors():
            fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="part-")
        try:
            with os.fdopen(fd, "wb") as file:
                for chunk in chunks:  # errors of the source propagate unchanged
                    with self._os_errors():
                        file.write(chunk)
                    md5.update(chunk)
                meta = json.dumps({"etag": md5.hexdigest()}).encode()
                with self._os_errors():
                    file.write(meta + _TRAILER.pack(len(meta), _MAGIC))
                    file.flush()
                    os.fsync(file.fileno())
            try:
                os.replace(tmp_name, folder / _part_name(part_number))
            except (FileNotFoundError, NotADirectoryError):  # completed or aborted meanwhile
                raise UploadNotFound(f"no multipart upload {upload_id!r} for {key!r}") from None
            except OSError as exc:
                raise StorageUnavailable(f"local store at {self.root}: {exc}") from exc
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return UploadedPart(part_number, md5.hexdigest(), length)

    def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        validate_key(key)
        folder, _ = self._upload(key, upload_id)
        parts = []
        with self._os_errors():
            try:
                names = sorted(name for name in os.listdir(folder) if _PART_FILE.fullmatch(name))
            except (FileNotFoundError, NotADirectoryError):
                raise UploadNotFound(f"no multipart upload {upload_id!r} for {key!r}") from None
            for name in names:
                try:
                    file = (folder / name).open("rb")
                except FileNotFoundError:  # the upload ended meanwhile
                    raise UploadNotFound(f"no multipart upload {upload_id!r} for {key!r}") from None
                with file:
                    size, meta = self._trailer(file, folder / name)
                parts.append(UploadedPart(int(name), meta["etag"], size))
        return parts

    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> ObjectInfo:
        path = self._path(key)
        wanted = _validate_part_list(parts)
        folder, upload = self._upload(key, upload_id)
        for index, (number, etag) in enumerate(wanted):  # a quick look at the trailers first
            self._checked_part(folder, key, number, etag, last=index == len(wanted) - 1)[0].close()
        tmp_name, info = self._join(folder, key, wanted, upload["content_type"])
        try:
            claimed = self._claim(folder)  # from here on the upload is ours alone
            if claimed is None:  # completed or aborted meanwhile
                raise UploadNotFound(f"no multipart upload {upload_id!r} for {key!r}")
            try:
                with self._os_errors():
                    self._install(tmp_name, path, key)
            except BaseException:
                with suppress(OSError):  # still in progress, as S3 keeps an upload that failed
                    os.rename(claimed, folder)
                raise
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        shutil.rmtree(claimed, ignore_errors=True)
        return info

    def _checked_part(
        self, folder: Path, key: str, number: int, etag: str, *, last: bool
    ) -> tuple[io.BufferedReader, int]:
        """A part file (opened at offset 0) and its size, if it exists, has ``etag`` and is big enough
        (S3's rules)."""
        try:
            file = (folder / _part_name(number)).open("rb")
        except FileNotFoundError:
            if not folder.is_dir():
                raise UploadNotFound(f"no multipart upload {folder.name!r} for {key!r}") from None
            raise InvalidUpload(f"part {number} of {key!r} was never uploaded") from None
        except OSError as exc:
            raise StorageUnavailable(f"local store at {self.root}: {exc}") from exc
        try:
            size, meta = self._trailer(file, folder / _part_name(number))
            if meta["etag"] != etag:
                raise InvalidUpload(f"part {number} of {key!r} has ETag {meta['etag']}, not {etag}")
            if size < MIN_PART_SIZE and not last:
                raise InvalidUpload(
                    f"part {number} of {key!r} has {size} bytes; every part but the last needs "
                    f"at least {MIN_PART_SIZE}"
                )
        except BaseException:
            file.close()
            raise
        return file, size

    def _join(
        self, folder: Path, key: str, parts: list[tuple[int, str]], content_type: str
    ) -> tuple[str, ObjectInfo]:
        """Copy the parts, one after the other, into a temp object file with S3's multipart ETag.

        Each part is checked again as it is opened, in case it was sent again meanwhile.
        """
        digests, total = [], 0
        with self._os_errors():
            fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="join-")
        try:
            with os.fdopen(fd, "wb") as out:
                for index, (number, etag) in enumerate(parts):
                    md5 = hashlib.md5(usedforsecurity=False)
                    file, size = self._checked_part(folder, key, number, etag, last=index == len(parts) - 1)
                    with file, self._os_errors():
                        for chunk in _read_chunks(file, size):
                            out.write(chunk)
                            md5.update(chunk)
                    digests.append(md5.digest())
                    total += size
                etag = _multipart_etag(digests)
                meta = json.dumps({"etag": etag, "content_type": content_type}).encode()
                with self._os_errors():
                    out.write(meta + _TRAILER.pack(len(meta), _MAGIC))
                    out.flush()
                    os.fsync(out.fileno())
                    mtime = os.fstat(out.fileno()).st_mtime
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return tmp_name, ObjectInfo(key, total, etag, content_type, datetime.fromtimestamp(mtime, UTC))

    def abort_multipart(self, key: str, upload_id: str) -> None:
        validate_key(key)
        try:
            folder, _ = self._upload(key, upload_id)
        except UploadNotFound:
            return
        claimed = self._claim(folder)
        if claimed is not None:
            shutil.rmtree(claimed, ignore_errors=True)

    def list_multipart_uploads(self, prefix: str = "") -> Iterator[MultipartUpload]:
        _validate_prefix(prefix)
        try:
            names = os.listdir(self._uploads)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StorageUnavailable(f"local store at {self.root}: {exc}") from exc
        found = []
        for name in names:
            if _TRASH.search(name):  # left by a crash between claiming an upload and removing it
                shutil.rmtree(self._uploads / name, ignore_errors=True)
                continue
            if not _UPLOAD_ID.fullmatch(name):
                continue
            try:
                meta = json.loads((self._uploads / name / "upload.json").read_bytes())
            except (FileNotFoundError, NotADirectoryError):  # ended meanwhile
                continue
            if meta["key"].startswith(prefix):
                found.append(MultipartUpload(meta["key"], name, datetime.fromisoformat(meta["initiated"])))
        yield from sorted(found, key=lambda upload: (upload.key, upload.initiated, upload.upload_id))

    def _upload(self, key: str, upload_id: str) -> tuple[Path, dict[str, str]]:
        """The folder and metadata of an upload in progress for ``key``, else UploadNotFound.

        The id is checked against the pattern of the ids this store makes before it touches the disk.
        """
        _validate_local_upload_id(key, upload_id)
        folder = self._uploads / upload_id
        try:
            meta = json.loads((folder / "upload.json").read_bytes())
        except (FileNotFoundError, NotADirectoryError):
            raise UploadNotFound(f"no multipart upload {upload_id!r} for {key!r}") from None
        except OSError as exc:
            raise StorageUnavailable(f"local store at {self.root}: {exc}") from exc
        if meta["key"] != key:
            raise UploadNotFound(f"no multipart upload {upload_id!r} for {key!r}")
        return folder, meta

    def _claim(self, folder: Path) -> Path | None:
        """Rename an upload's folder away (atomically); None if it is gone already."""
        claimed = folder.with_name(f"{folder.name}.trash-{secrets.token_hex(4)}")
        try:
            os.rename(folder, claimed)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageUnavailable(f"local store at {self.root}: {exc}") from exc
        return claimed

    def _path(self, key: str) -> Path:
        path = self._objects / validate_key(key)
        if not path.resolve().is_relative_to(self._objects.resolve()):
            raise InvalidKey(f"object key leads outside the store: {key!r}")
        return path

    def _load(self, key: str) -> tuple[io.BufferedReader, ObjectInfo]:
        """Open an object file and parse its trailer; the caller closes the file."""
        path = self._path(key)
        try:
            file = path.open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(key) from None
        try:
            size, meta = self._trailer(file, path)
            modified = datetime.fromtimestamp(os.fstat(file.fileno()).st_mtime, UTC)
        except BaseException:
            file.close()
            raise
        return file, ObjectInfo(key, size, meta["etag"], meta["content_type"], modified)

    @staticmethod
    def _trailer(file: io.BufferedReader, path: Path) -> tuple[int, dict[str, str]]:
        """The payload size and metadata of an object (or part) file; leaves the file at offset 0."""
        total = os.fstat(file.fileno()).st_size
        meta_size, magic = 0, b""
        if total >= _TRAILER.size:
            file.seek(total - _TRAILER.size)
            meta_size, magic = _TRAILER.unpack(file.read(_TRAILER.size))
        size = total - _TRAILER.size - meta_size
        if magic != _MAGIC or size < 0:
            raise StorageError(f"local store: {path} is not a stored object")
        file.seek(size)
        meta = json.loads(file.read(meta_size))
        file.seek(0)
        return size, meta

    def _install(self, tmp_name: str, path: Path, key: str) -> None:
        """Move a finished temp file into place (atomically) and make the rename durable."""
        for attempt in range(5):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp_name, path)
                break
            except (FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError):
                if self._collides(path):
                    raise StorageError(
                        f"local store: {key!r} collides with another key (it cannot hold both 'a' and 'a/b')"
                    ) from None
                if attempt == 4:  # otherwise a concurrent delete pruned a folder: create it again
                    raise
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def _collides(self, path: Path) -> bool:
        """Is ``path`` a folder of other objects, or is one of its folders an object?"""
        folders = itertools.takewhile(lambda folder: folder != self._objects, path.parents)
        return path.is_dir() or any(folder.is_file() for folder in folders)

    def _prune(self, directory: Path) -> None:
        """Remove now-empty directories up to the objects root (rmdir refuses non-empty ones)."""
        while directory != self._objects:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    @contextmanager
    def _os_errors(self) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise StorageUnavailable(f"local store at {self.root}: {exc}") from exc


def _read_chunks(
    stream: BinaryIO, length: int | None, short: type[StorageError] = StorageError
) -> Iterator[bytes]:
    """The stream in bounded chunks; exactly ``length`` bytes when it is given (else ``short``)."""
    remaining = length
    while remaining != 0:
        chunk = stream.read(_CHUNK if remaining is None else min(_CHUNK, remaining))
        if not chunk:
            if remaining is not None:
                raise short(f"the stream ended {remaining} bytes short of length={length}")
            return
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


class _FileSlice(io.RawIOBase):
    """The first ``size`` bytes of an open file (the payload without the metadata trailer)."""

    def __init__(self, file: io.BufferedReader, size: int) -> None:
        self._file = file
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._file.readinto(memoryview(buffer)[: self._left])
        self._left -= count
        return count

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


# --------------------------------------------------------------------------------------------------
# MinioStore


class MinioStore:
    """A bucket on MinIO (or any S3). Connection problems become StorageUnavailable within seconds.

    Presigned URLs are for browsers, so they are signed for ``public_endpoint`` (the host:port the
    browser reaches MinIO at; SigV4 signs the Host header, so a URL made for the internal endpoint
    fails behind a proxy) by a second client that never touches the network. ``region`` is fixed so
    that presigning never asks the server for the bucket's location.
    """

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        secure: bool = False,
        region: str = "us-east-1",
        *,
        public_endpoint: str | None = None,
        public_secure: bool | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 60.0,
    ) -> None:
        self.bucket = bucket
        self.endpoint = endpoint
        self.public_endpoint = public_endpoint or endpoint
        self.region = region
        # The SDK's default client waits 5 minutes per attempt and retries 5 times. Here: a down server
        # fails after one short connect retry, a hung one after one read timeout (reads are not retried),
        # and a 503's Retry-After cannot stall a worker.
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            retries=urllib3.Retry(
                total=2,
                connect=1,
                read=0,
                backoff_factor=0.2,
                status_forcelist=(500, 502, 503, 504),
                respect_retry_after_header=False,
            ),
            maxsize=10,
        )
        self._client = Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=http,
        )
        self._presigned: dict[Any, Any] = {}  # presigned_get_url's memo of this hour: {None: hour, ...}
        self._signer = Minio(  # signs only: with the region given it never makes a request
            self.public_endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure if public_secure is None else public_secure,
            region=region,
        )

    def ping(self) -> None:
        # A listing (of a prefix that holds nothing) rather than HEAD bucket: a HEAD response has no
        # body, so a wrong secret would only say "AccessDenied", not "SignatureDoesNotMatch".
        try:
            next(iter(self._client.list_objects(self.bucket, prefix=".lms-ping/")), None)
        except S3Error as exc:
            if exc.code == "NoSuchBucket":
                raise StorageUnavailable(self._no_bucket()) from exc
            raise StorageUnavailable(f"MinIO at {self.endpoint} is unavailable: {_describe(exc)}") from exc
        except (MinioException, urllib3.exceptions.HTTPError) as exc:  # down, or e.g. wrong credentials
            raise StorageUnavailable(f"MinIO at {self.endpoint} is unavailable: {_describe(exc)}") from exc

    def ensure_bucket(self) -> None:
        with self._errors():
            if self._client.bucket_exists(self.bucket):
                return
            try:
                self._client.make_bucket(self.bucket)
            except S3Error as exc:
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    def put(
        self,
        key: str,
        data: bytes | BinaryIO,
        *,
        length: int | None = None,
        content_type: str = DEFAULT_CONTENT_TYPE,
    ) -> ObjectInfo:
        validate_key(key)
        stream, length = _as_stream(data, length)
        with self._errors(key):
            # One part in flight at a time: memory stays at one part, and a failing source or server
            # stops the upload at once (the SDK's parallel mode keeps reading and leaks its threads).
            self._client.put_object(
                self.bucket,
                key,
                stream,
                -1 if length is None else length,
                content_type=content_type,
                part_size=PART_SIZE,
                num_parallel_uploads=1,
            )
        return self.stat(key)

    def open(self, key: str) -> BinaryIO:
        validate_key(key)
        with self._errors(key):
            response = self._client.get_object(self.bucket, key)
        return io.BufferedReader(_ResponseReader(response, lambda: self._errors(key)))

    def read(self, key: str) -> bytes:
        with self.open(key) as reader:
            return reader.read()

    def read_range(self, key: str, start: int, end_inclusive: int) -> bytes:
        validate_key(key)
        _validate_range(start, end_inclusive)
        with self._errors(key):
            response = self._client.get_object(
                self.bucket, key, offset=start, length=end_inclusive - start + 1
            )
        with io.BufferedReader(_ResponseReader(response, lambda: self._errors(key))) as reader:
            return reader.read()

    def stat(self, key: str) -> ObjectInfo:
        validate_key(key)
        with self._errors(key):
            obj = self._client.stat_object(self.bucket, key)
        return ObjectInfo(
            key=key,
            size=obj.size or 0,
            etag=obj.etag or "",
            content_type=obj.content_type or DEFAULT_CONTENT_TYPE,
            last_modified=obj.last_modified or datetime.now(UTC),
        )

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except ObjectNotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        validate_key(key)
        with self._errors(key):
            self._client.remove_object(self.bucket, key)

    def delete_prefix(self, prefix: str) -> int:
        _validate_folder(prefix)
        with self._errors():
            keys = [obj.object_name for obj in self._client.list_objects(self.bucket, prefix, recursive=True)]
            for error in self._client.remove_objects(self.bucket, (DeleteObject(key) for key in keys)):
                raise StorageError(f"could not delete {error.name!r}: {error.code} {error.message}")
        return len(keys)

    def list(self, prefix: str = "", recursive: bool = True) -> Iterator[ObjectInfo]:
        _validate_prefix(prefix)
        with self._errors():
            # include_user_meta is MinIO's extension that also returns each object's content type.
            for obj in self._client.list_objects(
                self.bucket, prefix or None, recursive=recursive, include_user_meta=True
            ):
                if obj.is_dir:
                    continue
                meta = {name.lower(): value for name, value in (obj.metadata or {}).items()}
                yield ObjectInfo(
                    key=obj.object_name,
                    size=obj.size or 0,
                    etag=obj.etag or "",
                    content_type=meta.get("content-type", DEFAULT_CONTENT_TYPE),
                    last_modified=obj.last_modified or datetime.now(UTC),
                )

    def presigned_get_url(self, key: str, expires: timedelta) -> str | None:
        """Signed for the public endpoint, dated at the start of the hour and valid for ``expires`` plus
        an hour from then: within an hour the same key gives the same URL, so browsers (and a CDN) can
        cache what it points to, and it is still valid at least ``expires`` from now."""
        validate_key(key)
        if not timedelta(seconds=1) <= expires <= _MAX_PRESIGN:
            raise ValueError(f"expires must be between 1 second and 7 days, not {expires}")
        now = datetime.now(UTC)
        if expires + _HOUR > _MAX_PRESIGN:  # no room for the extra hour: an exact date keeps the promise
            with self._errors(key):
                return self._signer.presigned_get_object(self.bucket, key, expires=expires, request_date=now)
        hour = now.replace(minute=0, second=0, microsecond=0)
        # Such a URL depends on nothing else, so it is remembered for the rest of the hour: a playlist
        # served again (the next student, a reload) costs a lookup per segment, not a signature (~40 µs).
        memo = self._presigned
        if memo.get(None) != hour or len(memo) > _PRESIGN_MEMO:
            memo = self._presigned = {None: hour}
        url = memo.get((key, expires))
        if url is None:
            with self._errors(key):
                url = self._signer.presigned_get_object(
                    self.bucket, key, expires=expires + _HOUR, request_date=hour
                )
            memo[key, expires] = url
        return url

    def upload_file(self, key: str, path: Path, content_type: str = DEFAULT_CONTENT_TYPE) -> ObjectInfo:
        # What fput_object does, through put: one 16 MiB part in flight, multipart above PART_SIZE.
        with Path(path).open("rb") as file:
            return self.put(key, file, length=os.fstat(file.fileno()).st_size, content_type=content_type)

    def download_file(self, key: str, path: Path) -> None:
        _download(self, key, path)

    # Multipart uploads -----------------------------------------------------------------------------
    # minio-py has no public API for multipart uploads with presigned parts (minio/minio#13453), so
    # this section, and only this section, calls the SDK's private methods _create_multipart_upload,
    # _upload_part, _list_parts, _complete_multipart_upload, _abort_multipart_upload and
    # _list_multipart_uploads. Their signatures are those of minio==7.2.20: the SDK is pinned in
    # requirements.txt because of them; check this section (and its tests) before upgrading it.

    def create_multipart(self, key: str, content_type: str = DEFAULT_CONTENT_TYPE) -> str:
        validate_key(key)
        with self._errors(key):
            return self._client._create_multipart_upload(self.bucket, key, {"Content-Type": content_type})

    def presigned_part_url(
        self, key: str, upload_id: str, part_number: int, expires: timedelta
    ) -> str | None:
        """A presigned UploadPart (PUT) URL for the public endpoint. The browser must send the part as
        the request body and read the ``ETag`` response header (MinIO exposes it to CORS requests)."""
        validate_key(key)
        _validate_upload_id(key, upload_id)
        _validate_part_number(part_number)
        query = {"uploadId": upload_id, "partNumber": str(part_number)}
        with self._errors(key):
            return self._signer.get_presigned_url(
                "PUT", self.bucket, key, expires=expires, extra_query_params=query
            )

    def put_part(
        self, key: str, upload_id: str, part_number: int, data: bytes | BinaryIO, length: int
    ) -> UploadedPart:
        """The part is held in memory while it is sent (the SDK signs a body it has whole)."""
        validate_key(key)
        _validate_upload_id(key, upload_id)
        _validate_part_number(part_number)
        chunks = _part_bytes(data, length)  # checks the length first
        payload = data if isinstance(data, bytes) else b"".join(chunks)
        with self._errors(key):
            etag = self._client._upload_part(self.bucket, key, payload, None, upload_id, part_number)
        return UploadedPart(part_number, etag.strip('"'), length)

    def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        validate_key(key)
        _validate_upload_id(key, upload_id)
        parts: list[UploadedPart] = []
        marker: str | None = None
        with self._errors(key):
            while True:
                result = self._client._list_parts(self.bucket, key, upload_id, part_number_marker=marker)
                parts += [UploadedPart(p.part_number, p.etag, p.size or 0) for p in result.parts]
                if not result.is_truncated or not result.parts:
                    break
                marker = result.next_part_number_marker or str(result.parts[-1].part_number)
        return sorted(parts, key=lambda part: part.number)

    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> ObjectInfo:
        validate_key(key)
        _validate_upload_id(key, upload_id)
        wanted = [Part(number, etag) for number, etag in _validate_part_list(parts)]
        with self._errors(key):
            self._client._complete_multipart_upload(self.bucket, key, upload_id, wanted)
        return self.stat(key)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        validate_key(key)
        try:
            _validate_upload_id(key, upload_id)
            with self._errors(key):
                self._client._abort_multipart_upload(self.bucket, key, upload_id)
        except UploadNotFound:
            return

    def list_multipart_uploads(self, prefix: str = "") -> Iterator[MultipartUpload]:
        """MinIO lists uploads by exact key only (a folder prefix finds nothing) and, for the whole
        bucket, in no particular order; so this lists all of the bucket's uploads, keeps those under
        ``prefix`` and sorts them by key and start time itself."""
        _validate_prefix(prefix)
        found: dict[tuple[str, str], MultipartUpload] = {}
        key_marker: str | None = None
        id_marker: str | None = None
        with self._errors():
            while True:
                result = self._client._list_multipart_uploads(
                    self.bucket, key_marker=key_marker, upload_id_marker=id_marker
                )
                before = len(found)
                for upload in result.uploads:
                    if upload.upload_id and upload.object_name.startswith(prefix):
                        initiated = upload.initiated_time or datetime.now(UTC)
                        found[upload.object_name, upload.upload_id] = MultipartUpload(
                            upload.object_name, upload.upload_id, initiated
                        )
                if not result.is_truncated or not result.uploads or len(found) == before:
                    break
                # (7.2.20 stores NextUploadIdMarker under a wrong attribute name: use the last upload)
                key_marker, id_marker = result.uploads[-1].object_name, result.uploads[-1].upload_id
        yield from sorted(found.values(), key=lambda upload: (upload.key, upload.initiated, upload.upload_id))

    def _no_bucket(self) -> str:
        return f"MinIO at {self.endpoint}: bucket {self.bucket!r} does not exist (call ensure_bucket)"

    @contextmanager
    def _errors(self, key: str | None = None) -> Iterator[None]:
        """Translate SDK and urllib3 errors into StorageError subclasses."""
        try:
            yield
        except S3Error as exc:
            if key is not None and exc.code in ("NoSuchKey", "NoSuchObject"):
                raise ObjectNotFound(key) from exc
            if exc.code == "NoSuchUpload":
                raise UploadNotFound(f"no multipart upload for {key!r}: {exc.message}") from exc
            if exc.code in ("InvalidPart", "InvalidPartOrder", "EntityTooSmall"):
                raise InvalidUpload(f"{key!r}: {_describe(exc)}") from exc
            if exc.code == "InvalidRange":
                raise InvalidRange(f"{key!r}: {exc.message}") from exc
            if exc.code == "NoSuchBucket":
                raise StorageUnavailable(self._no_bucket()) from exc
            raise StorageError(f"MinIO at {self.endpoint}: {_describe(exc)}") from exc
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            raise StorageUnavailable(f"MinIO at {self.endpoint} is unavailable: {_describe(exc)}") from exc


# What S3 and MinIO upload ids are made of (base64 and url-safe characters); never '/' or '..'.
_S3_UPLOAD_ID = re.compile(r"(?!.*\.\.)[A-Za-z0-9._~+=-]{1,1024}")


def _validate_upload_id(key: str, upload_id: str) -> None:
    if not isinstance(upload_id, str) or not _S3_UPLOAD_ID.fullmatch(upload_id):
        raise UploadNotFound(f"no multipart upload {str(upload_id)[:80]!r} for {key!r}")


def _describe(exc: Exception) -> str:
    """The useful part of an SDK or urllib3 error message."""
    if isinstance(exc, S3Error):
        return f"{exc.code}: {exc.message}"
    return str(getattr(exc, "reason", None) or exc)  # MaxRetryError wraps the real cause


class _ResponseReader(io.RawIOBase):
    """An HTTP response body as a raw stream; closing it releases the connection."""

    def __init__(
        self, response: urllib3.BaseHTTPResponse, errors: Callable[[], AbstractContextManager[None]]
    ) -> None:
        self._response = response
        self._errors = errors

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with self._errors():
            return self._response.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self._response.close()
            self._response.release_conn()
        super().close()


def create_store(backend: str, **settings: Any) -> ObjectStore:
    """Build the configured store: ``create_store("local", root=...)`` or ``create_store("minio", ...)``."""
    if backend == "local":
        return LocalStore(**settings)
    if backend == "minio":
        return MinioStore(**settings)
    raise ValueError(f"unknown storage backend {backend!r}; expected 'local' or 'minio'")
