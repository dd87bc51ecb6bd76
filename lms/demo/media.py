"""Demo lessons with real, processed media, so a fresh install has something to play.

The sources are made locally with ffmpeg's test sources (a moving test card, a phone-shaped portrait
clip) and speech-like audio (pink noise shaped to a voice's band and pulsed at a syllable rate). They go
through the same pipeline as a teacher's upload: stored as originals, validated, transcoded to HLS.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from lms.accounts.models import Organization, User
from lms.core.db import db
from lms.media.models import AssetKind, AssetStatus, MediaAsset
from lms.media.processing import process_asset
from lms.media.tasks import processing_config
from lms.settings import Settings

if TYPE_CHECKING:
    from media_pipeline import ObjectStore

COURSE_CODE = "DEMO-MEDIA-01"
SPEECH = "anoisesrc=color=pink:sample_rate=48000,highpass=f=200,lowpass=f=3400,tremolo=f=4:d=0.9,volume=3"


@dataclass(frozen=True)
class DemoClip:
    key: str
    title: str
    kind: AssetKind
    seconds: int
    video: str | None  # lavfi video source, or None for audio


CLIPS = (
    DemoClip(
        "demomedia01",
        "开班导学：如何在干部网络学院学习",
        AssetKind.VIDEO,
        30,
        "testsrc2=size=1280x720:rate=25",
    ),
    DemoClip("demomedia02", "党章学习要点（一）", AssetKind.VIDEO, 20, "smptehdbars=s=1280x720:r=25"),
    DemoClip("demomedia03", "基层治理案例（手机拍摄）", AssetKind.VIDEO, 15, "testsrc=size=720x1280:rate=30"),
    DemoClip("demomedia04", "理论微课：学思践悟（音频）", AssetKind.AUDIO, 20, None),
)


def _make_source(ffmpeg: str, clip: DemoClip, path: Path) -> None:
    audio = ["-f", "lavfi", "-i", SPEECH]
    if clip.video is None:
        args = [*audio, "-t", str(clip.seconds), "-c:a", "aac", "-b:a", "64k"]
    else:
        args = ["-f", "lavfi", "-i", clip.video, *audio, "-t", str(clip.seconds), "-c:v", "libx264"]
        args += ["-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"]
    argv = [ffmpeg, "-nostdin", "-loglevel", "error", "-y", *args, str(path)]
    subprocess.run(argv, check=True, timeout=300)  # noqa: S603 - our own arguments and temp path


def seed_demo_media(store: ObjectStore, settings: Settings, *, preset: str = "ultrafast") -> int:
    """Create, process and publish the demo media course (idempotent). Returns the lessons made."""
    from lms.catalog import services as catalog
    from lms.catalog.models import Course
    from lms.catalog.validation import clean_course_data

    if db.session.scalar(select(Course.id).where(Course.code == COURSE_CODE)) is not None:
        return 0
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return 0
    teacher = db.session.scalar(select(User).where(User.login_name == "teacher01"))
    admin = db.session.scalar(select(User).where(User.login_name == "sf_admin"))
    province = db.session.scalar(select(Organization).where(Organization.code == "SF"))
    if teacher is None or admin is None or province is None:
        return 0
    config = replace(processing_config(settings), preset=preset)
    lessons = []
    with tempfile.TemporaryDirectory(prefix="lms-demo-media-") as work:
        for clip in CLIPS:
            source = Path(work) / f"{clip.key}.{'m4a' if clip.video is None else 'mp4'}"
            _make_source(ffmpeg, clip, source)
            key = f"uploads/demo/{clip.key}/original{source.suffix}"
            store.upload_file(key, source)
            asset = MediaAsset(
                owner_id=teacher.id,
                org_id=teacher.org_id,
                kind=clip.kind,
                title=clip.title,
                status=AssetStatus.UPLOADED,
                source_key=key,
                source_size=source.stat().st_size,
                job_token=f"demo{clip.key}",
            )
            db.session.add(asset)
            db.session.commit()  # processing claims the row in its own transactions
            if process_asset(asset.id, str(asset.job_token), store=store, config=config) != "ready":
                continue
            lessons.append({"key": clip.key, "title": clip.title, "media_asset_id": asset.id})
    if not lessons:
        return 0
    data = clean_course_data(
        {
            "title": "干部网络学院学习导引（演示视频课）",
            "summary_html": "<p>演示如何观看视频课、微课和音频课：进度按实际观看计算，"
            "完成全部课时后计入学时。</p>",
            "kind": "video",
            "hours": "0.5",
            "tags": ["学习导引", "演示"],
            "lessons": lessons,
        }
    )
    course = catalog.create_course(
        actor=teacher, org=province, data=data, visibility_paths=[province.path], code=COURSE_CODE
    )
    catalog.submit_for_review(actor=teacher, course=course)
    catalog.approve(actor=admin, course=course)
    return len(lessons)
