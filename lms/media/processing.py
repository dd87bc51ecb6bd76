"""Processing one asset: download the original, validate it, transcode, upload the output, publish.

Idempotent and safe to run twice or to kill at any point:

- A job *claims* the asset with its ``job_token`` (a conditional UPDATE), and every later write is
  conditional on that token too. Retrying, taking down or the stale-job sweep hand out a new token, so
  an old attempt that wakes up again can publish nothing.
- Each attempt writes under ``media/<asset id>/<token>/``. Only after the outputs are all stored does one
  UPDATE make them live; a failed or superseded attempt deletes its prefix (the sweep removes anything
  a crash left behind). Nothing is ever half-published.
"""

from __future__ import annotations

import logging
import mimetypes
import secrets
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update

from lms.core.db import db, utcnow
from lms.media.models import AssetKind, AssetStatus, MediaAsset, MediaUpload, UploadStatus
from lms.media.services import PROCESS_TASK
from media_pipeline import ObjectStore, StorageError, StorageUnavailable
from media_pipeline.errors import InvalidMedia, ProcessingFailed
from media_pipeline.probe import Limits, MediaInfo, validate
from media_pipeline.transcode import HlsOutput, make_cover, transcode

log = logging.getLogger(__name__)

STALE_JOB = timedelta(minutes=10)  # a PROCESSING asset whose job stopped reporting for this long
LOST_DISPATCH = timedelta(minutes=15)  # an UPLOADED asset no worker has claimed (re-sent, same token)
RETRY_DELAY = timedelta(minutes=2)  # before a retryable failure is tried again
AUTO_RETRIES = 3  # retryable failures (storage down, worker killed) are retried this often by the sweep
CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".jpg": "image/jpeg",
    ".vtt": "text/vtt",
}


class Superseded(Exception):
    """The asset was handed to another attempt (or taken down) while this one ran."""


@dataclass(frozen=True)
class ProcessingConfig:
    limits: Limits
    preset: str = "veryfast"
    work_dir: Path | None = None  # temp space; default: the system's


def _owns(asset_id: int, token: str) -> Any:
    return (MediaAsset.id == asset_id) & (MediaAsset.job_token == token)


def _claim(asset_id: int, token: str, now: datetime) -> bool:
    result = db.session.execute(
        update(MediaAsset)
        .where(_owns(asset_id, token), MediaAsset.status == AssetStatus.UPLOADED)
        .values(
            status=AssetStatus.PROCESSING,
            progress=0,
            attempts=MediaAsset.attempts + 1,
            job_heartbeat_at=now,
            error_code=None,
            error_detail="",
            updated_at=now,
        )
    )
    db.session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _report(asset_id: int, token: str, percent: float) -> None:
    now = utcnow()
    result = db.session.execute(
        update(MediaAsset)
        .where(_owns(asset_id, token), MediaAsset.status == AssetStatus.PROCESSING)
        .values(progress=min(99, int(percent)), job_heartbeat_at=now)
    )
    db.session.commit()
    if not result.rowcount:  # type: ignore[attr-defined]
        raise Superseded()


def _fail(
    asset_id: int,
    token: str,
    code: str,
    detail: str,
    *,
    retryable: bool,
    params: dict[str, Any] | None = None,
) -> None:
    db.session.rollback()
    db.session.execute(
        update(MediaAsset)
        .where(_owns(asset_id, token), MediaAsset.status == AssetStatus.PROCESSING)
        .values(
            status=AssetStatus.FAILED,
            error_code=code,
            error_detail=detail[-2000:],
            error_params={
                k: v if isinstance(v, int | float | str) else str(v) for k, v in (params or {}).items()
            },
            error_retryable=retryable,
            job_heartbeat_at=None,
            updated_at=utcnow(),
        )
    )
    db.session.commit()


def _expected(kind: AssetKind) -> str:
    return {AssetKind.VIDEO: "video", AssetKind.AUDIO: "audio", AssetKind.IMAGE: "image"}[kind]


