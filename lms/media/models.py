"""Media assets (a lecture video, an audio lesson, a cover image) and the uploads that bring them in.

A teacher's browser uploads the original straight to the object store in parts (``MediaUpload``); on
completion it becomes a ``MediaAsset`` that a worker validates and transcodes. Each processing attempt
writes under its own prefix ``media/<asset id>/<job token>/``; only the attempt that still holds the
asset's ``job_token`` may publish its output, so a killed or superseded worker can never half-publish.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lms.core.db import TimestampMixin, UTCDateTime, db, intpk


class AssetKind(enum.StrEnum):
    VIDEO = "video"
    AUDIO = "audio"
    IMAGE = "image"  # a course cover


class AssetStatus(enum.StrEnum):
    UPLOADED = "uploaded"  # the original is stored; waiting for a worker
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"
    TAKEN_DOWN = "taken_down"  # an admin withdrew it; nothing is served


class UploadStatus(enum.StrEnum):
    UPLOADING = "uploading"
    COMPLETED = "completed"
    ABORTED = "aborted"


class MediaUpload(TimestampMixin, db.Model):
    """A resumable multipart upload of one original file, started and completed by the app."""

    __tablename__ = "media_uploads"

    id: Mapped[intpk]
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    kind: Mapped[AssetKind] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)  # declared by the browser; checked on completion
    part_size: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    store_upload_id: Mapped[str] = mapped_column(String(300))
    status: Mapped[UploadStatus] = mapped_column(String(16), default=UploadStatus.UPLOADING, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("media_assets.id", ondelete="SET NULL"))

    @property
    def part_count(self) -> int:
        return max(1, -(-self.size // self.part_size))


class MediaAsset(TimestampMixin, db.Model):
    __tablename__ = "media_assets"

    id: Mapped[intpk]
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    kind: Mapped[AssetKind] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[AssetStatus] = mapped_column(String(16), default=AssetStatus.UPLOADED, index=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)  # percent, while processing
    source_key: Mapped[str] = mapped_column(String(300))
    source_size: Mapped[int] = mapped_column(BigInteger, default=0)
    # Set once processed (ffprobe's duration is what completion and learning hours are measured against)
    duration_s: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    renditions: Mapped[list[str]] = mapped_column(JSON, default=list)
    output_prefix: Mapped[str | None] = mapped_column(String(300))  # media/<id>/<token>/ of the live output
    playlist_key: Mapped[str | None] = mapped_column(String(300))  # master playlist, or the cover image
    poster_key: Mapped[str | None] = mapped_column(String(300))
    sprite_key: Mapped[str | None] = mapped_column(String(300))
    sprite: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # tile geometry for a scrub preview
    # Processing bookkeeping: the attempt holding job_token owns the asset until it finishes.
    job_token: Mapped[str | None] = mapped_column(String(32))
    job_heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(40))
    error_detail: Mapped[str] = mapped_column(Text, default="")  # for logs and admins, not shown to teachers
    error_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # fill in the message shown
    error_retryable: Mapped[bool] = mapped_column(default=False)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    taken_down_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    taken_down_reason: Mapped[str] = mapped_column(String(200), default="")
