"""The object store the app uses, built once per app from settings (the only place that chooses it)."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, url_for

from lms.media.delivery import Delivery, UrlSigner
from lms.media.services import MediaLimits
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
            public_endpoint=settings.minio_public_endpoint or None,
            public_secure=settings.minio_public_secure,
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


def get_delivery() -> Delivery:
    """The app's playlist server (store, URL signer for the local store, playlist cache)."""
    delivery: Delivery | None = current_app.extensions.get("lms.delivery")
    if delivery is None:
        settings: Settings = current_app.extensions["lms.settings"]
        delivery = Delivery(
            get_storage(),
            UrlSigner(settings.secret_key),
            timedelta(hours=settings.media_url_ttl_hours),
            lambda key, expires, signature: url_for("media.object", key=key, e=expires, s=signature),
        )
        current_app.extensions["lms.delivery"] = delivery
    return delivery


def media_limits() -> MediaLimits:
    settings: Settings = current_app.extensions["lms.settings"]
    return MediaLimits(
        max_upload_bytes=settings.media_max_upload_mb * 1024 * 1024,
        quota_bytes=settings.media_quota_gb * 1024**3,
        max_duration_s=settings.media_max_duration_minutes * 60.0,
        url_ttl=timedelta(hours=1),
    )
