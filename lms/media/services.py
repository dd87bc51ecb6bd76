"""Uploads and asset lifecycle: who may upload what, how big, and what happens on completion.

The browser sends the bytes straight to the object store (presigned part URLs); the app only starts,
lists, aborts and completes uploads. With the local store, which cannot presign, the app receives the
parts itself through ``receive_part`` — the same protocol, served by the app.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import BinaryIO

from sqlalchemy import func, select

from lms.accounts.models import User
from lms.accounts.permissions import admin_scope, is_teacher
from lms.audit.services import record
from lms.core.db import db, utcnow
from lms.core.errors import NotFound, PermissionDenied, ValidationFailed
from lms.core.i18n import N_
from lms.core.tasks import call_after_commit, enqueue
from lms.media.errors import (
    FileTooLarge,
    NotRetryable,
    QuotaExceeded,
    StorageDown,
    UnsupportedFile,
    UploadClosed,
    UploadIncomplete,
    UploadNotFoundError,
    UploadSizeMismatch,
)
from lms.media.models import AssetKind, AssetStatus, MediaAsset, MediaUpload, UploadStatus
from media_pipeline import ObjectInfo, ObjectNotFound, ObjectStore, StorageError, StorageUnavailable
from media_pipeline.errors import InvalidUpload, UploadNotFound
from media_pipeline.storage import UploadedPart

MiB = 1024 * 1024
GiB = 1024 * MiB
MIN_PART = 8 * MiB
MAX_PARTS = 10_000
MAX_COVER_BYTES = 10 * MiB
UPLOAD_LIFETIME = timedelta(days=3)  # an unfinished upload older than this is aborted by the sweep
PROCESS_TASK = "media.process_asset"

EXTENSIONS = {
    AssetKind.VIDEO: ("mp4", "mov", "m4v", "mkv", "webm", "avi", "3gp", "flv", "mpg", "mpeg", "ts"),
    AssetKind.AUDIO: ("mp3", "m4a", "aac", "wav", "ogg", "oga", "opus", "flac", "wma", "amr"),
    AssetKind.IMAGE: ("jpg", "jpeg", "png", "webp"),
}


@dataclass(frozen=True)
class MediaLimits:
    max_upload_bytes: int
    quota_bytes: int
    max_duration_s: float
    url_ttl: timedelta


def human_size(size: int) -> str:
    for unit, factor in (("GB", GiB), ("MB", MiB), ("KB", 1024)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} B"


def can_upload(actor: User) -> bool:
    return is_teacher(actor) or admin_scope(actor).is_admin


def can_manage(actor: User, asset: MediaAsset, org_path: str) -> bool:
    """The owner, or an admin of the owning org (for preview, retry and take-down)."""
    return actor.id == asset.owner_id or admin_scope(actor).covers_path(org_path)


def _kind(purpose: object) -> AssetKind:
    mapping = {"video": AssetKind.VIDEO, "audio": AssetKind.AUDIO, "cover": AssetKind.IMAGE}
    if purpose not in mapping:
        raise ValidationFailed(fields={"purpose": N_("Not a valid choice.")})
    return mapping[str(purpose)]


def _clean_filename(raw: object) -> tuple[str, str]:
    name = PurePosixPath(str(raw or "").replace("\\", "/")).name
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip()[:200]
    if not name:
        raise ValidationFailed(fields={"filename": N_("A file name is required.")})
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return name, extension


def part_size_for(size: int) -> int:
    """Parts of at least 8 MiB, few enough for S3's 10,000-part limit, a whole number of MiB."""
    needed = -(-size // MAX_PARTS)
    return max(MIN_PART, -(-needed // MiB) * MiB)


def used_bytes(owner_id: int) -> int:
    assets = db.session.scalar(
        select(func.coalesce(func.sum(MediaAsset.source_size), 0)).where(MediaAsset.owner_id == owner_id)
    )
    pending = db.session.scalar(
        select(func.coalesce(func.sum(MediaUpload.size), 0)).where(
            MediaUpload.owner_id == owner_id, MediaUpload.status == UploadStatus.UPLOADING
        )
    )
    return int(assets or 0) + int(pending or 0)


def start_upload(
    *,
    actor: User,
    store: ObjectStore,
    limits: MediaLimits,
    filename: object,
    size: object,
    content_type: object,
    purpose: object,
    now: datetime | None = None,
) -> MediaUpload:
    if not can_upload(actor):
        raise PermissionDenied(N_("Only teachers and administrators can upload media."))
    kind = _kind(purpose)
    name, extension = _clean_filename(filename)
    if extension not in EXTENSIONS[kind]:
        raise UnsupportedFile(accepted="、".join(EXTENSIONS[kind]))
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise ValidationFailed(fields={"size": N_("The file is empty.")})
    limit = MAX_COVER_BYTES if kind == AssetKind.IMAGE else limits.max_upload_bytes
    if size > limit:
        raise FileTooLarge(size=human_size(size), limit=human_size(limit), excess=human_size(size - limit))
    used = used_bytes(actor.id)
    if used + size > limits.quota_bytes:
        raise QuotaExceeded(
            quota=human_size(limits.quota_bytes),
            used=human_size(used),
            size=human_size(size),
            excess=human_size(used + size - limits.quota_bytes),
        )
    key = f"uploads/{actor.id}/{secrets.token_hex(16)}/original.{extension}"
    mime = str(content_type or "")[:100] or "application/octet-stream"
    try:
        upload_id = store.create_multipart(key, "application/octet-stream")
    except StorageUnavailable as error:
        raise StorageDown() from error
    upload = MediaUpload(
        owner_id=actor.id,
        org_id=actor.org_id,
        kind=kind,
        filename=name,
        content_type=mime,
        size=size,
        part_size=part_size_for(size),
        key=key,
        store_upload_id=upload_id,
        status=UploadStatus.UPLOADING,
        expires_at=(now or utcnow()) + UPLOAD_LIFETIME,
    )
    db.session.add(upload)
    db.session.flush()
    return upload


def _open(actor: User, upload: MediaUpload) -> None:
    if upload.owner_id != actor.id:
        raise UploadNotFoundError()
    if upload.status != UploadStatus.UPLOADING:
        raise UploadClosed()


def part_targets(
    *, actor: User, upload: MediaUpload, store: ObjectStore, numbers: object, ttl: timedelta
) -> dict[int, str | None]:
    """Presigned PUT URLs for the given part numbers; ``None`` means: send the part to the app."""
    _open(actor, upload)
    if (
        not isinstance(numbers, list)
        or not 0 < len(numbers) <= 50
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in numbers)
        or not all(1 <= n <= upload.part_count for n in numbers)
    ):
        raise ValidationFailed(fields={"parts": N_("Part numbers must be from 1 to the part count.")})
    try:
        return {n: store.presigned_part_url(upload.key, upload.store_upload_id, n, ttl) for n in numbers}
    except StorageUnavailable as error:
        raise StorageDown() from error


def _expected_size(upload: MediaUpload, number: int) -> int:
    if number < upload.part_count:
        return upload.part_size
    return upload.size - upload.part_size * (upload.part_count - 1)


def receive_part(
    *, actor: User, upload: MediaUpload, store: ObjectStore, number: int, data: BinaryIO, length: int
) -> tuple[int, str, int]:
    """A part sent to the app (local store): checked against the size it must have."""
    _open(actor, upload)
    if not 1 <= number <= upload.part_count:
        raise NotFound()
    if length != _expected_size(upload, number):
        raise ValidationFailed(
            N_("Part %(number)s must be %(expected)s bytes, not %(actual)s."),
            number=number,
            expected=_expected_size(upload, number),
            actual=length,
        )
    try:
        part = store.put_part(upload.key, upload.store_upload_id, number, data, length)
    except UploadNotFound as error:
        raise UploadNotFoundError() from error
    except StorageUnavailable as error:
        raise StorageDown() from error
    return part.number, part.etag, part.size


def stored_parts(upload: MediaUpload, store: ObjectStore) -> list[tuple[int, str, int]]:
    """The parts the store holds (for resuming); empty once the upload is no longer open."""
    if upload.status != UploadStatus.UPLOADING:
        return []
    try:
        return [(p.number, p.etag, p.size) for p in store.list_parts(upload.key, upload.store_upload_id)]
    except UploadNotFound:
        return []
    except StorageUnavailable as error:
        raise StorageDown() from error


def complete_upload(
    *, actor: User, upload: MediaUpload, store: ObjectStore, parts: object, title: object = None
) -> MediaAsset:
    """Check every part against the store, assemble the object and queue processing."""
    _open(actor, upload)
    claimed: dict[int, str] = {}
    if isinstance(parts, list):
        for item in parts:
            if (
                isinstance(item, dict)
                and isinstance(item.get("number"), int)
                and isinstance(item.get("etag"), str)
            ):
                claimed[item["number"]] = item["etag"].strip('"')
    try:
        held = _held_parts(store, upload)
        if held is None:  # assembled by an earlier call whose database commit was lost, or aborted
            info = _stat_or_gone(store, upload)
        else:
            good = [
                n
                for n in range(1, upload.part_count + 1)
                if n in held and held[n].size == _expected_size(upload, n) and claimed.get(n) == held[n].etag
            ]
            if len(good) != upload.part_count:
                raise UploadIncomplete(missing=upload.part_count - len(good))
            try:
                info = store.complete_multipart(
                    upload.key, upload.store_upload_id, [(n, held[n].etag) for n in good]
                )
            except InvalidUpload as error:
                raise UploadIncomplete(missing=upload.part_count) from error
            except UploadNotFound:
                info = _stat_or_gone(store, upload)
    except StorageUnavailable as error:
        raise StorageDown() from error
    if info.size != upload.size:
        _delete_quietly(store, upload.key)
        upload.status = UploadStatus.ABORTED
        db.session.flush()
        raise UploadSizeMismatch(actual=info.size, declared=upload.size)
    label = str(title or "").strip()[:200] or upload.filename.rsplit(".", 1)[0][:200] or upload.filename
    asset = MediaAsset(
        owner_id=upload.owner_id,
        org_id=upload.org_id,
        kind=upload.kind,
        title=label,
        status=AssetStatus.UPLOADED,
        source_key=upload.key,
        source_size=info.size,
        job_token=secrets.token_hex(8),
    )
    db.session.add(asset)
    db.session.flush()
    upload.status = UploadStatus.COMPLETED
    upload.asset_id = asset.id
    _dispatch(asset)
    return asset


def _held_parts(store: ObjectStore, upload: MediaUpload) -> dict[int, UploadedPart] | None:
    try:
        return {p.number: p for p in store.list_parts(upload.key, upload.store_upload_id)}
    except UploadNotFound:
        return None


def _stat_or_gone(store: ObjectStore, upload: MediaUpload) -> ObjectInfo:
    try:
        return store.stat(upload.key)
    except ObjectNotFound as error:
        raise UploadNotFoundError() from error


def abort_upload(*, actor: User, upload: MediaUpload, store: ObjectStore) -> None:
    _open(actor, upload)
    try:
        store.abort_multipart(upload.key, upload.store_upload_id)
    except StorageUnavailable as error:
        raise StorageDown() from error
    upload.status = UploadStatus.ABORTED


def _delete_quietly(store: ObjectStore, key: str) -> None:
    with contextlib.suppress(StorageError):  # otherwise the orphan sweep removes it later
        store.delete(key)


def _dispatch(asset: MediaAsset) -> None:
    """Queue processing once the asset row is committed; if the broker is down, the sweep re-queues."""
    asset_id, token = asset.id, asset.job_token
    call_after_commit(lambda: enqueue(PROCESS_TASK, asset_id, token))


def retry_processing(*, actor: User, asset: MediaAsset, org_path: str) -> MediaAsset:
    if not can_manage(actor, asset, org_path):
        raise NotFound()
    if asset.status != AssetStatus.FAILED:
        raise NotRetryable()
    asset.status = AssetStatus.UPLOADED
    asset.progress = 0
    asset.error_code = None
    asset.error_detail = ""
    asset.error_retryable = False
    asset.job_token = secrets.token_hex(8)
    _dispatch(asset)
    return asset


def take_down(*, actor: User, asset: MediaAsset, org_path: str, reason: str) -> MediaAsset:
    """An admin of the owning org withdraws an asset: nothing of it is served any more (audited)."""
    if not admin_scope(actor).covers_path(org_path):
        raise PermissionDenied(N_("Only an administrator of the owning unit can take media down."))
    reason = reason.strip()[:200]
    if not reason:
        raise ValidationFailed(fields={"reason": N_("Give a reason for taking the media down.")})
    if asset.status == AssetStatus.TAKEN_DOWN:
        return asset
    before = {"status": str(asset.status)}
    asset.status = AssetStatus.TAKEN_DOWN
    asset.job_token = None  # a job still running loses its claim and publishes nothing
    asset.taken_down_by_id = actor.id
    asset.taken_down_reason = reason
    record(
        actor=actor,
        action="media.take_down",
        target_type="media_asset",
        target_id=asset.id,
        target_label=asset.title,
        org_path=org_path,
        before=before,
        after={"status": str(asset.status), "reason": reason},
    )
    return asset


def restore(*, actor: User, asset: MediaAsset, org_path: str) -> MediaAsset:
    """Undo a take-down: the processed output was kept, so it is served again (audited)."""
    if not admin_scope(actor).covers_path(org_path):
        raise PermissionDenied(N_("Only an administrator of the owning unit can take media down."))
    if asset.status != AssetStatus.TAKEN_DOWN:
        return asset
    asset.status = AssetStatus.READY if asset.output_prefix else AssetStatus.FAILED
    if asset.status == AssetStatus.FAILED:
        asset.error_code, asset.error_retryable = "interrupted", True
    record(
        actor=actor,
        action="media.restore",
        target_type="media_asset",
        target_id=asset.id,
        target_label=asset.title,
        org_path=org_path,
        before={"status": str(AssetStatus.TAKEN_DOWN)},
        after={"status": str(asset.status)},
    )
    return asset
