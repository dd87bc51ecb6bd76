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