def process_asset(asset_id: int, token: str, *, store: ObjectStore, config: ProcessingConfig) -> str:
    """Run one attempt; returns what happened ("ready", "failed", "superseded", "skipped")."""
    if not _claim(asset_id, token, utcnow()):
        return "skipped"  # already done, superseded, or taken down
    asset = db.session.get(MediaAsset, asset_id)
    assert asset is not None
    kind, source_key = asset.kind, asset.source_key
    prefix = f"media/{asset_id}/{token}/"
    work = Path(tempfile.mkdtemp(prefix=f"lms-media-{asset_id}-", dir=config.work_dir))
    wrote_output = False
    try:
        source = work / "source.bin"
        store.download_file(source_key, source)
        info = validate(source, _expected(kind), config.limits)  # type: ignore[arg-type]
        out = work / "out"
        fields: dict[str, Any]
        if kind == AssetKind.IMAGE:
            out.mkdir()
            make_cover(source, out / "cover.jpg")
            files = ["cover.jpg"]
            fields = {"playlist_key": prefix + "cover.jpg", "renditions": []}
        else:
            last = [0.0]

            def progress(percent: float) -> None:
                if time.monotonic() - last[0] >= 1.0 or percent >= 100:
                    last[0] = time.monotonic()
                    _report(asset_id, token, percent)

            result = transcode(source, out, info, on_progress=progress, preset=config.preset)
            files = result.files
            fields = {
                "playlist_key": prefix + result.master,
                "renditions": list(result.rungs),
                "poster_key": prefix + result.poster if result.poster else None,
                "sprite_key": prefix + result.sprite if result.sprite else None,
                "sprite": _sprite_geometry(result),
                "duration_s": round(result.duration_s or info.duration_s, 3),
            }
        wrote_output = True
        for relative in files:
            path = out / relative
            store.upload_file(prefix + relative, path, _content_type(path))
        published = _publish(asset_id, token, prefix, info, fields)
        if not published:
            raise Superseded()
    except Superseded:
        db.session.rollback()
        if wrote_output:
            _delete_prefix_quietly(store, prefix)
        log.info("media %s: attempt %s superseded", asset_id, token)
        return "superseded"
    except InvalidMedia as error:
        log.info("media %s: rejected (%s) %s", asset_id, error.code, error.detail)
        _fail(asset_id, token, error.code, error.detail, retryable=False, params=error.params)
        return "failed"
    except ProcessingFailed as error:
        log.warning("media %s: transcode failed (retryable=%s): %s", asset_id, error.retryable, error.detail)
        _delete_prefix_quietly(store, prefix)
        code = "interrupted" if error.retryable else "transcode_failed"
        _fail(asset_id, token, code, error.detail, retryable=error.retryable)
        return "failed"
    except StorageError as error:
        log.warning("media %s: storage failed: %s", asset_id, error)
        _delete_prefix_quietly(store, prefix)
        code = "storage_unavailable" if isinstance(error, StorageUnavailable) else "storage_error"
        _fail(asset_id, token, code, str(error), retryable=True)
        return "failed"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _remove_old_outputs(store, asset_id, keep=prefix)
    return "ready"


def _sprite_geometry(result: HlsOutput) -> dict[str, Any] | None:
    layout = result.sprite_layout
    return asdict(layout) if layout is not None else None


def _content_type(path: Path) -> str:
    return (
        CONTENT_TYPES.get(path.suffix.lower())
        or mimetypes.guess_type(path.name)[0]
        or "application/octet-stream"
    )


