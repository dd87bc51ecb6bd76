"""The object store the app uses, built once per app from settings (the only place that chooses it)."""

from __future__ import annotations

from flask import current_app

from lms.settings import Settings
from media_pipeline import ObjectStore, create_store


def build_store(settings: Settings) -> ObjectStore:
    if settings.storage_backend == "minio":
        return create_store(
            "minio",
            endpoint=settings.minio_endpoint,
            access_key=settings.minio_access_key,
            secret_key=settings.minio_secret_key,
            bucket=settings.minio_bucket,
            secure=settings.minio_secure,
        )
    return create_store("local", root=settings.storage_dir)


def get_storage() -> ObjectStore:
    """For views, tasks and CLI commands (the edge); services receive the store as a parameter."""
    store: ObjectStore | None = current_app.extensions.get("lms.storage")
    if store is None:
        store = build_store(current_app.extensions["lms.settings"])
        store.ensure_bucket()  # idempotent; if the service is down this raises and the next call retries
        current_app.extensions["lms.storage"] = store
    return store
