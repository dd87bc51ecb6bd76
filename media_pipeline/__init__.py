"""Framework-free media processing and object storage (stdlib + minio; never flask, sqlalchemy or lms)."""

from media_pipeline.errors import (
    InvalidKey,
    InvalidRange,
    MediaError,
    ObjectNotFound,
    StorageError,
    StorageUnavailable,
)
from media_pipeline.storage import (
    LocalStore,
    MinioStore,
    ObjectInfo,
    ObjectStore,
    create_store,
    validate_key,
)

__all__ = [
    "InvalidKey",
    "InvalidRange",
    "LocalStore",
    "MediaError",
    "MinioStore",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "StorageError",
    "StorageUnavailable",
    "create_store",
    "validate_key",
]
