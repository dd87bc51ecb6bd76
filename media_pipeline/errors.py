"""Errors raised by media_pipeline. Everything here subclasses MediaError."""

from __future__ import annotations


class MediaError(Exception):
    """Base class of every media_pipeline error."""


class StorageError(MediaError):
    """An object-store operation failed."""


class InvalidKey(StorageError, ValueError):
    """An object key (or prefix) is not acceptable; see ``storage.validate_key``."""


class ObjectNotFound(StorageError):
    """No object is stored under the key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"object not found: {key!r}")
        self.key = key


class InvalidRange(StorageError, ValueError):
    """A byte range that starts at or beyond the end of the object (HTTP 416)."""


class StorageUnavailable(StorageError):
    """The store cannot be reached or is not ready (down, timed out, bucket missing). Retryable."""


class UploadNotFound(StorageError):
    """No multipart upload with this id is in progress for the key (completed, aborted or never started)."""


class InvalidUpload(StorageError, ValueError):
    """A multipart upload cannot be completed as asked: a part is missing, too small or its ETag differs."""


class InvalidMedia(MediaError):
    """A file failed validation. ``code`` is stable and machine-readable; ``detail`` is for logs/teachers.

    Codes: ``empty``, ``not_media``, ``unreadable`` (truncated or corrupt), ``unsupported_format``,
    ``unsupported_codec``, ``no_video``, ``no_audio``, ``too_long``, ``too_short``, ``too_large``
    (dimensions), ``probe_timeout``.
    """

    def __init__(self, code: str, detail: str = "", **params: object) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail
        self.params = params


class ProcessingFailed(MediaError):
    """ffmpeg failed or timed out on a file that passed validation. ``retryable`` says whether running
    the same job again may succeed (a timeout, a killed process) or not (the input cannot be decoded)."""

    def __init__(self, detail: str, *, retryable: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable
