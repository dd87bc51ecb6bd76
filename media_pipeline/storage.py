"""Object storage for video, covers, evidence files and exports.

One interface, ``ObjectStore``, with two implementations that pass the same contract tests:

- ``LocalStore``: a directory. The no-services default; it cannot presign, so the app serves the bytes.
- ``MinioStore``: MinIO through the minio SDK, with short timeouts so a down server fails in seconds.

Keys are S3-style paths such as ``orgs/1/assets/2/hls/360p/seg_00001.ts`` (see ``validate_key``).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import re
import struct
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import MinioException, S3Error

from media_pipeline.errors import (
    InvalidKey,
    InvalidRange,
    ObjectNotFound,
    StorageError,
    StorageUnavailable,
)

DEFAULT_CONTENT_TYPE = "application/octet-stream"
MAX_KEY_BYTES = 1024
MAX_SEGMENT_BYTES = 255  # a file name on every common filesystem, so LocalStore can hold any valid key
PART_SIZE = 16 * 1024 * 1024  # multipart part size for MinIO uploads
_CHUNK = 1024 * 1024  # LocalStore copy buffer
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\]")  # control characters (NUL included) and backslash


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    etag: str  # md5 hex of the bytes for single-part writes; MinIO multipart etags are "<hex>-<parts>"
    content_type: str
    last_modified: datetime  # timezone-aware, UTC


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
        """A time-limited GET URL, or None when the store cannot presign and the app must serve the bytes."""


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


class LocalStore:
    """Objects as files under ``root/objects``.

    A write goes to a temp file in ``root/tmp``, is fsynced and then moved into place with os.replace.
    The metadata (etag, content type) rides in a trailer inside the same file, so payload and
    metadata change together in that one atomic rename: a crash never exposes a half-written object,
    and a reader that has opened an object keeps reading that version.

    A directory tree cannot hold both 'a' and 'a/b'; such a put raises StorageError.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._objects = self.root / "objects"
        self._tmp = self.root / "tmp"

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
            stat = os.fstat(file.fileno())
            meta_size, magic = 0, b""
            if stat.st_size >= _TRAILER.size:
                file.seek(stat.st_size - _TRAILER.size)
                meta_size, magic = _TRAILER.unpack(file.read(_TRAILER.size))
            size = stat.st_size - _TRAILER.size - meta_size
            if magic != _MAGIC or size < 0:
                raise StorageError(f"local store: {path} is not a stored object")
            file.seek(size)
            meta = json.loads(file.read(meta_size))
            file.seek(0)
        except BaseException:
            file.close()
            raise
        modified = datetime.fromtimestamp(stat.st_mtime, UTC)
        return file, ObjectInfo(key, size, meta["etag"], meta["content_type"], modified)

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


def _read_chunks(stream: BinaryIO, length: int | None) -> Iterator[bytes]:
    """The stream in bounded chunks; exactly ``length`` bytes when it is given."""
    remaining = length
    while remaining != 0:
        chunk = stream.read(_CHUNK if remaining is None else min(_CHUNK, remaining))
        if not chunk:
            if remaining is not None:
                raise StorageError(f"the stream ended {remaining} bytes short of length={length}")
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
    """A bucket on MinIO (or any S3). Connection problems become StorageUnavailable within seconds."""

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        secure: bool = False,
        region: str | None = None,
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 60.0,
    ) -> None:
        self.bucket = bucket
        self.endpoint = endpoint
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

    def ping(self) -> None:
        try:
            exists = self._client.bucket_exists(self.bucket)
        except (MinioException, urllib3.exceptions.HTTPError) as exc:  # down, or e.g. wrong credentials
            raise StorageUnavailable(f"MinIO at {self.endpoint} is unavailable: {_describe(exc)}") from exc
        if not exists:
            raise StorageUnavailable(self._no_bucket())

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
        validate_key(key)
        with self._errors(key):
            return self._client.presigned_get_object(self.bucket, key, expires=expires)

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
            if exc.code == "InvalidRange":
                raise InvalidRange(f"{key!r}: {exc.message}") from exc
            if exc.code == "NoSuchBucket":
                raise StorageUnavailable(self._no_bucket()) from exc
            raise StorageError(f"MinIO at {self.endpoint}: {_describe(exc)}") from exc
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            raise StorageUnavailable(f"MinIO at {self.endpoint} is unavailable: {_describe(exc)}") from exc


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