def _publish(asset_id: int, token: str, prefix: str, info: MediaInfo, fields: dict[str, Any]) -> bool:
    now = utcnow()
    values: dict[str, Any] = {
        "status": AssetStatus.READY,
        "progress": 100,
        "output_prefix": prefix,
        "width": info.width,
        "height": info.height,
        "duration_s": fields.pop("duration_s", None),
        "job_token": None,
        "job_heartbeat_at": None,
        "ready_at": now,
        "updated_at": now,
        "error_code": None,
        "error_detail": "",
        "error_retryable": False,
        **fields,
    }
    result = db.session.execute(
        update(MediaAsset)
        .where(_owns(asset_id, token), MediaAsset.status == AssetStatus.PROCESSING)
        .values(**values)
    )
    db.session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _abort_untracked_uploads(store: ObjectStore, now: datetime) -> int:
    """Multipart uploads the store holds but no row tracks (the row's transaction was lost)."""
    try:
        found = [u for u in store.list_multipart_uploads("uploads/") if u.initiated < now - LOST_DISPATCH]
    except StorageError as error:
        log.warning("could not list multipart uploads: %s", error)
        return 0
    if not found:
        return 0
    known = set(
        db.session.scalars(
            select(MediaUpload.store_upload_id).where(
                MediaUpload.store_upload_id.in_([u.upload_id for u in found]),
                MediaUpload.status == UploadStatus.UPLOADING,
            )
        )
    )
    aborted = 0
    for upload in found:
        if upload.upload_id not in known:
            try:
                store.abort_multipart(upload.key, upload.upload_id)
                aborted += 1
            except StorageError as error:
                log.warning("could not abort %s: %s", upload.key, error)
    return aborted


def _delete_prefix_quietly(store: ObjectStore, prefix: str) -> None:
    try:
        store.delete_prefix(prefix)
    except StorageError as error:  # the sweep retries
        log.warning("could not delete %s: %s", prefix, error)


def _remove_old_outputs(store: ObjectStore, asset_id: int, keep: str) -> None:
    """Earlier attempts' folders under media/<id>/ (a crash can leave one behind)."""
    try:
        folders = {
            "/".join(obj.key.split("/")[:3]) + "/" for obj in store.list(f"media/{asset_id}/", recursive=True)
        }
    except StorageError as error:
        log.warning("media %s: could not list old outputs: %s", asset_id, error)
        return
    for folder in folders - {keep}:
        _delete_prefix_quietly(store, folder)


def sweep(
    *, store: ObjectStore, now: datetime | None = None, stale_after: timedelta = STALE_JOB
) -> dict[str, int]:
    """Recover what a crash, a killed worker or a lost dispatch left behind. Returns counts."""
    from lms.core.tasks import enqueue

    now = now or utcnow()
    counts = {"requeued": 0, "retried": 0, "aborted_uploads": 0}
    stuck = db.session.scalars(
        select(MediaAsset).where(
            or_(
                (MediaAsset.status == AssetStatus.PROCESSING)
                & (MediaAsset.job_heartbeat_at < now - stale_after),
                (MediaAsset.status == AssetStatus.UPLOADED) & (MediaAsset.updated_at < now - LOST_DISPATCH),
                (MediaAsset.status == AssetStatus.FAILED)
                & MediaAsset.error_retryable
                & (MediaAsset.attempts < AUTO_RETRIES)
                & (MediaAsset.updated_at < now - RETRY_DELAY),
            )
        )
    ).all()
    jobs: list[tuple[int, str]] = []
    for asset in stuck:
        counts["retried" if asset.status == AssetStatus.FAILED else "requeued"] += 1
        if asset.status == AssetStatus.PROCESSING:
            log.warning(
                "media %s: job %s stopped reporting; handing it to a new attempt", asset.id, asset.job_token
            )
        if asset.status != AssetStatus.UPLOADED or asset.job_token is None:
            asset.job_token = secrets.token_hex(8)  # the old attempt, should it wake, publishes nothing
        asset.status = AssetStatus.UPLOADED
        asset.job_heartbeat_at = None
        asset.updated_at = now
        jobs.append((asset.id, asset.job_token))
    expired = db.session.scalars(
        select(MediaUpload).where(MediaUpload.status == UploadStatus.UPLOADING, MediaUpload.expires_at < now)
    ).all()
    for upload in expired:
        try:
            store.abort_multipart(upload.key, upload.store_upload_id)
        except StorageError as error:
            log.warning("upload %s: abort failed, retrying later: %s", upload.id, error)
            continue
        upload.status = UploadStatus.ABORTED
        counts["aborted_uploads"] += 1
    db.session.commit()
    counts["aborted_orphans"] = _abort_untracked_uploads(store, now)
    for asset_id, token in jobs:
        try:
            enqueue(PROCESS_TASK, asset_id, token)
        except Exception:  # broker down: the next sweep finds the asset again
            log.exception("media %s: could not queue processing", asset_id)
    return counts
